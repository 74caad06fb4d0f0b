"""Firing a BPMN timer (the scheduler's and ``gridloop tick``'s command).

The timer row is claimed inside the event's transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write
lock on SQLite), so several schedulers fire each timer exactly once.
"""

from __future__ import annotations

from sqlalchemy import select

from engine.bpmn import runtime
from engine.commands.pipeline import Abandon, Step
from engine.store import statements
from engine.store.models import Timer
from engine.time import timers


def fire(step: Step, timer_id: int, fired_by: str) -> bool:
    """Fire one due timer; False (and nothing written) when it is not, or no longer, pending and due."""
    query = select(Timer).where(Timer.id == timer_id)
    if step.parts.db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    timer = step.session.scalar(query)
    if timer is None or timer.status != "pending" or timer.due_at >= step.now:
        return False
    event = step.event(timer.event_id)
    deployed = step.deployed(event)
    open_rows = {t.spiff_task_id: t for t in statements.open_tasks(step.conn, event.id)}
    workflow = step.instance(event, deployed)

    def run() -> None:
        runtime.fire_timers(workflow)
        if any(w.spiff_task_id == timer.spiff_task_id for w in timers.waiting(workflow)):
            raise Abandon(False)  # the process did not fire it: the transaction is dropped

    moved = step.move(event, deployed, run, open_rows=open_rows, fired_by=fired_by)
    step.record(
        event,
        "timer",
        {"timer": timer.bpmn_id, "due_at": timer.due_at.isoformat(), "fired_by": fired_by, **moved.record},
        timer.bpmn_id,
        actor="timer",
    )
    return True
