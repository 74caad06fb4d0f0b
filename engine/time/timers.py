"""BPMN timers: mirrored in the ``timers`` table, fired exactly once, by whoever gets there first.

After every command the engine writes the instance's waiting timer events (boundary or intermediate) to
``timers`` with their due times. :func:`due` lists what is due; the engine's ``fire_timer`` service claims one
row and fires it in one transaction with the event's version bump — so two schedulers, or a scheduler and a
``gridloop tick``, never fire the same timer twice, and one that was down fires what it missed when it starts.

A command that adds or moves a timer says so to the schedulers of every process: on PostgreSQL
:func:`notify` sends ``NOTIFY gridloop_timers, '<due time>'`` inside the command's transaction, which the server
delivers to every listening scheduler when (and only if) the command commits; on SQLite, which has no such
channel, schedulers ask :func:`next_due` (one probe of the ``(status, due_at)`` index) once a second. See
:mod:`engine.time.scheduler`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from engine.store import statements
from engine.store.db import connection_of
from engine.store.models import Timer

# the PostgreSQL notification channel on which commands announce new due times (payload: the ISO due time)
CHANNEL = "gridloop_timers"


@dataclass(frozen=True)
class WaitingTimer:
    """A timer event waiting in an instance."""

    spiff_task_id: str
    bpmn_id: str
    name: str | None
    due_at: datetime


def _due_of(value: object) -> datetime | None:
    if isinstance(value, dict):
        value = value.get("next")
    if not isinstance(value, str):
        return None
    return TimerEventDefinition.get_datetime(value)


def waiting(workflow: BpmnWorkflow) -> list[WaitingTimer]:
    """The instance's timer events that are waiting, with their due times."""
    result = []
    for task in workflow.event_manager.tasks.values():
        definition = getattr(task.task_spec, "event_definition", None)
        if not isinstance(definition, TimerEventDefinition):
            continue
        due = _due_of(task._get_internal_data("event_value"))
        if due is None:
            continue
        result.append(WaitingTimer(str(task.id), task.task_spec.bpmn_id, task.task_spec.bpmn_name, due))
    return result


def sync(
    session: Session, event_id: int, workflow: BpmnWorkflow, now: datetime, fired_by: str | None = None
) -> list[statements.Row]:
    """Make the event's pending timer rows match the instance: add new ones, move those whose due time changed,
    close those gone; return the rows added or moved (the schedulers are to hear of their due times).

    A timer that is gone after a firing command (``fired_by`` names who fired) and was due fired with it; otherwise
    it was cancelled (its task completed first, or its path was left).
    """
    conn = connection_of(session)
    pending = {t.spiff_task_id: t for t in statements.pending_timers(conn, event_id)}
    changed = []
    current = set()
    for timer in waiting(workflow):
        current.add(timer.spiff_task_id)
        row = pending.get(timer.spiff_task_id)
        if row is None:
            row = statements.insert_timer(
                conn,
                {
                    "event_id": event_id,
                    "spiff_task_id": timer.spiff_task_id,
                    "bpmn_id": timer.bpmn_id,
                    "name": timer.name,
                    "due_at": timer.due_at,
                    "status": "pending",
                    "created_at": now,
                },
            )
            changed.append(row)
        elif row.due_at != timer.due_at:
            row.due_at = timer.due_at
            statements.save_timer(conn, row)
            changed.append(row)
    for spiff_id, row in pending.items():
        if spiff_id not in current:
            if fired_by is not None and row.due_at < now:
                row.status, row.fired_at, row.fired_by = "fired", now, fired_by
            else:
                row.status = "cancelled"
            statements.save_timer(conn, row)
    return changed


def due(session: Session, now: datetime, limit: int = 100) -> list[int]:
    """Ids of pending timers due before ``now``, soonest first (SpiffWorkflow fires a timer once it is past)."""
    query = (
        select(Timer.id)
        .where(Timer.status == "pending", Timer.due_at <= now)
        .order_by(Timer.due_at, Timer.id)
    )
    return list(session.scalars(query.limit(limit)))


def next_due(session: Session) -> datetime | None:
    """When the next pending timer is due (None when there is none)."""
    return session.scalar(
        select(Timer.due_at).where(Timer.status == "pending").order_by(Timer.due_at).limit(1)
    )


def notify(session: Session, due: datetime) -> None:
    """Tell the schedulers of every process that a timer is due at ``due``, once the command commits.

    On PostgreSQL a notification on :data:`CHANNEL`, sent in the command's transaction: the server delivers it
    at commit and drops it on rollback, so a scheduler never wakes for a timer that was not saved. On SQLite
    nothing is sent (its schedulers poll :func:`next_due`).
    """
    conn = connection_of(session)
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, :due)"), {"channel": CHANNEL, "due": due.isoformat()})
