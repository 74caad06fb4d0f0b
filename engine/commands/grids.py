"""The grid on the map: loading the units' boundaries (an administrator's boundary file, GeoJSON), checked
whole before anything is stored (:func:`engine.org.geography.read_boundaries`), with a dry run that says what
would change, and in the admin log (``boundaries``) with the file's SHA-256 and the units it changed."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from shapely.geometry import shape
from sqlalchemy import select

from engine.commands.pipeline import Abandon, Step
from engine.org import geography
from engine.store.models import OrgUnit


def set_boundaries(step: Step, document: Any, dry_run: bool = False) -> dict[str, Any]:
    """Load the boundaries a GeoJSON FeatureCollection gives (administrators; the CLI acts as the system).
    Returns ``units`` (how many the file gives), ``changed`` (the codes whose boundary is new or moved),
    ``uncovered`` (for each unit, the m² of it no child covers — where reports fall to the unit itself) and
    ``dry_run``; a dry run writes nothing."""
    if not step.actor.is_system:
        step.require_role("admin", message="only administrators load boundaries", code="geo.admin_only")
    units = {u.code: u for u in step.session.scalars(select(OrgUnit))}
    found = geography.read_boundaries(document, units)
    every = {code: shape(u.boundary) for code, u in units.items() if u.boundary is not None} | found
    summary: dict[str, Any] = {
        "units": len(found),
        "changed": sorted(
            code for code, g in found.items() if units[code].boundary != geography.as_geojson(g)
        ),
        "uncovered": geography.uncovered(units, every),
        "dry_run": dry_run,
    }
    if dry_run:
        raise Abandon(summary)
    geography.store(units, found)
    step.log(
        "boundaries",
        {
            "units": summary["changed"],
            "sha256": hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest(),
        },
    )
    step.after_commit(step.parts.org.invalidate)
    return summary
