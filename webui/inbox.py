"""The inbox (待办): my claimed tasks, tasks I may claim, tasks I completed — filtered, sorted, paged."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request
from werkzeug.wrappers import Response

from engine.reads.inbox import SORTS, inbox_counts, inbox_page
from engine.reads.labels import category_groups, visible_units
from engine.reads.queries import INBOX_VIEWS
from engine.reads.tasklist import saved_filters
from engine.settings import LIGHT_COLOURS
from webui.api_schemas import MAX_PAGE
from webui.context import actor, reader

bp = Blueprint("inbox", __name__)

PER_PAGE = 20


@bp.app_context_processor
def navigation() -> dict:
    """``nav_counts()`` for the navigation: the signed-in user's task counts, read once per page."""

    def nav_counts() -> dict[str, int]:
        if g.get("user") is None:
            return {}
        if "nav_counts" not in g:
            g.nav_counts = inbox_counts(reader())
        return g.nav_counts

    return {"nav_counts": nav_counts}


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name, "")
    return value if value in allowed else None


@bp.get("/inbox")
def index() -> Response | str:
    """One tab of the inbox with its filters (category, colour, grid), sort by due time and pagination."""
    view = _choice("view", INBOX_VIEWS)
    if view is None:  # open on the tab that has work: one's own tasks, else those waiting to be claimed
        counts = inbox_counts(reader())
        view = "claimable" if counts["mine"] == 0 and counts["claimable"] > 0 else "mine"
    filters = {
        "category": request.args.get("category") or None,
        "grid": request.args.get("grid") or None,
        "colour": _choice("colour", LIGHT_COLOURS),
        "sort": _choice("sort", SORTS),
    }
    listing = inbox_page(
        reader(),
        view,
        page=min(MAX_PAGE, max(1, request.args.get("page", 1, type=int))),
        per_page=PER_PAGE,
        **filters,
    )
    g.nav_counts = listing.counts
    return render_template(
        "inbox.html",
        view=view,
        views=INBOX_VIEWS,
        listing=listing,
        filters=filters,
        sorts=SORTS,
        categories=category_groups(reader().bundle()),
        units=visible_units(reader().directory(), actor()),
        saved_filters=saved_filters(reader()),
    )
