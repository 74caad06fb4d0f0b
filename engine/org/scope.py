"""Scope, enforced in the engine: an actor turned into query conditions (:func:`task_filter`,
:func:`event_filter`) and checks (:func:`is_candidate`), so no page or API route can show or touch what lies
outside it.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import ColumnElement, and_, false, or_, select

from engine.org.people import Actor
from engine.store.models import Event, Task


class Offer(Protocol):
    """What an inbox row says about whom it is offered to (a model row or a store row)."""

    role: str
    scope_code: str
    department_code: str | None


def is_candidate(actor: Actor, task: Offer) -> bool:
    """True when ``task`` is offered to ``actor``: right role, and the task's scope or department is theirs."""
    for a in actor.assignments:
        if a.role != task.role:
            continue
        if task.department_code is not None:
            if a.department_code == task.department_code:
                return True
        elif a.department_code is None and task.scope_code.startswith(a.scope_code):
            return True
    return False


def task_filter(actor: Actor) -> ColumnElement[bool]:
    """SQL condition: the tasks offered to ``actor`` or assigned to them."""
    clauses = [Task.assignee == actor.username]
    for a in actor.assignments:
        if a.department_code is not None:
            clauses.append(and_(Task.role == a.role, Task.department_code == a.department_code))
        else:
            clauses.append(
                and_(
                    Task.role == a.role,
                    Task.department_code.is_(None),
                    Task.scope_code.startswith(a.scope_code),
                )
            )
    return or_(*clauses)


def event_filter(actor: Actor) -> ColumnElement[bool]:
    """SQL condition: the events ``actor`` may see — inside one of their scopes, or worked by their department;
    a department's staff also see what they started themselves (their department's appeal, say)."""
    clauses = []
    departments = set()
    for a in actor.assignments:
        if a.department_code is not None:
            departments.add(a.department_code)
        else:
            clauses.append(Event.grid_code.startswith(a.scope_code))
    if departments:
        worked = select(Task.event_id).where(Task.department_code.in_(sorted(departments)))
        clauses += [Event.id.in_(worked), Event.reporter == actor.username]
    return or_(*clauses) if clauses else false()
