"""Audit: prove each event's history untampered and replay it to reproduce the stored state.

Five checks per event, each naming what is wrong:

1. **The chain.** History records are numbered 1…n without gaps, each carries the MAC of the one before, each
   MAC matches the record's canonical content under the audit key the record names (a key kept outside the
   database, :mod:`engine.audit.keys`), and the last MAC is the chain head stored with the event.
2. **The checkpoints.** Every signed checkpoint outside the database (:mod:`engine.audit.checkpoints`) that
   counted the event still holds: the history has at least that many records and the record at that position
   has the head the checkpoint saw — so even whoever holds the audit key cannot rewrite a history quietly once
   a checkpoint has seen it.
3. **The replay.** A fresh instance of the pinned process version is driven through the recorded inputs —
   the report's data, every completion's form data, under the recorded clock, with the recorded answers of the
   engine's functions (see :class:`engine.bpmn.runtime.Journal`) and task-id seeds (see :mod:`engine.bpmn.replay`) —
   and must pass through exactly the stored checkpoint of the workflow state (at the record it names) and
   end in the stored inbox.
4. **The facts.** The event's columns that evaluation counts (state, deadlines, on time, reworked, reassigned,
   reopened …) must equal what the replayed process says.
5. **The mirrors.** The rows that mirror the history must say what it says: each inbox row was offered by a
   record (step, role, scope, department, due time, when) and was claimed, completed (by whom, when) or
   cancelled as the records say; each timer row waited, fired (when, by whom) or was cancelled as the replay
   has it; each supervision sheet was issued, escalated, replied to and cleared (department, card, reason,
   reply, who, when) as its records say; the time lights are the last ones recorded.

:func:`verify_all` runs them over every event, a batch of events at a time (one query per table and batch),
and checks the admin log (:mod:`engine.audit.admin_log`) and the checkpoint files themselves.

The finished cases ``gridloop archive`` moved out of the database (:mod:`engine.commands.retention`) are
checked in their archive files (:func:`check_archives`): each file the admin log's ``archived`` records name
must be in the archive folder with the SHA-256 recorded for it, and each event in it passes the same five
checks, under the process versions the file holds, with the length and head the admin log recorded; a
checkpoint's claim on an archived event is held to its archived records (or, when the files are not at hand,
to the admin log's record of them).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import multiprocessing
import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Table, select
from sqlalchemy.orm import Session, undefer

from engine.audit import admin_log, anchors, checkpoints, history
from engine.audit.checkpoints import Claim
from engine.audit.keys import INSTANCE, AuditKeys, audit_keys
from engine.bpmn import replay as replay_records
from engine.bpmn import runtime
from engine.bpmn.definitions import build_bundle, content_hash
from engine.bpmn.scripting import RestrictedScriptEngine
from engine.bpmn.state import load_state
from engine.errors import GridloopError, NotDeployed, NotFound
from engine.reads import queries
from engine.store.models import (
    AdminLogEntry,
    Event,
    HistoryEntry,
    ProcessVersion,
    SupervisionSheet,
    Task,
    Timer,
    UTCDateTime,
)
from engine.time import timers

PARALLEL_FROM = 1000  # below this many events, starting worker processes costs more than it saves

if TYPE_CHECKING:
    from engine.app import Gridloop


@dataclass
class ReplayStep:
    """One history record as replayed: who did what, and the process's state after it."""

    seq: int
    at: datetime
    actor: str
    action: str
    step: str | None
    input: dict[str, Any]
    open_steps: list[str]
    data: dict[str, Any]
    completed: bool
    path: list[str] = field(default_factory=list)


