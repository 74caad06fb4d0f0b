"""The grid map (网格地图, ``/map``): the district's grids with their codes and workers, and the open cases in the
reader's scope as points coloured by their time light, filtered by category and light; a point opens its event.
Leaflet draws the district's own boundaries (``vendor/leaflet``), with no tile server. The same boundaries are
drawn on the event page (its point and its grid) and on the report form (tap to place the point)."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from engine.errors import ValidationFailed
from engine.reads import geography
from engine.reads.labels import category_groups
from webui.context import reader

bp = Blueprint("gridmap", __name__)


@bp.get("/map")
def index() -> tuple[str, int]:
    """The map, with the open cases matching ``?category=`` (a code or class prefix) and ``?light=``."""
    category = request.args.get("category", "").strip() or None
    light = request.args.get("light", "").strip() or None
    errors = {}
    try:
        cases = geography.open_cases(reader(), category=category, light=light)
    except ValidationFailed as refused:
        errors = refused.errors
        cases = geography.open_cases(reader(), category=category)
    return render_template(
        "map.html",
        units=geography.units(reader()),
        cases=cases,
        categories=category_groups(reader().bundle()),
        values={"category": category or "", "light": light or ""},
        errors=errors,
    ), (400 if errors else 200)
