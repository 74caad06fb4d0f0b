"""The inbox page (待办): one view of the actor's tasks with names and time lights, and the counts of the views."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.reads import queries
from engine.reads.labels import describe_category, display_names, translate_step_names, unit_name
from engine.reads.lights import Lights
from engine.reads.listing import Listing
from engine.reads.reader import Reader
from engine.reads.sheets import open_sheets_by_task
from engine.reads.tasklist import is_follow_up_due
from engine.store.models import Event

# Filtering by colour or re-sorting needs the whole matching inbox; no one works a bigger one.
MAX_SCAN = 5000
SORTS = ("due", "-due")  # by due time, soonest or latest first


def inbox_counts(reader: Reader) -> dict[str, int]:
    """How many tasks wait in the actor's ``mine`` and ``claimable`` inbox views (for the navigation)."""
    return queries.inbox_counts(reader.session, reader.actor)


def _event_deadlines(session: Session, event_ids: set[int]) -> dict[int, dict[str, Any]]:
    if not event_ids:
        return {}
    rows = session.execute(
        select(Event.id, Event.opened_at, Event.due_at, Event.handling_started_at, Event.handled_at).where(
            Event.id.in_(sorted(event_ids))
        )
    ).all()
    return {
        r.id: {
            "opened_at": r.opened_at,
            "due_at": r.due_at,
            "handling_started_at": r.handling_started_at,
            "handled_at": r.handled_at,
        }
        for r in rows
    }


def _by_due(rows: list[dict[str, Any]], descending: bool) -> list[dict[str, Any]]:
    """Rows by due time (soonest first, or latest first), rows without a due time last either way."""
    timed = sorted(
        (r for r in rows if r["due_at"] is not None), key=lambda r: r["due_at"], reverse=descending
    )
    return timed + [r for r in rows if r["due_at"] is None]


def inbox_page(
    reader: Reader,
    view: str = "mine",
    *,
    category: str | None = None,
    grid: str | None = None,
    colour: str | None = None,
    sort: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Listing:
    """One page of the actor's inbox with names, time lights and each open task's open supervision sheets
    (:func:`engine.reads.sheets.open_sheets_by_task`), plus the counts of the views.

    ``colour`` keeps only tasks of that light; ``sort`` is ``"due"`` (soonest first) or ``"-due"`` (latest
    first); without it the query's order holds (soonest due first, the done view newest first).
    """
    session, actor = reader.session, reader.actor
    scan = bool(colour or sort)
    rows, total = queries.inbox(
        session,
        actor,
        view,
        category=category,
        grid=grid,
        page=1 if scan else page,
        per_page=MAX_SCAN if scan else per_page,
    )
    lights = Lights.of(reader, reader.bundle())
    now = reader.now()
    directory = reader.directory()
    deadlines = _event_deadlines(session, {r["event_id"] for r in rows})
    names = display_names(session, {r["assignee"] for r in rows} | {r["completed_by"] for r in rows})
    translate_step_names(rows, reader.bundle())
    for row in rows:
        describe_category(row, lights.categories, reader.process_name)
        row["grid_name"] = unit_name(directory, row["grid"])
        row["assignee_name"] = names.get(row["assignee"], row["assignee"])
        row["light"] = lights.task(row, deadlines.get(row["event_id"], {}))
        row["follow_up_due"] = is_follow_up_due(row["follow_up_at"], now)
    if colour:
        rows = [r for r in rows if r["light"] is not None and r["light"].colour == colour]
    if sort in ("due", "-due"):
        rows = _by_due(rows, descending=sort == "-due")
    if scan:
        total = len(rows)
        rows = rows[(page - 1) * per_page : page * per_page]
    sheets = open_sheets_by_task(session, actor, rows)
    for row in rows:
        row["sheets"] = sheets.get(row["id"], [])
    counts = queries.inbox_counts(session, actor, ("mine", "claimable", "follow_up"))
    return Listing(rows, total, page, per_page, counts, lights.colours)
