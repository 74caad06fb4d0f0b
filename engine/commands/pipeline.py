"""The one command pipeline: every write the product makes goes through :meth:`Pipeline.run`.

A command is a plain function ``command(step, *args)`` that says only what is particular to it: what it
loads, what it checks, what it asks the process to do and what it records. The pipeline owns the rest, in
this order:

1. one instant: the clock stops at the command's time for everything it does (the replay of its history
   record will use that time);
2. the unit of work: one transaction on one pooled connection (SQLite takes the write lock at BEGIN);
3. the actor, loaded once (or the system actor a scheduler or the CLI acts as);
4. the event row, locked on PostgreSQL and checked against the version the command read, so that of two
   racing commands the loser gets :class:`~engine.errors.Conflict` before it runs anything;
5. the instance, out of the live cache or rebuilt from its checkpoint and the history since;
6. the move, under the journal of the engine's functions and the seed of new task ids; then the event's
   columns, the inbox rows and the timer rows are synced with the instance;
7. the history record (chained, on the event) or the admin-log record, each authenticated with the audit key
   — only ever written here; and the notices of what the command did, derived in one place from the inbox
   rows it created and the records it wrote (:mod:`engine.notices.derive`), with their outbox rows;
8. the event rows saved (the state stored as a checkpoint when due), the schedulers of other processes told
   of timers added or moved (a PostgreSQL ``NOTIFY``, delivered at commit: :func:`engine.time.timers.notify`)
   and the transaction committed;
9. after the commit: the live cache, this process's scheduler armed with those timers, caches dropped.

A failure anywhere rolls everything back and leaves no instance in the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy.orm import Session

from engine.audit import admin_log, history
from engine.bpmn import instances, runtime
from engine.bpmn.deployed import Deployed
from engine.commands import command_log
from engine.errors import FieldError, Forbidden, NotFound, ValidationFailed
from engine.notices import derive as notices
from engine.org.people import Actor
from engine.store import search, statements
from engine.store.db import connection_of
from engine.time import clock as clockmod
from engine.time import timers

if TYPE_CHECKING:
    from engine.app import Parts

P = ParamSpec("P")
R = TypeVar("R")

# Every action the history of an event can record, and every action of the admin log. The pipeline refuses
# any other, and tests/test_pipeline.py holds the product to producing each of them through it.
HISTORY_ACTIONS = frozenset(
    {
        "report",
        "start",
        "claim",
        "unclaim",
        "complete",
        "timer",
        "migrate",
        "light",
        "sheet_issued",
        "sheet_escalated",
        "sheet_carried",
        "sheet_appealed",
        "similar_linked",
        "rescoped",
        "sheet_replied",
        "sheet_cleared",
        "assigned",
        "delegated",
        "comment",
        "follow_up",
    }
)
ADMIN_ACTIONS = frozenset(
    {
        "deploy",
        "activate",
        "retire",
        "rollback",
        "setting",
        "calendar_day",
        "migrate",
        "user_added",
        "role_granted",
        "password_set",
        "demo_district",
        "user_enabled",
        "user_disabled",
        "signed_in",
        "sign_in_failed",
        "locked_out",
        "signed_out",
        "signed_out_everywhere",
        "token_revoked",
        "archived",
        "monthly_report",
        "boundaries",
        "redivided",
        "ledger_imported",
        "ledger_edited",
        "personal_viewed",
    }
)


class Abandon(Exception):  # noqa: N818 (not an error: the command found nothing to do)
    """Raised by a command that finds, once inside its transaction, that there is nothing to do: the
    transaction is dropped and :meth:`Pipeline.run` returns ``result``."""

    def __init__(self, result: Any = None) -> None:
        super().__init__("nothing to do")
        self.result = result


@dataclass
class Moved:
    """What a move of an instance did, for the command's history record and its answer."""

    changes: dict[str, list[Any]]
    calls: list[Any]
    ids: str
    created: list[statements.Row]

    @property
    def record(self) -> dict[str, Any]:
        """The part of the history record every move writes: data changes, journaled calls, id seed, offers."""
        return {
            "changes": self.changes,
            "calls": self.calls,
            "ids": self.ids,
            "offered": offered(self.created),
        }


