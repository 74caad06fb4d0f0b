"""Audit: prove each event's history untampered and replay it to reproduce the stored state.

Three checks per event, each naming what is wrong:

1. **The chain.** History records are numbered 1…n without gaps, each carries the hash of the one before, each
   hash matches the record's canonical content, and the last hash is the chain head stored with the event.
2. **The replay.** A fresh instance of the pinned process version is driven through the recorded inputs —
   the report's data, every completion's form data, under the recorded clock, with the recorded answers of the
   engine's functions (see :class:`engine.bpmn.runtime.Journal`) and task-id seeds (see :mod:`engine.bpmn.replay`) —
   and must pass through exactly the stored checkpoint of the workflow state (at the record it names) and
   end in the stored inbox.
3. **The facts.** The event's columns that evaluation counts (state, deadlines, on time, reworked, reassigned,
   reopened …) must equal what the replayed process says.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from engine import settings
from engine.audit import history
from engine.bpmn import replay as replay_records
from engine.bpmn import runtime
from engine.bpmn.state import load_state
from engine.errors import GridloopError, NotFound
from engine.reads import queries
from engine.store.models import Event, HistoryEntry, Task

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


def chain_problems(event: Event, entries: list[HistoryEntry]) -> list[str]:
    """What is wrong with an event's hash chain (empty when intact)."""
    problems = []
    previous: str | None = None
    for expected_seq, entry in enumerate(entries, start=1):
        if entry.seq != expected_seq:
            problems.append(f"history record {expected_seq} is missing (found seq {entry.seq} in its place)")
            break
        if entry.prev_hash != previous:
            problems.append(f"history record {entry.seq} does not link to the record before it")
        if history.entry_hash(entry) != entry.hash:
            problems.append(
                f"history record {entry.seq} ({entry.action}) was altered: its content no longer matches its hash"
            )
        previous = entry.hash
    if len(entries) != event.history_length:
        problems.append(
            f"the event counts {event.history_length} history records but {len(entries)} are stored"
        )
    if previous != event.history_head:
        problems.append("the last history record is not the chain head stored with the event")
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
) -> tuple[BpmnWorkflow, list[ReplayStep], str | None]:
    """Re-run an event's recorded inputs on a fresh instance of the version it started on (and of every version
    it was migrated to, from the migration on); raise when the record cannot be followed. Also returns the
    fingerprint of the instance as it stood after record ``at_seq`` (None when no record has that number)."""
    steps: list[ReplayStep] = []
    at_checkpoint: list[str] = []

    def after(entry: HistoryEntry, workflow: BpmnWorkflow | None) -> None:
        if workflow is None:
            return
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
                    input=entry.data.get("form") or entry.data.get("report") or {},
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
    open_tasks: list[Task],
    runtime_for: RuntimeFor,
    keep_steps: bool = False,
) -> EventAudit:
    """Check one event: its chain, its replay against the stored state and inbox, and its counted facts."""
    result = EventAudit(event.id, event.code)
    result.reasons.extend(chain_problems(event, entries))
    try:
        replayed, result.steps, at_checkpoint = replay(runtime_for, entries, keep_steps, event.state_seq)
    except (runtime.ReplayDivergence, GridloopError) as exc:
        result.reasons.append(f"the history cannot be replayed: {exc}")
        return result
    result.reasons.extend(_checkpoint_problems(event, at_checkpoint, runtime_for))
    facts = runtime.event_facts(replayed, runtime.current_data(replayed))
    for column, value in facts.items():
        if getattr(event, column) != value:
            result.reasons.append(f"{column} is {getattr(event, column)!r} but the history says {value!r}")
    stored_open = Counter(t.bpmn_id for t in open_tasks)
    replay_open = Counter(_open_steps(replayed))
    if stored_open != replay_open:
        result.reasons.append(
            f"the open tasks are {sorted(stored_open.elements())} but the history says {sorted(replay_open.elements())}"
        )
    return result


def _batches(session: Any, event_ids: list[int], size: int = 200) -> Iterator[list[int]]:
    for start in range(0, len(event_ids), size):
        yield event_ids[start : start + size]


def audit_events(
    gl: Gridloop, event_ids: list[int] | None = None, progress: Callable[[int, int], None] | None = None
) -> list[EventAudit]:
    """Audit the given events (all when None), loading history in batches; ``progress(done, total)`` is told along."""
    results: list[EventAudit] = []
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
            open_by_event: dict[int, list[Task]] = {i: [] for i in batch}
            for task in session.scalars(select(Task).where(Task.event_id.in_(batch), Task.status == "open")):
                open_by_event[task.event_id].append(task)
            for event_id in batch:
                event = events.get(event_id)
                if event is None:
                    continue
                results.append(
                    audit_event(event, by_event[event_id], open_by_event[event_id], gl.runtime_for(session))
                )
                if progress is not None:
                    progress(len(results), total)
    return results


def _audit_chunk(job: tuple[str, list[int]]) -> list[tuple[int, str | None, list[str]]]:
    """Worker-process entry: audit a chunk of events on a fresh engine of the same database."""
    from engine.app import Gridloop

    url, event_ids = job
    gl = Gridloop(url)
    try:
        return [(r.event_id, r.code, r.reasons) for r in audit_events(gl, event_ids)]
    finally:
        gl.db.dispose()


def _parallel(
    gl: Gridloop, ids: list[int], workers: int, progress: Callable[[int, int], None] | None
) -> list[tuple[int, str | None, list[str]]]:
    chunk = max(50, min(500, len(ids) // (workers * 4) or 1))
    jobs = [(gl.db.url, ids[i : i + chunk]) for i in range(0, len(ids), chunk)]
    done: list[tuple[int, str | None, list[str]]] = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for part in pool.map(_audit_chunk, jobs):
            done.extend(part)
            if progress is not None:
                progress(len(done), len(ids))
    return done


def verify_all(
    gl: Gridloop,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    parallel_from: int = PARALLEL_FROM,
) -> dict[str, Any]:
    """Audit every event: ``{"instances": n, "verified": n, "mismatches": [{"event", "code", "reason"}]}``.

    Replays are CPU-bound, so large databases are audited by ``workers`` processes (default: one per core).
    The admin log's chain is checked too; its problems are listed with ``"event": None``.
    """
    with gl.db.reading() as session:
        ids = list(session.scalars(select(Event.id).order_by(Event.id)))
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers > 1 and len(ids) >= parallel_from:
        outcomes = _parallel(gl, ids, workers, progress)
    else:
        outcomes = [(r.event_id, r.code, r.reasons) for r in audit_events(gl, ids, progress)]
    mismatches = [
        {"event": event_id, "code": code, "reason": reason}
        for event_id, code, reasons in outcomes
        for reason in reasons
    ]
    with gl.db.reading() as session:
        mismatches += [
            {"event": None, "code": "admin_log", "reason": p} for p in settings.log_problems(session)
        ]
    verified = sum(1 for _, _, reasons in outcomes if not reasons)
    return {"instances": len(outcomes), "verified": verified, "mismatches": mismatches}


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
        return replay_of(session, found, gl.runtime_for(session))


def replay_of(session: Session, event: Event, runtime_for: RuntimeFor) -> EventAudit:
    """Audit one event found already (in scope, when a user asks) keeping every replayed step, reading its
    history and open tasks through ``session``."""
    entries = history.entries(session, event.id)
    open_tasks = list(session.scalars(select(Task).where(Task.event_id == event.id, Task.status == "open")))
    return audit_event(event, entries, open_tasks, runtime_for, keep_steps=True)
