"""The grid map (网格地图): the units' boundaries with each grid's workers, and the open cases in the actor's
scope as points coloured by their time light — what the map page, the event page's map and the report form's
map draw (the district's own GeoJSON, no tile server)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, select

from engine.errors import FieldError, ValidationFailed
from engine.org import geography, scope
from engine.reads import queries
from engine.reads.labels import categories_by_code, translate_step_names
from engine.reads.lights import HOLD, Lights
from engine.reads.reader import Reader
from engine.store.models import Event, RoleAssignment, User

# the open cases one map draws at most, newest first (the rest are counted, and listed on the events page)
MAP_CASES = 2000


def _valid(unit: Any, now: datetime) -> bool:
    return (unit.valid_from is None or unit.valid_from <= now) and (
        unit.valid_to is None or now < unit.valid_to
    )


def units(reader: Reader, within: str | None = None) -> dict[str, Any]:
    """The boundaries of the units valid now, as a GeoJSON FeatureCollection whose features carry the unit's
    code, name, level, parent and, for a grid, its workers' names (boundaries are not secret: everyone's map
    shows the whole district; what lies in a grid is scoped). ``within``: only that unit, what lies inside it
    and the units above it (an event's community, say)."""
    now = reader.now()
    found = sorted(
        (
            u
            for u in reader.directory().units.values()
            if u.boundary is not None
            and _valid(u, now)
            and (within is None or u.code.startswith(within) or within.startswith(u.code))
        ),
        key=lambda u: (geography.LEVEL_DEPTH.get(u.level, 0), u.code),
    )
    workers: dict[str, list[str]] = {}
    rows = reader.session.execute(
        select(RoleAssignment.scope_code, User.display_name)
        .join(User, User.id == RoleAssignment.user_id)
        .where(RoleAssignment.role == "grid_worker", User.active.is_(True))
        .order_by(User.id)
    )
    for code, name in rows:
        workers.setdefault(code, []).append(name)
    collection = geography.feature_collection(found)
    for feature in collection["features"]:
        feature["properties"]["workers"] = workers.get(feature["properties"]["code"], [])
    return collection


def open_cases(
    reader: Reader, *, category: str | None = None, light: str | None = None, limit: int = MAP_CASES
) -> dict[str, Any]:
    """The open cases in the actor's scope that have a point, newest first (at most ``limit``), each with its
    code, category, grid, state and light, filtered by category (a code or a class prefix) and light; and how
    many open cases matching the category have no point (they are on the events page, not the map)."""
    bundle = reader.bundle()
    lights = Lights.of(reader, bundle)
    if light is not None and light not in (*lights.colours, HOLD):
        choices = ", ".join((*lights.colours, HOLD))
        raise ValidationFailed(
            "{light!r} is not a time light; the lights are: {choices}",
            {"light": [FieldError("not_a_choice_of", {"choices": choices})]},
            light=light,
            choices=choices,
        )
    conditions = [scope.event_filter(reader.actor), Event.completed.is_(False)]
    if category:
        conditions.append(Event.category.startswith(category))
    rows = [
        queries.event_row(e)
        for e in reader.session.scalars(
            select(Event).where(and_(*conditions)).order_by(Event.reported_at.desc(), Event.id.desc())
        )
    ]
    located = [r for r in rows if geography.point_of(r["location"]) is not None]
    steps = queries.open_steps(reader.session, {r["id"] for r in located})
    for found in steps.values():
        translate_step_names(found, bundle)
    names = categories_by_code(bundle)
    directory = reader.directory()
    cases: list[dict[str, Any]] = []
    matched = 0
    for row in located:
        shown = lights.case(row, steps.get(row["id"], []))
        colour = shown.colour if shown is not None else None
        if light is not None and colour != light:
            continue
        matched += 1
        if len(cases) < limit:
            cases.append(_case(row, colour, names, directory))
    return {
        "cases": cases,
        "more": matched - len(cases),
        "without_point": len(rows) - len(located),
        "colours": [*lights.colours, HOLD],
    }


def _case(row: dict[str, Any], colour: str | None, names: dict[str, Any], directory: Any) -> dict[str, Any]:
    category = names.get(row["category"])
    unit = directory.units.get(row["grid"])
    return {
        "id": row["id"],
        "code": row["code"],
        "category": row["category"],
        "category_name": category.name if category else row["category"],
        "grid": row["grid"],
        "grid_name": unit.name if unit is not None else row["grid"],
        "state": row["state"],
        "light": colour,
        "placement": row["placement"],
        "lng": row["location"]["lng"],
        "lat": row["location"]["lat"],
    }


def around(reader: Reader, code: str) -> dict[str, Any]:
    """The boundaries an event's map draws: the community (or the smallest unit above a grid) its place lies
    in, with its grids and the units above it."""
    directory = reader.directory()
    if code not in directory.units:
        return geography.feature_collection([])
    chain = directory.ancestors(code)
    community = next((u for u in chain if u.level == "community"), chain[0])
    return units(reader, community.code)
