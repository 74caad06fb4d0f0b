"""BPMN timers: mirrored in the ``timers`` table, fired exactly once, by whoever gets there first.

After every command the engine writes the instance's waiting timer events (boundary or intermediate) to
``timers`` with their due times. :func:`due` lists what is due; the engine's ``fire_timer`` service claims one
row and fires it in one transaction with the event's version bump — so two schedulers, or a scheduler and a
``gridloop tick``, never fire the same timer twice, and one that was down fires what it missed when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store import statements
from engine.store.db import connection_of
from engine.store.models import Timer


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
    """Make the event's pending timer rows match the instance: add new ones, close those gone; return new rows.

    A timer that is gone after a firing command (``fired_by`` names who fired) and was due fired with it; otherwise
    it was cancelled (its task completed first, or its path was left).
    """
    conn = connection_of(session)
    pending = {t.spiff_task_id: t for t in statements.pending_timers(conn, event_id)}
    created = []
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
            created.append(row)
        elif row.due_at != timer.due_at:
            row.due_at = timer.due_at
            statements.save_timer(conn, row)
    for spiff_id, row in pending.items():
        if spiff_id not in current:
            if fired_by is not None and row.due_at < now:
                row.status, row.fired_at, row.fired_by = "fired", now, fired_by
            else:
                row.status = "cancelled"
            statements.save_timer(conn, row)
    return created


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
