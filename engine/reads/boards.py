"""The boards: supervision (督办) — the sheets by department and card — and evaluation (考核评价) — the
indicators of a period by department, level, grid, category or worker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.errors import Forbidden
from engine.evaluation import metrics
from engine.reads import queries
from engine.reads.labels import (
    department_name,
    describe_category,
    display_names,
    unit_name,
)
from engine.reads.lights import Lights
from engine.reads.reader import Reader
from engine.supervision import rules

EVALUATION_ROLES = ("evaluator", "supervisor", "shift_leader", "auditor", "admin")


def supervision_board(reader: Reader, status: str = "open") -> dict[str, Any]:
    """The supervision board: the sheets of ``status`` the actor may see (:func:`engine.reads.queries.sheet_board`),
    grouped by whom they are charged to — a department, or a platform step's role within its scope — the most
    severe card first, with the names people read, each case's light (:meth:`engine.reads.lights.Lights.case`)
    and the number of sheets of each card."""
    session = reader.session
    rows = queries.sheet_board(session, reader.actor, status)
    lights = Lights.of(reader, reader.bundle())
    directory = reader.directory()
    names = display_names(session, {r["issued_by"] for r in rows} | {r["replied_by"] for r in rows})
    steps = queries.open_steps(session, {r["event_id"] for r in rows})
    groups: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        describe_category(row, lights.categories, reader.process_name)
        row["grid_name"] = unit_name(directory, row["grid"])
        row["scope_name"] = unit_name(directory, row["scope"]) if row["scope"] else None
        # a display name; None for an actor that is no user (the scheduler, the CLI), which pages call 系统
        row["issued_by_name"] = names.get(row["issued_by"])
        row["replied_by_name"] = names.get(row["replied_by"])
        row["light"] = lights.case(row, steps.get(row["event_id"], []))
        key = row["department"] or (f"{row['role']}@{row['scope']}" if row["role"] else None)
        group = groups.setdefault(
            key,
            {
                "code": key,
                "name": department_name(directory, row["department"]),
                "role": row["role"],
                "scope_name": row["scope_name"],
                "rows": [],
            },
        )
        group["rows"].append(row)
    cards = {card: sum(1 for r in rows if r["card"] == card) for card in rules.CARDS}
    return {"status": status, "groups": list(groups.values()), "total": len(rows), "cards": cards}


def evaluation(
    reader: Reader, start: datetime, end: datetime, by: str = "department", as_of: datetime | None = None
) -> list[dict[str, Any]]:
    """The evaluation of ``[start, end)`` for the events in the actor's scope, grouped ``by``, as it stands
    ``as_of`` (default: the engine clock's now); see :mod:`engine.evaluation.metrics`. Refused to those without
    an evaluation role."""
    actor = reader.actor
    if not any(r in actor.roles for r in EVALUATION_ROLES):
        raise Forbidden(
            "evaluation is for evaluators, supervisors, shift leaders, auditors and admins",
            code="evaluation.not_allowed",
        )
    return metrics.evaluate(reader.session, start, end, by, actor, now=as_of or reader.now())


def evaluation_board(
    reader: Reader, start: datetime, end: datetime, by: str = "department"
) -> list[dict[str, Any]]:
    """The evaluation of ``[start, end)`` grouped ``by`` (:func:`evaluation`), each row with ``name``: the
    department's, unit's or category's name or the worker's display name; ``None`` for a level (the page names
    levels) or a case not yet assigned."""
    rows = evaluation(reader, start, end, by)
    groups = {r["group"] for r in rows}
    directory = reader.directory()
    names = display_names(reader.session, groups) if by == "worker" else {}
    categories = {c.code: c.name for c in reader.bundle().categories} if by == "category" else {}
    for row in rows:
        code = row["group"]
        if code is None or by == "level":
            row["name"] = None
        elif by == "department":
            row["name"] = department_name(directory, code)
        elif by == "worker":
            row["name"] = names.get(code, code)
        elif by == "category":
            row["name"] = categories.get(code, code)
        else:
            row["name"] = unit_name(directory, code)
    return rows
