"""The report page (上报): the start form and what it offers the actor."""

from __future__ import annotations

from typing import Any

from engine import settings
from engine.bpmn import forms
from engine.errors import Forbidden
from engine.reads import geography
from engine.reads.labels import category_groups
from engine.reads.reader import Reader


def may_report(reader: Reader, exact: bool = False) -> bool:
    """Whether the actor holds a role the ``report_roles`` setting names (``exact``: read now, not from the
    process's cache of settings — for the page that leads to the command; the navigation may be a little late)."""
    roles = settings.get(reader.session, "report_roles") if exact else reader.settings.value("report_roles")
    return any(reader.actor.has_role(role) for role in roles)


def report_form(reader: Reader) -> dict[str, Any]:
    """What the report page needs: the start form's schema with only the channels open to the actor's roles
    (an intake clerk is not offered the grid worker's patrol), categories by class, the grids the actor may
    report in (grids of their own, non-department scopes), the default grid (their own, if just one) and
    channel, and whether any offered channel may be self-handled.
    :class:`~engine.errors.Forbidden` for roles that do not report (the command refuses them too)."""
    if not may_report(reader, exact=True):
        raise Forbidden("your roles do not report events", code="report.role_not_allowed")
    bundle = reader.bundle()
    actor = reader.actor
    schema = reader.form(bundle, bundle.start_form)
    held = {a.role for a in actor.assignments if a.department_code is None}
    channels = [c for c in forms.choices(schema, "channel") if forms.open_to(c, held)]
    channel = schema.get("properties", {}).get("channel")
    if channel is not None:
        channel["oneOf"] = channels
    # the channel kept for the actor's roles (a grid worker's patrol), else the form's default, as the command
    # takes a report without one
    kept = [c["const"] for c in channels if forms.ROLES_KEY in c]
    kept += [c["const"] for c in channels if channel is not None and c["const"] == channel.get("default")]
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
        "default_channel": kept[0] if kept else None,
        # only the channels whose choice says so may be self-handled: nobody else is offered the choice
        "can_self_handle": any(c.get(forms.SELF_HANDLE_KEY) for c in channels),
        # the boundaries the form's map draws, to place the report by a tap
        "units": geography.units(reader, scopes[0] if len(scopes) == 1 else None),
    }
