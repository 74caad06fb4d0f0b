"""The grid on the map: loading the units' boundaries (an administrator's boundary file, GeoJSON), checked
whole before anything is stored (:func:`engine.org.geography.read_boundaries`), with a dry run that says what
would change, and in the admin log (``boundaries``) with the file's SHA-256 and the units it changed; and
re-dividing a community's grids (:func:`redivide`)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from shapely.geometry import shape
from sqlalchemy import select

from engine.commands.pipeline import Abandon, Step
from engine.org import division, geography
from engine.store.models import OrgUnit, RoleAssignment, Task, User


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


def redivide(step: Step, community: str, document: Any, dry_run: bool = False) -> dict[str, Any]:
    """Re-divide a community's grids into those a GeoJSON FeatureCollection gives
    (:func:`engine.org.division.plan_division`; administrators, or the system). What moves, by one rule —
    each grid that ends goes to its successor, the grid of the new division with the largest share of its area:

    - the grid that ends gets an end date (now) and its successor, and keeps its code, its cases, their history
      and its statistics (a period spanning the change counts each case in the grid it was reported in);
    - new grids get the community's next free codes in the standard's order, valid from now;
    - the grid workers of an ended grid move to its successor (one who holds the role there already keeps that);
    - the open inbox rows of an ended grid move to its successor — each case records ``rescoped`` with the rows
      it moved — and every later step of those cases is offered there;
    - a kept grid whose boundary the file moves gets it.

    Returns the plan (``ended``, ``new`` with codes, names, ``successors``, ``staff`` and ``tasks`` moved,
    ``reshaped``) and ``dry_run``; a dry run changes nothing. In the admin log as ``redivided``."""
    if not step.actor.is_system:
        step.require_role("admin", message="only administrators re-divide grids", code="geo.admin_only")
    session = step.session
    units = {u.code: u for u in session.scalars(select(OrgUnit))}
    plan = division.plan_division(units, community, document)
    moving = {old: new for old, new in plan.successors.items() if new is not None}
    staff = session.scalars(
        select(RoleAssignment).where(
            RoleAssignment.scope_code.in_(sorted(moving)), RoleAssignment.department_code.is_(None)
        )
    ).all()
    usernames = dict(
        session.execute(select(User.id, User.username).where(User.id.in_({a.user_id for a in staff}))).all()
    )
    tasks = session.scalars(
        select(Task)
        .where(Task.status == "open", Task.department_code.is_(None), Task.scope_code.in_(sorted(moving)))
        .order_by(Task.id)
    ).all()
    summary: dict[str, Any] = {
        "community": community,
        "ended": list(plan.ended),
        "new": [{"code": g.code, "name": g.name} for g in plan.new],
        "kept": list(plan.kept),
        "reshaped": sorted(plan.reshaped),
        "successors": plan.successors,
        "staff": [
            {
                "username": usernames.get(a.user_id),
                "role": a.role,
                "from": a.scope_code,
                "to": moving[a.scope_code],
            }
            for a in staff
        ],
        "tasks": [
            {"task": t.id, "event": t.event_id, "from": t.scope_code, "to": moving[t.scope_code]}
            for t in tasks
        ],
        "dry_run": dry_run,
    }
    if dry_run:
        raise Abandon(summary)
    if not plan.ended and not plan.new and not plan.reshaped:
        raise Abandon(summary)  # the division is the one in force: nothing to do
    now = step.now
    for grid in plan.new:
        session.add(
            OrgUnit(
                code=grid.code,
                name=grid.name,
                level="grid",
                parent_code=community,
                boundary=geography.as_geojson(grid.shape),
                valid_from=now,
            )
        )
    for code, found in plan.reshaped.items():
        units[code].boundary = geography.as_geojson(found)
    for code in plan.ended:
        units[code].valid_to, units[code].successor_code = now, plan.successors[code]
    session.flush()
    held = {(a.user_id, a.role, a.scope_code) for a in session.scalars(select(RoleAssignment))}
    for assignment in staff:
        target = moving[assignment.scope_code]
        if (assignment.user_id, assignment.role, target) in held:
            session.delete(assignment)
        else:
            assignment.scope_code = target
    by_event: dict[int, dict[str, str]] = {}
    for task in tasks:
        by_event.setdefault(task.event_id, {})[str(task.id)] = moving[task.scope_code]
        task.scope_code = moving[task.scope_code]
    session.flush()
    for event_id, rows in sorted(by_event.items()):
        step.record(step.event(event_id), "rescoped", {"rows": rows, "community": community})
    step.log(
        "redivided",
        {
            "community": community,
            "ended": list(plan.ended),
            "new": [g.code for g in plan.new],
            "reshaped": sorted(plan.reshaped),
            "successors": plan.successors,
            "staff": len(staff),
            "tasks": len(tasks),
            "sha256": hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest(),
        },
    )
    step.after_commit(step.parts.org.invalidate)
    return summary
