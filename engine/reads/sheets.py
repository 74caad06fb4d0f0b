"""The open supervision sheets (督办单) a task is about, for the inbox rows and the task page of those who
answer for them.

A sheet is about a task when it was issued on that very task (a department's late task, or a platform step
gone red), or when it is charged to the task's department on the task's event (a leader's sheet, a case gone
red): so a department's handlers see, on the task they work, the sheets their department must answer, and
another department's rows of the same event show none of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.org.people import Actor
from engine.store.models import SupervisionSheet, Task
from engine.supervision import rules


def open_sheets_by_task(
    session: Session, actor: Actor, tasks: list[dict[str, Any]]
) -> dict[int, list[dict[str, Any]]]:
    """The open sheets each open task row of ``tasks`` (rows of :func:`engine.reads.queries.task_row`) is
    about, oldest first, by task id, each with whom it is charged to (:func:`engine.supervision.rules.charged_to`)
    and whether the actor may reply to it — all in one statement, however many rows the page shows."""
    open_tasks = [t for t in tasks if t["status"] == "open"]
    event_ids = {t["event_id"] for t in open_tasks}
    if not event_ids:
        return {}
    by_event: dict[int, list[tuple[SupervisionSheet, Task | None]]] = {}
    for sheet, sheet_task in session.execute(
        select(SupervisionSheet, Task)
        .outerjoin(Task, Task.id == SupervisionSheet.task_id)
        .where(SupervisionSheet.event_id.in_(sorted(event_ids)), SupervisionSheet.status == "open")
        .order_by(SupervisionSheet.id)
    ).all():
        by_event.setdefault(sheet.event_id, []).append((sheet, sheet_task))
    found: dict[int, list[dict[str, Any]]] = {}
    for task in open_tasks:
        for listed, on_task in by_event.get(task["event_id"], []):
            if not rules.is_about(listed, task["id"], task["department"]):
                continue
            row = rules.sheet_row(listed)
            row.update(rules.charged_to(listed, on_task))
            row["can_reply"] = row["reply"] is None and rules.may_reply(actor, listed, on_task)
            found.setdefault(task["id"], []).append(row)
    return found
