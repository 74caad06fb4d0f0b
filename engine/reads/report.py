"""The report page (上报): the start form and what it offers the actor."""

from __future__ import annotations

from typing import Any

from engine.reads.labels import category_groups
from engine.reads.reader import Reader


def report_form(reader: Reader) -> dict[str, Any]:
    """What the report page needs: the start form's schema, categories by class, the grids the actor may
    report in (grids of their own, non-department scopes) and the default grid (their own, if just one)."""
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
    }
