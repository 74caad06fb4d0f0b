"""Events: the list (searched by code, category, grid, state and date, always within the user's scope) and
the event page (summary, holders, time light, diagram, steps' data, attachments, timeline).

The states offered and accepted are the process's own (:func:`engine.reads.events.event_states`); a search for
a state it does not know comes back with 400 and a message next to the state field, not with every event.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from flask import Blueprint, render_template, request

from engine.errors import ValidationFailed
from engine.reads.events import event_page, event_states, events_page
from engine.reads.labels import category_groups, visible_units
from engine.reads.listing import Listing
from webui.api_schemas import MAX_PAGE, MOMENT_YEARS
from webui.context import actor, reader
from webui.i18n import translate

bp = Blueprint("events", __name__)

PER_PAGE = 20


def _day(name: str, timezone: tzinfo, next_day: bool = False) -> datetime | None:
    """The start of the local day given in argument ``name`` (the day after, for an inclusive end date); none for
    text that is no date, or a date outside the years a search takes."""
    try:
        day = date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None
    if not MOMENT_YEARS[0] <= day.year <= MOMENT_YEARS[1]:
        return None
    if next_day:
        day += timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=timezone)


@bp.get("/events")
def index() -> tuple[str, int]:
    """Events in the user's scope matching the search, newest first, a page at a time."""
    timezone = reader().calendar().timezone
    filters = {
        "code": request.args.get("code", "").strip() or None,
        "text": request.args.get("text", "").strip()[:100] or None,
        "category": request.args.get("category") or None,
        "grid": request.args.get("grid") or None,
        "state": request.args.get("state") or None,
        "reported_from": _day("from", timezone),
        "reported_to": _day("to", timezone, next_day=True),
    }
    page = min(MAX_PAGE, max(1, request.args.get("page", 1, type=int)))
    errors: dict[str, list[str]] = {}
    try:
        listing = events_page(reader(), page=page, per_page=PER_PAGE, **filters)
    except ValidationFailed:  # the only filter the engine refuses is a state it does not know
        errors = {"state": [translate("events.bad_state")]}
        listing = Listing([], 0, page, PER_PAGE)
    bundle = reader().bundle()
    html = render_template(
        "events.html",
        listing=listing,
        args=request.args,
        errors=errors,
        states=event_states(reader()),
        categories=category_groups(bundle),
        units=visible_units(reader().directory(), actor()),
    )
    return html, 400 if errors else 200


@bp.get("/events/<int:event_id>")
def show(event_id: int) -> str:
    """One event as its page shows it (404 when it lies outside the user's scope)."""
    return render_template("event.html", event=event_page(reader(), event_id))
