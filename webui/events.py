"""Events: the list (searched by code, category, grid, state and date, always within the user's scope) and
the event page (summary, holders, time light, diagram, steps' data, attachments, timeline)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from flask import Blueprint, render_template, request

from engine.reads import staff_views
from webui.context import gridloop, username

bp = Blueprint("events", __name__)

PER_PAGE = 20
STATES = ("reported", "open", "closed", "rejected", "not_found")


def _day(name: str, timezone: tzinfo, next_day: bool = False) -> datetime | None:
    """The start of the local day given in argument ``name`` (the day after, for an inclusive end date)."""
    try:
        day = date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None
    if next_day:
        day += timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=timezone)


@bp.get("/events")
def index() -> str:
    """Events in the user's scope matching the search, newest first, a page at a time."""
    gl = gridloop()
    state = request.args.get("state", "")
    filters = {
        "code": request.args.get("code", "").strip() or None,
        "category": request.args.get("category") or None,
        "grid": request.args.get("grid") or None,
        "state": state if state in STATES else None,
        "reported_from": _day("from", gl.calendar.timezone),
        "reported_to": _day("to", gl.calendar.timezone, next_day=True),
    }
    listing = staff_views.events_page(
        gl, username(), page=max(1, request.args.get("page", 1, type=int)), per_page=PER_PAGE, **filters
    )
    return render_template(
        "events.html",
        listing=listing,
        args=request.args,
        states=STATES,
        categories=staff_views.category_groups(gl.bundle()),
        units=staff_views.visible_units(gl, username()),
    )


@bp.get("/events/<int:event_id>")
def show(event_id: int) -> str:
    """One event as its page shows it (404 when it lies outside the user's scope)."""
    return render_template("event.html", event=staff_views.event_page(gridloop(), username(), event_id))
