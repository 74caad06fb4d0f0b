"""What the task page and the inbox show of the Tasklist's working tools (issue 12): who may assign or delegate a
task and to whom, its comments, its follow-up date, and a user's saved inbox filters.

The rules live here once, for the page that offers a control and for the command that carries it out
(:mod:`engine.commands.assignment`), so that a page never offers what the command refuses:

- **assign** (指派): a member of staff holding a role the ``assign_roles`` setting names (by default the shift
  leader 值班长 and the supervisor 督办员: those who lead a platform's or a department's work), in a scope that
  covers the task — the unit the task is offered in or one above it, or the task's own department — hands an open
  task to a colleague to whom it is offered (:func:`colleagues`), whether anyone held it or not;
- **delegate** (委托): whoever holds a task hands it to such a colleague for a while; the task shows who
  delegated it, and the delegate either completes it (the completion is recorded as theirs, naming the
  delegator) or gives it back (the delegator holds it again). A delegated task is not delegated on;
- **comments** are made by anyone who may see the task; a **follow-up date** is set by whoever holds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.org import scope
from engine.org.people import Actor
from engine.reads.labels import display_names
from engine.reads.reader import Reader
from engine.store.models import HistoryEntry, RoleAssignment, SavedFilter, User

ASSIGN_SETTING = "assign_roles"


def supervises(actor: Actor, task: scope.Offer, assign_roles: Iterable[str]) -> bool:
    """Whether ``actor`` may assign ``task``: a role of ``assign_roles`` in a scope covering the task's unit
    (a platform-wide assignment) or for the task's department."""
    roles = set(assign_roles)
    for a in actor.assignments:
        if a.role not in roles:
            continue
        if a.department_code is not None:
            if a.department_code == task.department_code:
                return True
        elif task.scope_code.startswith(a.scope_code):
            return True
    return False


def colleagues(session: Session, task: scope.Offer) -> list[dict[str, str]]:
    """The active staff to whom ``task`` is offered (:func:`engine.org.scope.is_candidate`), by name: those an
    assignment or a delegation may hand it to."""
    rows = session.execute(
        select(User.username, User.display_name, RoleAssignment.scope_code, RoleAssignment.department_code)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(User.active.is_(True), RoleAssignment.role == task.role)
    ).all()
    found: dict[str, str] = {}
    for username, name, scope_code, department_code in rows:
        if task.department_code is not None:
            offered = department_code == task.department_code
        else:
            offered = department_code is None and task.scope_code.startswith(scope_code)
        if offered:
            found[username] = name
    return [{"username": u, "name": found[u]} for u in sorted(found, key=lambda u: (found[u], u))]


def comments(session: Session, event_id: int, task_id: int) -> list[dict[str, Any]]:
    """The comments made on a task, oldest first, with their authors' names (from the event's history)."""
    entries = session.execute(
        select(HistoryEntry.seq, HistoryEntry.at, HistoryEntry.actor, HistoryEntry.data)
        .where(
            HistoryEntry.event_id == event_id,
            HistoryEntry.task_id == task_id,
            HistoryEntry.action == "comment",
        )
        .order_by(HistoryEntry.seq)
    ).all()
    names = display_names(session, {e.actor for e in entries})
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "by": e.actor,
            "by_name": names.get(e.actor, e.actor),
            "text": e.data["text"],
        }
        for e in entries
    ]


def is_follow_up_due(follow_up_at: datetime | None, now: datetime) -> bool:
    """Whether a follow-up date has come (the task is to be looked at again now)."""
    return follow_up_at is not None and follow_up_at <= now


def task_tools(reader: Reader, task: dict[str, Any]) -> dict[str, Any]:
    """What the task page offers besides the form, for a task row (:func:`engine.reads.queries.task_row`): whether
    the actor may assign, delegate, give back or set its follow-up date, the colleagues it may go to, who
    delegated it, whether its follow-up date has come (and that date in the district's calendar), and its
    comments."""
    session, actor = reader.session, reader.actor
    is_open = task["status"] == "open"
    holds = task["assignee"] == actor.username
    offer = _Offer(task["role"], task["scope"], task["department"])
    assign_roles = reader.settings.value(ASSIGN_SETTING, session)
    may_assign = is_open and supervises(actor, offer, assign_roles)
    may_delegate = is_open and holds and task["delegated_by"] is None
    people = colleagues(session, offer) if may_assign or may_delegate else []
    names = display_names(session, {task["delegated_by"]})
    return {
        "may_assign": may_assign,
        "may_delegate": may_delegate,
        "may_give_back": is_open and holds and task["delegated_by"] is not None,
        "may_follow_up": is_open and holds,
        "assignees": [p for p in people if p["username"] != task["assignee"]],
        "delegates": [p for p in people if p["username"] != actor.username],
        "delegated_by_name": names.get(task["delegated_by"], task["delegated_by"]),
        "follow_up_due": is_follow_up_due(task["follow_up_at"], reader.now()),
        "follow_up_day": _local_day(reader, task["follow_up_at"]),
        "comments": comments(session, task["event_id"], task["id"]),
    }


def _local_day(reader: Reader, moment: datetime | None) -> str | None:
    """The district's date of ``moment`` (ISO), as a date field shows it."""
    return None if moment is None else moment.astimezone(reader.calendar().timezone).date().isoformat()


def saved_filters(reader: Reader) -> list[dict[str, Any]]:
    """The actor's saved inbox filters, by name."""
    rows = reader.session.scalars(
        select(SavedFilter).where(SavedFilter.username == reader.actor.username).order_by(SavedFilter.name)
    )
    return [filter_row(f) for f in rows]


def filter_row(saved: SavedFilter) -> dict[str, Any]:
    """A saved filter as the inbox and the API show it."""
    return {"id": saved.id, "name": saved.name, "filters": saved.filters, "created_at": saved.created_at}


@dataclass
class _Offer:
    """A task row's offer (role, unit, department) in the shape :mod:`engine.org.scope` reads."""

    role: str
    scope_code: str
    department_code: str | None
