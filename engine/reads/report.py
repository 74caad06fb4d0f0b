"""The report page (上报): the start form and what it offers the actor."""

from __future__ import annotations

from typing import Any

from engine import settings
from engine.errors import Forbidden
from engine.reads.labels import category_groups
from engine.reads.reader import Reader


def may_report(reader: Reader, exact: bool = False) -> bool:
    """Whether the actor holds a role the ``report_roles`` setting names (``exact``: read now, not from the
    process's cache of settings — for the page that leads to the command; the navigation may be a little late)."""
    roles = settings.get(reader.session, "report_roles") if exact else reader.settings.value("report_roles")
    return any(reader.actor.has_role(role) for role in roles)


def report_form(reader: Reader) -> dict[str, Any]:
    """What the report page needs: the start form's schema, categories by class, the grids the actor may
    report in (grids of their own, non-department scopes) and the default grid (their own, if just one).
    :class:`~engine.errors.Forbidden` for roles that do not report (the command refuses them too)."""
    if not may_report(reader, exact=True):
        raise Forbidden("your roles do not report events", code="report.role_not_allowed")
    bundle = reader.bundle()
    actor = reader.actor
    schema = reader.form(bundle, bundle.start_form)
    scopes = [a.scope_code for a in actor.assignments if a.department_code is None]
    own = [a.scope_code for a in actor.assignments if a.role == "grid_worker"]
    grids = [
        {"code": g.code, "name": g.name}
        for g in reader.directory().grids()
        if any(g.code.startswith(s) for s in scopes)
    ]
    return {
        "schema": schema,
        "categories": category_groups(bundle),
        "grids": grids,
        "default_grid": own[0] if len(own) == 1 else None,
        # only a grid worker's own patrol report may be self-handled: nobody else is offered the choice
        "can_self_handle": bool(own),
    }