@dataclass
class _Touched:
    row: Any
    read_version: int
    workflow: BpmnWorkflow | None = None
    checkpoint: bool = False


@dataclass
class Step:
    """What a command works with inside the pipeline: the session, the instant, the actor, and the pipeline's
    operations on events, instances, history and the admin log."""

    parts: Parts
    session: Session
    now: datetime
    actor: Actor
    _touched: dict[int, _Touched] = field(default_factory=dict)
    _timers_set: list[statements.Row] = field(default_factory=list)  # timer rows added or moved
    _after: list[Callable[[], None]] = field(default_factory=list)
    # what the command did, for the notices derived from it as it saves (engine.notices.derive)
    _offers: list[notices.Offer] = field(default_factory=list)
    _records: list[notices.Recorded] = field(default_factory=list)

    @property
    def conn(self) -> Any:
        """The connection of the command's transaction (for the hot path's fixed statements)."""
        return connection_of(self.session)

    # ------------------------------------------------------------ checks

    def require_role(self, *roles: str, message: str, code: str) -> None:
        """Refuse the command unless the actor holds one of ``roles`` (:class:`Forbidden` with ``code``)."""
        if not any(self.actor.has_role(role) for role in roles):
            raise Forbidden(message, code=code)

    # ------------------------------------------------------------ events

    def _hold(self, event: Any) -> Any:
        """Take the event into the command (read with its lock on PostgreSQL: ``statements.event`` and
        ``statements.task_and_event`` with ``lock``, which also check the version read against the locked one);
        an event the command holds already stays the row it holds."""
        held = self._touched.get(event.id)
        if held is not None:
            return held.row
        self._touched[event.id] = _Touched(event, event.version)
        return event

    def event(self, event_id: int) -> Any:
        """The event row ``event_id``, held by the command (:class:`NotFound` when there is none)."""
        held = self._touched.get(event_id)
        if held is not None:
            return held.row
        event = statements.event(self.conn, event_id, lock=True)
        if event is None:
            raise NotFound("no event {event}", code="event.not_found", event=event_id)
        return self._hold(event)

    def task_and_event(self, task_id: int) -> tuple[statements.Row, statements.Row]:
        """An inbox row and its event, read in one statement (so the event's version is that of the moment the
        task was read) and held by the command (its lock taken in the same round trip)."""
        found = statements.task_and_event(self.conn, task_id, lock=True)
        if found is None:
            raise NotFound("no task {task}", code="task.not_found", task=task_id)
        task, event = found
        return task, self._hold(event)

    def new_event(self, values: dict[str, Any]) -> statements.Row:
        """Insert a new event row (with its description's search terms) and hold it."""
        values = values | {"search_terms": search.terms(values.get("description"))}
        event = statements.insert_event(self.conn, values)
        self._touched[event.id] = _Touched(event, event.version)
        return event

    def deployed(self, event: Any) -> Deployed:
        """The process version the event runs on."""
        return self.parts.versions.get(self.session, event.process_version_id)

    def instance(self, event: Any, deployed: Deployed | None = None) -> BpmnWorkflow:
        """The event's process instance, for the command to move."""
        held = self._touched[event.id]
        if held.workflow is None:
            held.workflow = self.parts.instances.take(self.session, event, deployed or self.deployed(event))
        return held.workflow

    def adopt(self, event: Any, workflow: BpmnWorkflow) -> None:
        """Hold a new instance (just started) as the event's."""
        self._touched[event.id].workflow = workflow

    def checkpoint(self, event: Any) -> None:
        """Store the event's state as a checkpoint when the command commits (a migration does: a checkpoint
        belongs to the version it is of)."""
        self._touched[event.id].checkpoint = True

    # ------------------------------------------------------------ moving an instance

    @staticmethod
    def run_engine(move: Callable[[], R]) -> tuple[R, runtime.Journal, str]:
        """Run ``move`` under a fresh journal of the engine's functions and a fresh seed of task ids."""
        ids = runtime.new_seed()
        with runtime.journaling(runtime.Journal()) as journal, runtime.task_ids(ids):
            result = move()
        return result, journal, ids

    def move(
        self,
        event: Any,
        deployed: Deployed,
        move: Callable[[], dict[str, Any] | None],
        *,
        open_rows: dict[str, statements.Row] | Callable[[], dict[str, statements.Row]] | None = None,
        fired_by: str | None = None,
        sync_timers: bool = True,
        measures_itself: bool = False,
    ) -> Moved:
        """Move the event's instance with ``move`` and sync what mirrors it: the event's columns (the facts
        the process decided), the inbox rows and the timer rows.

        ``move`` returns the data the changes are measured from, or None for the instance's data before it ran
        (which is then taken beforehand).
        ``open_rows`` are the event's inbox rows open before the move, by SpiffWorkflow task id (read from the
        store when not given; a callable is called after the move). ``measures_itself`` says that ``move``
        returns the data to measure from, so none is taken beforehand. ``sync_timers`` False skips the timers table
        for a move of an instance that had and has no waiting timer events.
        """
        workflow = self._touched[event.id].workflow
        assert workflow is not None, "instance() or adopt() comes before move()"
        before = None if measures_itself else dict(runtime.current_data(workflow))
        measured, journal, ids = self.run_engine(move)
        after, created = self.sync(
            event, deployed, open_rows=open_rows, fired_by=fired_by, sync_timers=sync_timers
        )
        start = measured if measured is not None else before
        return Moved(history.data_changes(start or {}, after), journal.calls, ids, created)

    def sync(
        self,
        event: Any,
        deployed: Deployed,
        *,
        open_rows: dict[str, statements.Row] | Callable[[], dict[str, statements.Row]] | None = None,
        fired_by: str | None = None,
        sync_timers: bool = True,
    ) -> tuple[dict[str, Any], list[statements.Row]]:
        """Bring what mirrors the event's instance up to date with it: the event's columns (the facts the process
        decided), the inbox rows and the timer rows. Returns the instance's data and the inbox rows created."""
        workflow = self._touched[event.id].workflow
        assert workflow is not None, "instance() or adopt() comes before sync()"
        waiting = runtime.waiting_user_tasks(workflow)
        after = runtime.current_data(workflow, waiting)
        for column, value in runtime.event_facts(workflow, after).items():
            setattr(event, column, value)
        event.updated_at = self.now
        if callable(open_rows):
            open_rows = open_rows()
        elif open_rows is None:
            open_rows = {t.spiff_task_id: t for t in statements.open_tasks(self.conn, event.id)}
        created = self._sync_inbox(event, workflow, deployed, open_rows, waiting)
        if sync_timers or workflow.event_manager.tasks:
            self._timers_set += timers.sync(self.session, event.id, workflow, self.now, fired_by=fired_by)
        return after, created

    def _sync_inbox(
        self,
        event: Any,
        workflow: BpmnWorkflow,
        deployed: Deployed,
        open_rows: dict[str, statements.Row],
        waiting: list[Any],
    ) -> list[statements.Row]:
        """Create rows for newly waiting user tasks and cancel rows whose task is no longer waiting (a row the
        command has closed already is not cancelled)."""
        directory = self.parts.org.directory(self.session)
        created = []
        ready_ids = set()
        for ready in runtime.ready_tasks(workflow, deployed.bundle, waiting):
            ready_ids.add(ready.spiff_task_id)
            if ready.spiff_task_id in open_rows:
                continue
            if ready.department_code is not None:
                department = directory.departments.get(ready.department_code)
                if department is None:
                    raise ValidationFailed(
                        "department {department!r} does not exist",
                        {
                            "department": [
                                FieldError("department_unknown", {"department": ready.department_code})
                            ]
                        },
                        department=ready.department_code,
                    )
                scope_code = department.unit_code
            else:
                scope_code = directory.unit_at_level(event.grid_code, ready.scope_level).code
            row = statements.insert_task(
                self.conn,
                {
                    "event_id": event.id,
                    "spiff_task_id": ready.spiff_task_id,
                    "bpmn_id": ready.bpmn_id,
                    "name": ready.name,
                    "lane": ready.lane,
                    "role": ready.role,
                    "scope_code": scope_code,
                    "department_code": ready.department_code,
                    "form": ready.form,
                    "status": "open",
                    "assignee": ready.assignee,
                    "claimed_at": self.now if ready.assignee else None,
                    "due_at": ready.due_at
                    or self.parts.settings.step_due(ready.bpmn_id, self.now, self.session),
                    "created_at": self.now,
                },
            )
            created.append(row)
            self._offers.append(notices.offer(self, event, row))
        for spiff_id, row in open_rows.items():
            if spiff_id not in ready_ids and row.status == "open":
                row.status = "cancelled"
                row.completed_at = self.now
                statements.save_task(self.conn, row)
        return created

    # ------------------------------------------------------------ records

    def record(
        self,
        event: Any,
        action: str,
        data: dict[str, Any],
        bpmn_id: str | None = None,
        task_id: int | None = None,
        actor: str | None = None,
    ) -> None:
        """Append a record to the event's history, signed with the engine's audit key (the only way a record
        is ever written)."""
        if action not in HISTORY_ACTIONS:
            raise ValueError(f"{action!r} is not a history action; add it to HISTORY_ACTIONS")
        history.append(
            self.conn,
            self.parts.audit_keys,
            event,
            self.now,
            actor or self.actor.username,
            action,
            data,
            bpmn_id,
            task_id,
        )
        self._records.append(notices.Recorded(event, action, data, bpmn_id, task_id))
        event.updated_at = self.now

    def log(self, action: str, data: dict[str, Any]) -> None:
        """Append a record to the admin log, signed with the engine's audit key (the only way one is ever
        written)."""
        if action not in ADMIN_ACTIONS:
            raise ValueError(f"{action!r} is not an admin-log action; add it to ADMIN_ACTIONS")
        admin_log.append(self.session, self.parts.audit_keys, self.now, self.actor.username, action, data)

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once the command has committed (a cache to drop, say)."""
        self._after.append(hook)

    def instances_held(self) -> list[tuple[Any, BpmnWorkflow]]:
        """The events whose instance the command holds, with the instance (for checks made around a command)."""
        return [(held.row, held.workflow) for held in self._touched.values() if held.workflow is not None]

    # ------------------------------------------------------------ the pipeline's own end

    def _save(self) -> None:
        notices.write(self, self._offers, self._records)
        for held in self._touched.values():
            event, workflow = held.row, held.workflow
            state = None
            if workflow is not None and (held.checkpoint or instances.checkpoint_due(event)):
                state = instances.checkpoint(event, workflow)
            if isinstance(event, statements.Row):
                statements.save_event(self.conn, event, state)
        self.session.flush()
        if self._timers_set:
            timers.notify(self.session, min(t.due_at for t in self._timers_set))

    def _committed(self) -> None:
        cache = self.parts.instances
        for event_id, held in self._touched.items():
            if held.workflow is not None:
                cache.put(event_id, held.row.version, held.workflow)
            else:
                cache.moved(event_id, held.read_version, held.row.version)
        if self._timers_set:
            self.parts.announce_timers(min(t.due_at for t in self._timers_set))
        for hook in self._after:
            hook()


class Pipeline:
    """Runs commands: see the module's documentation for what it does around each."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    def run(self, by: str | Actor, command: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run ``command(step, *args, **kwargs)`` as ``by`` — a username, or an :class:`Actor` for the system
        (a scheduler, the CLI, set-up) — in one transaction, and return what it returns."""
        parts = self.parts
        now = parts.clock.now()
        with command_log.timed(command, by) as outcome:
            try:
                with clockmod.using(clockmod.ManualClock(now)), parts.db.unit_of_work() as session:
                    actor = by if isinstance(by, Actor) else parts.org.actor(session, by)
                    step = Step(parts, session, now, actor)
                    result = command(step, *args, **kwargs)
                    step._save()
            except Abandon as abandoned:
                outcome.value = "abandoned"
                return abandoned.result
            step._committed()
        return result


def system(name: str) -> Actor:
    """The actor a scheduler, the CLI or set-up acts as: a name in the records, no roles."""
    return Actor(username=name, display_name=name)


def offered(rows: list[statements.Row]) -> list[dict[str, Any]]:
    """What a command put into inboxes, for its history record: step, role, scope, department, due time."""
    return [
        {
            "step": r.bpmn_id,
            "role": r.role,
            "scope": r.scope_code,
            "department": r.department_code,
            "due_at": r.due_at.isoformat() if r.due_at else None,
        }
        for r in rows
    ]