@dataclass
class EventAudit:
    """The outcome of auditing one event."""

    event_id: int
    code: str | None
    reasons: list[str] = field(default_factory=list)
    steps: list[ReplayStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.reasons


def chain_problems(event: Any, entries: Sequence[Any], keys: AuditKeys | None = None) -> list[str]:
    """What is wrong with an event's chain (empty when intact): ``event`` and ``entries`` are models or any
    objects with their attributes (an archived case's, say); ``keys`` default to the process's audit keys."""
    keys = keys or audit_keys()
    problems = []
    previous: str | None = None
    for expected_seq, entry in enumerate(entries, start=1):
        if entry.seq != expected_seq:
            problems.append(f"history record {expected_seq} is missing (found seq {entry.seq} in its place)")
            break
        if entry.prev_hash != previous:
            problems.append(f"history record {entry.seq} does not link to the record before it")
        problem = keys.problem(getattr(entry, "key_id", None), history.entry_content(entry), entry.hash)
        if problem is not None:
            problems.append(f"history record {entry.seq} ({entry.action}) {problem}")
        previous = entry.hash
    if len(entries) != event.history_length:
        problems.append(
            f"the event counts {event.history_length} history records but {len(entries)} are stored"
        )
    if previous != event.history_head:
        problems.append("the last history record is not the chain head stored with the event")
    return problems


# ------------------------------------------------------------------ the rows that mirror the history

TASK_ACTIONS = ("claim", "unclaim", "complete", "light", "assigned", "delegated")
SHEET_ACTIONS = (
    "sheet_issued",
    "sheet_escalated",
    "sheet_carried",
    "sheet_replied",
    "sheet_appealed",
    "sheet_cleared",
)
TIMER_COLUMNS = ("bpmn_id", "due_at", "status", "created_at", "fired_at", "fired_by")
SHEET_COLUMNS = (
    "task_id",
    "department_code",
    "kind",
    "card",
    "reason",
    "status",
    "issued_at",
    "issued_by",
    "escalated_at",
    "reply",
    "replied_at",
    "replied_by",
    "cleared_at",
    "appeal_event_id",
)


@dataclass
class Mirrors:
    """An event's rows that mirror its history, as stored: inbox rows, timer rows, supervision sheets (rows of
    their tables, by id)."""

    tasks: list[Any] = field(default_factory=list)
    timers: list[Any] = field(default_factory=list)
    sheets: list[Any] = field(default_factory=list)


def load_mirrors(session: Session, event_ids: Sequence[int]) -> dict[int, Mirrors]:
    """The mirroring rows of ``event_ids``: one query per table."""
    found = {event_id: Mirrors() for event_id in event_ids}
    for model, kind in ((Task, "tasks"), (Timer, "timers"), (SupervisionSheet, "sheets")):
        table = cast(Table, model.__table__)
        query = select(table).where(table.c.event_id.in_(event_ids)).order_by(table.c.id)
        for row in session.execute(query):
            getattr(found[row.event_id], kind).append(row)
    return found


def _said(value: Any) -> str:
    return repr(value.isoformat()) if isinstance(value, datetime) else repr(value)


def _differs(what: str, column: str, stored: Any, expected: Any) -> str:
    return f"{what}: {column} is {_said(stored)} but the history says {_said(expected)}"


def _moment(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def _data(entry: Any) -> dict[str, Any]:
    return entry.data if isinstance(entry.data, dict) else {}


# the event's columns a report sets, and the field of the report (its first record's data) each comes from: what
# evaluation groups by (grid, category, channel, reporter) and the period a report counts in (reported_at)
REPORT_COLUMNS = {
    "grid_code": "grid",
    "category": "category",
    "channel": "channel",
    "description": "description",
    "placement": "placement",  # a report placed by its point: in a grid, or with the unit covering it (属地兜底)
    "dwelling_id": "dwelling",  # the ledger's household the report names
}


def _report_problems(event: Any, entries: Sequence[Any]) -> list[str]:
    """What in the event's report columns differs from its report record (none for an instance started rather
    than reported: its first record is ``start``)."""
    if not entries or entries[0].action != "report":
        return []
    first = entries[0]
    report = _data(first).get("report")
    if not isinstance(report, dict):
        return ["history record 1 (report) holds no report"]
    expected = {column: report.get(field) for column, field in REPORT_COLUMNS.items()}
    expected |= {"reporter": first.actor, "reported_at": first.at}
    return [
        _differs("the event", column, getattr(event, column), value)
        for column, value in expected.items()
        if getattr(event, column) != value
    ]


def _task_problems(entries: Sequence[Any], rows: Sequence[Any]) -> list[str]:
    """The inbox rows against the records: each row offered by a record (the records' ``offered`` lists, in
    the order the rows were created), then claimed, given back, completed — or cancelled by a later step of
    the process — and coloured by the time lights, as the records naming it say."""
    problems: list[str] = []
    offers: list[tuple[Any, dict[str, Any]]] = []
    moves: list[Any] = []
    expected: dict[int, dict[str, Any]] = {}
    renamed: dict[int, str] = {}  # rows a migration moved to a renamed step's new id
    rescoped: dict[int, str] = {}  # rows a re-division of the grids moved to an ended grid's successor
    for entry in entries:
        data = _data(entry)
        if entry.action == "rescoped":
            rescoped.update({int(row_id): scope for row_id, scope in (data.get("rows") or {}).items()})
        if entry.action in replay_records.WORKFLOW_ACTIONS:
            moves.append(entry)
            offers.extend((entry, offer) for offer in data.get("offered") or ())
            renamed.update({int(row_id): step for row_id, step in (data.get("renamed") or {}).items()})
        if entry.task_id is None or entry.action not in TASK_ACTIONS:
            continue
        state = expected.setdefault(
            entry.task_id,
            {"assignee": None, "claimed_at": None, "light": None, "completion": None, "first": entry},
        )
        if entry.action == "claim":
            state["assignee"], state["claimed_at"] = entry.actor, entry.at
        elif entry.action == "unclaim":
            state["assignee"], state["claimed_at"] = None, None
        elif entry.action in ("assigned", "delegated"):  # handed to data["to"] (engine.commands.assignment)
            state["assignee"], state["claimed_at"] = data.get("to"), entry.at
        elif entry.action == "complete":
            state["completion"] = entry
            state["assignee"] = state["assignee"] or entry.actor
        else:
            state["light"] = data.get("to")
    if len(offers) != len(rows):
        problems.append(f"the history offers {len(offers)} inbox rows but {len(rows)} are stored")
    origins = dict(zip((r.id for r in rows), offers, strict=True)) if len(offers) == len(rows) else {}
    blank = {"assignee": None, "claimed_at": None, "light": None, "completion": None}
    for row in rows:
        what = f"task {row.id}"
        origin = origins.get(row.id)
        want: dict[str, Any] = {}
        if origin is not None:
            offering, offer = origin
            want.update(
                bpmn_id=renamed.get(row.id, offer.get("step")),
                role=offer.get("role"),
                scope_code=rescoped.get(row.id, offer.get("scope")),
                department_code=offer.get("department"),
                due_at=_moment(offer.get("due_at")),
                created_at=offering.at,
            )
        state = expected.get(row.id, blank)
        want.update(assignee=state["assignee"], claimed_at=state["claimed_at"], light=state["light"])
        completion = state["completion"]
        if completion is not None:
            want.update(status="completed", completed_at=completion.at, completed_by=completion.actor)
            if completion.bpmn_id != row.bpmn_id:
                problems.append(
                    f"history record {completion.seq} completes {what} at step {completion.bpmn_id!r},"
                    f" but the task is of step {row.bpmn_id!r}"
                )
        elif row.status == "open":
            want.update(completed_at=None, completed_by=None)
        elif row.status == "cancelled":
            want.update(completed_by=None)
            after = origin[0].seq if origin is not None else 0
            if not any(m.seq > after and m.at == row.completed_at for m in moves):
                problems.append(
                    f"{what}: cancelled at {_said(row.completed_at)}, when the history records no step of the"
                    " process that could have cancelled it"
                )
        elif row.status == "completed":
            problems.append(f"{what}: status is 'completed' but the history records no completion of it")
        else:
            problems.append(f"{what}: status is {row.status!r}, which no command writes")
        problems.extend(
            _differs(what, column, getattr(row, column), value)
            for column, value in want.items()
            if getattr(row, column) != value
        )
    stored = {r.id for r in rows}
    for task_id, state in expected.items():
        if task_id not in stored:
            first = state["first"]
            problems.append(
                f"history record {first.seq} ({first.action}) names task {task_id}, which is not an inbox row"
                " of this event"
            )
    return problems


def _sheet_problems(entries: Sequence[Any], rows: Sequence[Any]) -> list[str]:
    """The supervision sheets against the records of their issue, escalations, reply and clearing."""
    problems: list[str] = []
    expected: dict[Any, dict[str, Any]] = {}
    issued: dict[Any, Any] = {}
    for entry in entries:
        if entry.action not in SHEET_ACTIONS:
            continue
        data = _data(entry)
        sheet_id = data.get("sheet")
        want = expected.get(sheet_id)
        if entry.action == "sheet_issued":
            issued[sheet_id] = entry
            want = expected[sheet_id] = {
                "task_id": entry.task_id,
                "status": "open",
                "issued_at": entry.at,
                "issued_by": entry.actor,
                "escalated_at": None,
                "replied_at": None,
                "replied_by": None,
                "cleared_at": None,
                "appeal_event_id": None,
            }
        elif want is None:
            problems.append(
                f"history record {entry.seq} ({entry.action}) is about sheet {sheet_id}, which the history"
                " never issued"
            )
            continue
        elif entry.action == "sheet_escalated":
            want["escalated_at"] = entry.at
        elif entry.action == "sheet_carried":
            want["task_id"] = entry.task_id
        elif entry.action == "sheet_replied":
            want["replied_at"], want["replied_by"] = entry.at, entry.actor
        elif entry.action == "sheet_appealed":
            want["appeal_event_id"] = data.get("appeal")
        else:
            want["status"], want["cleared_at"] = "cleared", entry.at
        want.update(
            department_code=data.get("department"),
            kind=data.get("kind"),
            card=data.get("card"),
            reason=data.get("reason"),
            reply=data.get("reply"),
        )
        if "due" in data:  # the records name it since the reply deadlines (older ones do not)
            want["due_reference"] = _moment(data["due"])
    for row in rows:
        want = expected.get(row.id)
        if want is None:
            problems.append(f"sheet {row.id}: the history of its event records no issue of it")
            continue
        problems.extend(
            _differs(f"sheet {row.id}", column, getattr(row, column), want[column])
            for column in (*SHEET_COLUMNS, *(("due_reference",) if "due_reference" in want else ()))
            if getattr(row, column) != want[column]
        )
    stored = {r.id for r in rows}
    for sheet_id, entry in issued.items():
        if sheet_id not in stored:
            problems.append(
                f"history record {entry.seq} (sheet_issued) issued sheet {sheet_id}, which is not stored with"
                " this event"
            )
    return problems


def _light_problems(event: Any, entries: Sequence[Any]) -> list[str]:
    """The case's time light against the last colour change recorded for it."""
    recorded = None
    for entry in entries:
        if entry.action == "light" and _data(entry).get("task") is None:
            recorded = _data(entry).get("to")
    return [] if event.light == recorded else [_differs("the event", "light", event.light, recorded)]


class TimerLedger:
    """The timer rows an event's history implies, kept while the history is replayed: after each record that
    moved the instance, what the pipeline's sync of the timers table (:func:`engine.time.timers.sync`) did —
    timers that began to wait were added, moved ones moved, and those gone fired (by the firing command, when
    past due) or were cancelled."""

    def __init__(self) -> None:
        self.timers: dict[str, dict[str, Any]] = {}
        self._pending: set[str] = set()

    def after(self, entry: Any, workflow: BpmnWorkflow | None) -> None:
        """Follow the instance after ``entry`` was replayed."""
        if workflow is None or entry.action not in replay_records.WORKFLOW_ACTIONS:
            return
        waiting = {t.spiff_task_id: t for t in timers.waiting(workflow)}
        for spiff_id, timer in waiting.items():
            if spiff_id not in self._pending:
                self._pending.add(spiff_id)
                self.timers[spiff_id] = {
                    "bpmn_id": timer.bpmn_id,
                    "due_at": timer.due_at,
                    "status": "pending",
                    "created_at": entry.at,
                    "fired_at": None,
                    "fired_by": None,
                }
            else:
                self.timers[spiff_id]["due_at"] = timer.due_at
        fired_by = _data(entry).get("fired_by") if entry.action == "timer" else None
        for spiff_id in sorted(self._pending - waiting.keys()):
            self._pending.discard(spiff_id)
            gone = self.timers[spiff_id]
            if fired_by is not None and gone["due_at"] < entry.at:
                gone.update(status="fired", fired_at=entry.at, fired_by=fired_by)
            else:
                gone["status"] = "cancelled"

    def problems(self, rows: Sequence[Any]) -> list[str]:
        """The timer rows against the ledger."""
        problems = []
        stored = {r.spiff_task_id for r in rows}
        for row in rows:
            want = self.timers.get(row.spiff_task_id)
            if want is None:
                problems.append(f"timer {row.id} ({row.bpmn_id}): the history never has this timer wait")
                continue
            problems.extend(
                _differs(f"timer {row.id}", column, getattr(row, column), want[column])
                for column in TIMER_COLUMNS
                if getattr(row, column) != want[column]
            )
        for spiff_id, want in self.timers.items():
            if spiff_id not in stored:
                problems.append(
                    f"the history has timer {want['bpmn_id']!r} wait from {_said(want['created_at'])},"
                    " but no timer row holds it"
                )
        return problems


def fingerprint(workflow: BpmnWorkflow) -> str:
    """A digest of an instance's task tree (specs, states, data) independent of its random task ids."""
    tree = [[task.task_spec.name, task.state, task.data] for task in workflow.get_tasks()]
    return hashlib.sha256(history.canonical([tree, workflow.data]).encode()).hexdigest()


def _path(workflow: BpmnWorkflow) -> list[str]:
    """The diagram elements the instance has passed through so far (for highlighting the path taken)."""
    return list(
        dict.fromkeys(
            t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id
        )
    )


def _open_steps(workflow: BpmnWorkflow) -> list[str]:
    return sorted(t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY, manual=True))


RuntimeFor = replay_records.RuntimeFor


def replay(
    runtime_for: RuntimeFor,
    entries: list[HistoryEntry],
    keep_steps: bool = False,
    at_seq: int = 0,
    ledger: TimerLedger | None = None,
) -> tuple[BpmnWorkflow, list[ReplayStep], str | None]:
    """Re-run an event's recorded inputs on a fresh instance of the version it started on (and of every version
    it was migrated to, from the migration on); raise when the record cannot be followed. Also returns the
    fingerprint of the instance as it stood after record ``at_seq`` (None when no record has that number), and
    keeps ``ledger`` of the timers along."""
    steps: list[ReplayStep] = []
    at_checkpoint: list[str] = []

    def after(entry: HistoryEntry, workflow: BpmnWorkflow | None) -> None:
        if workflow is None:
            return
        if ledger is not None:
            ledger.after(entry, workflow)
        if entry.seq == at_seq:
            at_checkpoint.append(fingerprint(workflow))
        if keep_steps:
            steps.append(
                ReplayStep(
                    seq=entry.seq,
                    at=entry.at,
                    actor=entry.actor,
                    action=entry.action,
                    step=entry.bpmn_id,
                    input=entry.data.get("form") or entry.data.get("report") or entry.data.get("start") or {},
                    open_steps=_open_steps(workflow),
                    data=dict(runtime.current_data(workflow)),
                    completed=workflow.is_completed(),
                    path=_path(workflow),
                )
            )

    workflow = replay_records.play(entries, runtime_for, after=after)
    if workflow is None:
        raise runtime.ReplayDivergence("the history holds no report")
    return workflow, steps, at_checkpoint[0] if at_checkpoint else None


def _checkpoint_problems(event: Event, at_checkpoint: str | None, runtime_for: RuntimeFor) -> list[str]:
    """What is wrong with the stored checkpoint: it must be the instance exactly as the replay had it after
    record ``state_seq`` (and there is none before the first checkpoint is written)."""
    if event.state_seq == 0:
        return (
            []
            if not event.workflow_state
            else ["a workflow state is stored but no record is named as its point"]
        )
    if at_checkpoint is None:
        return [f"the stored workflow state is named as of record {event.state_seq}, which the history lacks"]
    try:
        bundle, _engine = runtime_for(event.process_version_id)
        stored = load_state(event.workflow_state, bundle.spec, bundle.subprocess_specs)
    except Exception as exc:  # any damage to the stored JSON is a finding, not a crash
        return [f"the stored workflow state cannot be read: {exc}"]
    if fingerprint(stored) != at_checkpoint:
        return ["the stored workflow state differs from the replay of the history"]
    return []


def audit_event(
    event: Event,
    entries: list[HistoryEntry],
    mirrors: Mirrors,
    runtime_for: RuntimeFor,
    keys: AuditKeys,
    claim: Claim | None = None,
    keep_steps: bool = False,
) -> EventAudit:
    """Check one event: its chain (under ``keys``) and the checkpoints' longest ``claim`` on it, its replay
    against the stored state, inbox and timers, its counted facts, and the rows that mirror its history."""
    result = EventAudit(event.id, event.code)
    result.reasons.extend(chain_problems(event, entries, keys))
    macs = {entry.seq: entry.hash for entry in entries}
    result.reasons.extend(checkpoints.claim_problems(claim, macs, len(entries), "history records"))
    result.reasons.extend(_report_problems(event, entries))
    result.reasons.extend(_task_problems(entries, mirrors.tasks))
    result.reasons.extend(_sheet_problems(entries, mirrors.sheets))
    result.reasons.extend(_light_problems(event, entries))
    ledger = TimerLedger()
    try:
        replayed, result.steps, at_checkpoint = replay(
            runtime_for, entries, keep_steps, event.state_seq, ledger
        )
    except (runtime.ReplayDivergence, GridloopError) as exc:
        result.reasons.append(f"the history cannot be replayed: {exc}")
        return result
    result.reasons.extend(_checkpoint_problems(event, at_checkpoint, runtime_for))
    facts = runtime.event_facts(replayed, runtime.current_data(replayed))
    for column, value in facts.items():
        if getattr(event, column) != value:
            result.reasons.append(f"{column} is {getattr(event, column)!r} but the history says {value!r}")
    stored_open = Counter(t.bpmn_id for t in mirrors.tasks if t.status == "open")
    replay_open = Counter(_open_steps(replayed))
    if stored_open != replay_open:
        result.reasons.append(
            f"the open tasks are {sorted(stored_open.elements())} but the history says {sorted(replay_open.elements())}"
        )
    result.reasons.extend(ledger.problems(mirrors.timers))
    return result


def _batches(session: Any, event_ids: list[int], size: int = 200) -> Iterator[list[int]]:
    for start in range(0, len(event_ids), size):
        yield event_ids[start : start + size]


def audit_events(
    gl: Gridloop,
    event_ids: list[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    claims: Mapping[int, Claim] | None = None,
) -> list[EventAudit]:
    """Audit the given events (all when None), loading history and the mirroring rows in batches (one query per
    table and batch); ``claims`` are the checkpoints' claims by event; ``progress(done, total)`` is told along."""
    results: list[EventAudit] = []
    keys = gl.parts.audit_keys
    claims = claims or {}
    with gl.db.reading() as session:
        ids = (
            event_ids if event_ids is not None else list(session.scalars(select(Event.id).order_by(Event.id)))
        )
        total = len(ids)
        for batch in _batches(session, ids):
            events = {
                e.id: e
                for e in session.scalars(
                    select(Event)
                    .where(Event.id.in_(batch))
                    .options(
                        undefer(Event.workflow_state)
                    )  # every audit reads it: one query, not one per event
                    .execution_options(populate_existing=True)
                )
            }
            by_event: dict[int, list[HistoryEntry]] = {i: [] for i in batch}
            for entry in session.scalars(
                select(HistoryEntry)
                .where(HistoryEntry.event_id.in_(batch))
                .order_by(HistoryEntry.event_id, HistoryEntry.seq)
            ):
                by_event[entry.event_id].append(entry)
            mirrors = load_mirrors(session, batch)
            for event_id in batch:
                event = events.get(event_id)
                if event is None:
                    continue
                results.append(
                    audit_event(
                        event,
                        by_event[event_id],
                        mirrors[event_id],
                        gl.runtime_for(session),
                        keys,
                        claims.get(event_id),
                    )
                )
                if progress is not None:
                    progress(len(results), total)
    return results


Outcome = tuple[int, str | None, list[str]]


def _audit_chunk(job: tuple[str, AuditKeys, list[int], dict[int, Claim]]) -> list[Outcome]:
    """Worker-process entry: audit a chunk of events on a fresh engine of the same database, with the same keys."""
    from engine.app import Gridloop

    url, keys, event_ids, claims = job
    gl = Gridloop(url, audit_keys=keys)
    try:
        return [(r.event_id, r.code, r.reasons) for r in audit_events(gl, event_ids, claims=claims)]
    finally:
        gl.db.dispose()


def _parallel(
    gl: Gridloop,
    ids: list[int],
    workers: int,
    progress: Callable[[int, int], None] | None,
    claims: Mapping[int, Claim],
) -> list[Outcome]:
    chunk = max(50, min(500, len(ids) // (workers * 4) or 1))
    keys = gl.parts.audit_keys
    jobs = []
    for i in range(0, len(ids), chunk):
        part = ids[i : i + chunk]
        jobs.append((gl.db.url, keys, part, {e: claims[e] for e in part if e in claims}))
    done: list[Outcome] = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for outcome in pool.map(_audit_chunk, jobs):
            done.extend(outcome)
            if progress is not None:
                progress(len(done), len(ids))
    return done


# ------------------------------------------------------------------ archives of finished cases

ARCHIVE_FORMAT = "gridloop-archive/1"
ARCHIVE_DIR_ENV = "GRIDLOOP_ARCHIVE_DIR"
ARCHIVE_GLOB = "archive-*.jsonl.gz"


def default_archive_dir(instance: Path = INSTANCE) -> Path:
    """``GRIDLOOP_ARCHIVE_DIR``, else ``<instance>/archive``: where ``gridloop archive`` writes the archive files
    (:mod:`engine.commands.retention`) and ``gridloop audit verify`` looks for them."""
    configured = os.environ.get(ARCHIVE_DIR_ENV)
    return Path(configured) if configured else instance / "archive"


def archived_value(value: Any) -> Any:
    """A column's value as an archive file holds it: times as ISO 8601 strings, bytes in base64."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def restored_row(table: Table, values: Mapping[str, Any]) -> SimpleNamespace:
    """A row of ``table`` from an archive file, as the audit reads rows: its times aware datetimes again."""
    row = dict(values)
    for column in table.columns:
        value = row.get(column.name)
        if isinstance(value, str) and isinstance(column.type, UTCDateTime):
            row[column.name] = datetime.fromisoformat(value)
    return SimpleNamespace(**row)


@dataclass
class ArchiveRecord:
    """An ``archived`` admin-log record: the file, its SHA-256 and each event's history length and head."""

    log_id: int
    file: str
    sha256: str
    events: dict[int, tuple[int, str | None]]


def archive_records(session: Session) -> list[ArchiveRecord]:
    """Every archive run's record in the admin log, in order."""
    found = []
    for entry in session.scalars(
        select(AdminLogEntry).where(AdminLogEntry.action == "archived").order_by(AdminLogEntry.id)
    ):
        data = entry.data if isinstance(entry.data, dict) else {}
        events = {int(e[0]): (int(e[1]), e[2]) for e in data.get("events") or ()}
        found.append(ArchiveRecord(entry.id, str(data.get("file")), str(data.get("sha256")), events))
    return found


def _archived_runtime(gl: Gridloop, versions: list[dict[str, Any]]) -> tuple[RuntimeFor, list[str]]:
    """Version id → (bundle, script engine) from the versions an archive file holds (the live database's parse
    when it holds the same version), and what is wrong with them (files that are not their content hash's)."""
    problems: list[str] = []
    ready: dict[int, tuple[Any, RestrictedScriptEngine]] = {}
    with gl.db.reading() as session:
        for version in versions:
            version_id, files = int(version["id"]), dict(version["files"])
            if content_hash(files) != version["content_hash"]:
                problems.append(f"process version {version_id}: its files are not those of its content hash")
                continue
            live = session.get(ProcessVersion, version_id)
            if live is not None and live.content_hash == version["content_hash"]:
                deployed = gl.parts.versions.get(session, version_id)
                ready[version_id] = (deployed.bundle, deployed.engine)
                continue
            functions = runtime.script_functions(gl.parts.settings.calendar(), gl.parts.org)
            ready[version_id] = (
                build_bundle(files, version["process_id"]),
                RestrictedScriptEngine(functions),
            )

    def runtime_for(version_id: int) -> tuple[Any, RestrictedScriptEngine]:
        if version_id not in ready:
            raise NotDeployed(
                "process version {version} does not exist", code="version.not_deployed", version=version_id
            )
        return ready[version_id]

    return runtime_for, problems


class _Damaged(Exception):
    pass


def _archived_event(
    line: dict[str, Any],
    record: ArchiveRecord,
    runtime_for: RuntimeFor,
    keys: AuditKeys,
    claims: Mapping[int, Claim],
) -> tuple[EventAudit, tuple[int, str | None]]:
    """Audit one archived event as a live one is audited (chain, checkpoint claims, replay, facts, mirrors), and
    hold its chain to the length and head the admin log recorded when it was archived."""
    event = restored_row(cast(Table, Event.__table__), line["event"])
    entries = [restored_row(cast(Table, HistoryEntry.__table__), r) for r in line["history"]]
    mirrors = Mirrors(
        [restored_row(cast(Table, Task.__table__), r) for r in line["tasks"]],
        [restored_row(cast(Table, Timer.__table__), r) for r in line["timers"]],
        [restored_row(cast(Table, SupervisionSheet.__table__), r) for r in line["sheets"]],
    )
    result = audit_event(
        cast(Event, event),
        cast(list[HistoryEntry], entries),
        mirrors,
        runtime_for,
        keys,
        claims.get(event.id),
    )
    logged = record.events.get(event.id)
    if logged is None:
        result.reasons.append(f"admin log record {record.log_id} does not name it among the archived events")
    elif (event.history_length, event.history_head) != logged:
        result.reasons.append(
            f"admin log record {record.log_id} archived it with {logged[0]} history records and head"
            f" {checkpoints.short(logged[1])}, the file holds {event.history_length} and"
            f" {checkpoints.short(event.history_head)}"
        )
    return result, (event.history_length, event.history_head)


def audit_archive(
    gl: Gridloop, path: Path, record: ArchiveRecord, claims: Mapping[int, Claim]
) -> tuple[list[EventAudit], list[str]]:
    """Check one archive file that ``record`` names and whose SHA-256 is the record's: its header and body, every
    archived event as :func:`_archived_event` does, under the process versions the file holds, and its
    attachments' bytes against their digests. Returns the events' audits and the file's own problems."""
    audits: list[EventAudit] = []
    problems: list[str] = []
    body = hashlib.sha256()
    header: dict[str, Any] | None = None
    versions: list[dict[str, Any]] = []
    runtime_for: RuntimeFor | None = None
    counted: Counter[str] = Counter()
    used: set[str] = set()
    held: set[str] = set()
    try:
        with gzip.open(path, "rb") as handle:
            for raw in handle:
                if header is None:
                    header = json.loads(raw)
                    if not isinstance(header, dict) or header.get("format") != ARCHIVE_FORMAT:
                        raise _Damaged(f"it is not a {ARCHIVE_FORMAT} file")
                    continue
                body.update(raw)
                line = json.loads(raw)
                kind = line.get("kind")
                if kind == "version":
                    versions.append(line)
                    counted["versions"] += 1
                elif kind == "event":
                    if runtime_for is None:
                        runtime_for, version_problems = _archived_runtime(gl, versions)
                        problems.extend(version_problems)
                    audit, _ = _archived_event(line, record, runtime_for, gl.parts.audit_keys, claims)
                    audits.append(audit)
                    used.update(line["attachments"])
                    counted["events"] += 1
                    for part in ("history", "tasks", "timers", "sheets"):
                        counted["records" if part == "history" else part] += len(line[part])
                elif kind == "attachment":
                    counted["attachments"] += 1
                    held.add(line["id"])
                    content = base64.b64decode(line["content"])
                    if hashlib.sha256(content).hexdigest() != line["sha256"] or len(content) != line["size"]:
                        problems.append(
                            f"attachment {line['id']}: its bytes are not those of its SHA-256 and size"
                        )
                else:
                    raise _Damaged(f"it holds a line of unknown kind {kind!r}")
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError, AttributeError) as exc:
        return audits, [f"it cannot be read: {exc}"]
    except _Damaged as exc:
        return audits, [f"it cannot be read: {exc}"]
    if header is None:
        return audits, ["it is empty"]
    if header.get("body_sha256") != body.hexdigest():
        problems.append("its body is not the one its header's SHA-256 names")
    problems.extend(
        f"its header counts {header.get(name)} {name}, it holds {counted[name]}"
        for name in ("events", "records", "tasks", "timers", "sheets", "attachments", "versions")
        if header.get(name) != counted[name]
    )
    problems.extend(f"attachment {a} is used by an archived event but not held" for a in sorted(used - held))
    found = {audit.event_id for audit in audits}
    problems.extend(
        f"event {event_id} is archived here by admin log record {record.log_id}, but the file does not hold it"
        for event_id in sorted(record.events.keys() - found)
    )
    return audits, problems


@dataclass
class ArchiveFindings:
    """What checking the archive folder found: the archived events' audits, the problems of the files, and the
    archived events whose records were at hand (their checkpoint claims were checked against them)."""

    audits: list[tuple[str, EventAudit]] = field(default_factory=list)  # (file, audit)
    problems: list[str] = field(default_factory=list)
    checked: set[int] = field(default_factory=set)


def check_archives(
    gl: Gridloop, folder: Path, records: Sequence[ArchiveRecord], claims: Mapping[int, Claim]
) -> ArchiveFindings:
    """Check the archive files of ``folder`` against the admin log's ``records``: every file a record names is
    there with the SHA-256 it names (else it was changed, swapped or deleted) and passes :func:`audit_archive`;
    a file no record names is named too (a run that failed before committing left it, or it is another
    database's)."""
    findings = ArchiveFindings()
    named = {record.file for record in records}
    present = sorted(folder.glob(ARCHIVE_GLOB)) if folder.is_dir() else []
    findings.problems.extend(
        f"archive {path.name} in {folder} is named by no admin log record: a run that failed before it"
        " committed left it (its events are still in the database), or it is another database's — move it away"
        for path in present
        if path.name not in named
    )
    for record in records:
        path = folder / record.file
        if not path.is_file():
            findings.problems.append(
                f"archive {record.file}, written by admin log record {record.log_id} with"
                f" {len(record.events)} events, is missing from {folder}"
            )
            continue
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if digest != record.sha256:
            findings.problems.append(
                f"archive {record.file}: its SHA-256 is {checkpoints.short(digest)}, but admin log record"
                f" {record.log_id} wrote {checkpoints.short(record.sha256)}: the file was changed or swapped"
            )
            continue
        audits, problems = audit_archive(gl, path, record, claims)
        findings.audits.extend((record.file, audit) for audit in audits)
        findings.problems.extend(f"archive {record.file}: {problem}" for problem in problems)
        findings.checked.update(audit.event_id for audit in audits)
    return findings


def _archived_claim_problem(event_id: int, claim: Claim, records: Sequence[ArchiveRecord]) -> str | None:
    """For an event gone from the database whose archive file was not at hand: the checkpoint's claim holds when
    an ``archived`` record took at least the claimed records — with the claimed head when it took exactly as
    many (None: the claim holds; no record archived the event: the event is gone)."""
    length, head, checkpoint = claim
    for record in records:
        logged = record.events.get(event_id)
        if logged is None:
            continue
        if logged[0] < length or (logged[0] == length and logged[1] != head):
            return (
                f"admin log record {record.log_id} archived it with {logged[0]} history records (head"
                f" {checkpoints.short(logged[1])}), but checkpoint {checkpoint} counted {length}"
                f" (head {checkpoints.short(head)})"
            )
        return None
    return f"the event is gone from the database, but checkpoint {checkpoint} counted {length} history records of it"


def verify_all(
    gl: Gridloop,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    parallel_from: int = PARALLEL_FROM,
    checkpoint_dir: Path | None = None,
    public_key: Ed25519PublicKey | None = None,
    archive_dir: Path | None = None,
    incremental: bool = False,
    anchor: bool = False,
) -> dict[str, Any]:
    """Audit every event: ``{"instances": n, "verified": n, "mismatches": [{"event", "code", "reason"}]}``.

    Replays are CPU-bound, so large databases are audited by ``workers`` processes (default: one per core).
    Every checkpoint in ``checkpoint_dir`` (default: the engine's checkpoint directory) is checked with
    ``public_key`` (default: the public half of the engine's checkpoint key, when there is one) and its claims
    on the events and the admin log with them. Problems of the admin log are listed with ``"event": None`` and
    code ``admin_log``, problems of the checkpoint files with ``"event": None`` and code ``checkpoint``; an event
    a checkpoint counted that is gone from the database with its id and no code.

    The events archived by ``gridloop archive`` (the admin log's ``archived`` records) are checked in their
    archive files in ``archive_dir`` (default: :func:`default_archive_dir`, when it exists) by
    :func:`check_archives` — counted among the instances, their reasons beginning ``archived in <file>:``,
    the files' own problems under code ``archive`` — and then the result also says how many ``archives``
    the admin log names. Without the folder, a checkpoint's claim on an archived event holds when the admin
    log's record of it took at least the claimed records.

    ``incremental``: the events the newest verified anchor in the checkpoint directory holds unchanged are not
    replayed (:mod:`engine.audit.anchors`; the result says ``unchanged``: how many, and the ``anchor`` used);
    ``anchor``: when the run passes for some events, an anchor of them is written (signed with the engine's
    checkpoint key; the result names it as ``anchored``).
    """
    directory = checkpoint_dir if checkpoint_dir is not None else gl.parts.checkpoints.directory
    key = public_key if public_key is not None else gl.parts.checkpoints.public_key()
    claims = checkpoints.read(directory, key)
    base = anchors.newest(directory, key) if incremental else anchors.Anchor()
    for event_id, (length, head, _) in base.events.items():
        claims.hold(event_id, length, head, cast(str, base.name))
    with gl.db.reading() as session:
        chains = {
            i: (n, h)
            for i, n, h in session.execute(
                select(Event.id, Event.history_length, Event.history_head).order_by(Event.id)
            )
        }
        ids = list(chains)
        seen = anchors.digests(session, ids) if incremental or anchor else {}
        archives = archive_records(session)
    held = {i for i in ids if base.events.get(i) == (*chains[i], seen.get(i))}
    ids = [i for i in ids if i not in held]
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers > 1 and len(ids) >= parallel_from:
        outcomes = _parallel(gl, ids, workers, progress, claims.events)
    else:
        outcomes = [(r.event_id, r.code, r.reasons) for r in audit_events(gl, ids, progress, claims.events)]
    mismatches: list[dict[str, Any]] = [
        {"event": event_id, "code": code, "reason": reason}
        for event_id, code, reasons in outcomes
        for reason in reasons
    ]
    folder = (archive_dir if archive_dir is not None else default_archive_dir()).resolve()
    archived = ArchiveFindings()
    if archive_dir is not None or folder.is_dir():
        archived = check_archives(gl, folder, archives, claims.events)
        outcomes += [(a.event_id, a.code, a.reasons) for _, a in archived.audits]
        mismatches += [
            {"event": a.event_id, "code": a.code, "reason": f"archived in {file}: {reason}"}
            for file, a in archived.audits
            for reason in a.reasons
        ]
    present = set(chains)
    for event_id, claim in sorted(claims.events.items()):
        if event_id in present or event_id in archived.checked:
            continue
        problem = _archived_claim_problem(event_id, claim, archives)
        if problem is not None:
            mismatches.append({"event": event_id, "code": None, "reason": problem})
    with gl.db.reading() as session:
        mismatches += [
            {"event": None, "code": "admin_log", "reason": p}
            for p in admin_log.problems(session, gl.parts.audit_keys, claims.admin_log)
        ]
    mismatches += [{"event": None, "code": "checkpoint", "reason": p} for p in claims.problems]
    mismatches += [{"event": None, "code": "anchor", "reason": p} for p in base.problems]
    mismatches += [{"event": None, "code": "archive", "reason": p} for p in archived.problems]
    verified = sum(1 for _, _, reasons in outcomes if not reasons) + len(held)
    result: dict[str, Any] = {
        "instances": len(outcomes) + len(held),
        "verified": verified,
        "mismatches": mismatches,
    }
    if incremental:
        result |= {"unchanged": len(held), "anchor": base.name}
    if archives:
        result["archives"] = len(archives)
    sound = {event_id for event_id, _, reasons in outcomes if not reasons and event_id in chains} | held
    if anchor and sound:
        anchored = {i: (*chains[i], seen[i]) for i in sound}
        path = anchors.write(directory, gl.parts.checkpoints.signing_key(), gl.now(), anchored, not held)
        result["anchored"] = path.name
    return result


def replay_event(gl: Gridloop, event_id: int, username: str | None = None) -> EventAudit:
    """Audit one event keeping every replayed step (for ``gridloop audit replay`` and the audit pages).

    With ``username``, the event must lie in that user's scope (:class:`~engine.errors.NotFound` otherwise);
    without it (the command line, run by an operator), any event.
    """
    with gl.db.reading() as session:
        found: Event | None
        if username is not None:
            found = queries.visible_event(session, gl.actor(session, username), event_id)
        else:
            found = session.get(Event, event_id)
        if found is None:
            raise NotFound("no event {event}", code="event.not_found", event=event_id)
        return replay_of(session, found, gl.runtime_for(session), gl.parts.audit_keys)


def replay_of(
    session: Session, event: Event, runtime_for: RuntimeFor, keys: AuditKeys | None = None
) -> EventAudit:
    """Audit one event found already (in scope, when a user asks) keeping every replayed step, reading its
    history and mirroring rows through ``session``; ``keys`` default to the process's audit keys."""
    entries = history.entries(session, event.id)
    mirrors = load_mirrors(session, [event.id])[event.id]
    return audit_event(event, entries, mirrors, runtime_for, keys or audit_keys(), keep_steps=True)
