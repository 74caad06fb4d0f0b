"""The boards: supervision (督办) — the sheets by department and card — and evaluation (考核评价) — the
indicators of a period by department, level, grid, category or worker."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.errors import FieldError, Forbidden, ValidationFailed
from engine.evaluation import metrics, positions
from engine.org.people import Actor
from engine.reads import geography, queries
from engine.reads.labels import (
    categories_by_code,
    department_name,
    describe_category,
    display_names,
    unit_name,
)
from engine.reads.lights import Lights
from engine.reads.reader import Reader
from engine.supervision import rules
from engine.time import timelights

EVALUATION_ROLES = ("evaluator", "supervisor", "shift_leader", "auditor", "admin")


def supervision_board(reader: Reader, status: str = "open") -> dict[str, Any]:
    """The supervision board: the sheets of ``status`` the actor may see (:func:`engine.reads.queries.sheet_board`),
    grouped by whom they are charged to — a department, or a platform step's role within its scope — the most
    severe card first, with the names people read, each case's light (:meth:`engine.reads.lights.Lights.case`),
    a leader's instruction's reply light (:meth:`engine.reads.lights.Lights.reply`) and the number of sheets of
    each card."""
    session = reader.session
    rows = queries.sheet_board(session, reader.actor, status)
    lights = Lights.of(reader, reader.bundle())
    directory = reader.directory()
    names = display_names(session, {r["issued_by"] for r in rows} | {r["replied_by"] for r in rows})
    steps = queries.open_steps(session, {r["event_id"] for r in rows})
    reply_limits = reader.settings.value("sheet_reply_limits", session)
    groups: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        limit = reply_limits.get(row["kind"])
        row["reply_light"] = lights.reply(row, limit[1]) if limit else None
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


def _require_evaluator(actor: Actor) -> None:
    if not any(r in actor.roles for r in EVALUATION_ROLES):
        raise Forbidden(
            "evaluation is for evaluators, supervisors, shift leaders, auditors and admins",
            code="evaluation.not_allowed",
        )


def evaluation(
    reader: Reader, start: datetime, end: datetime, by: str = "department", as_of: datetime | None = None
) -> list[dict[str, Any]]:
    """The evaluation of ``[start, end)`` for the events in the actor's scope, grouped ``by``, as it stands
    ``as_of`` (default: the engine clock's now); see :mod:`engine.evaluation.metrics`. Refused to those without
    an evaluation role."""
    actor = reader.actor
    _require_evaluator(actor)
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


def position_board(
    reader: Reader, start: datetime, end: datetime, as_of: datetime | None = None
) -> list[dict[str, Any]]:
    """The position evaluation of ``[start, end)`` for the events in the actor's scope
    (:func:`engine.evaluation.positions.evaluate`), each row with the staff member's display ``name``.
    Refused to those without an evaluation role."""
    _require_evaluator(reader.actor)
    rows = positions.evaluate(reader.session, start, end, reader.actor, now=as_of or reader.now())
    names = display_names(reader.session, {r["staff"] for r in rows})
    for row in rows:
        row["name"] = names.get(row["staff"], row["staff"])
    return rows


def level_flow(reader: Reader, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Each level's part in the period's cases — came to it, reported up (上报), closed by it (办结) — from the grid
    up (:func:`engine.evaluation.metrics.levels`), for the events in the actor's scope. Refused to those without
    an evaluation role."""
    _require_evaluator(reader.actor)
    return metrics.levels(reader.session, start, end, reader.actor)


TREND_MONTHS = 12
TOP_CATEGORIES = 10
SCORE_TERMS = ("closure_rate", "on_time_rate", "rework_rate", "satisfaction_rate", "task_on_time_rate")


def _month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _months_back(first: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """The ``count`` calendar months ending with the one that starts at ``first``, oldest first."""
    months = []
    start = first
    for _ in range(count):
        following = (start + timedelta(days=32)).replace(day=1)
        months.append((start, following))
        start = (start - timedelta(days=1)).replace(day=1)
    return list(reversed(months))


def grid_heat(reader: Reader, start: datetime, end: datetime) -> dict[str, Any] | None:
    """The grid heat-map: the current grids' boundaries (:func:`engine.reads.geography.units`) and each grid's
    cases opened in the period with its closure and on-time rates (:func:`evaluation` by grid, in the actor's
    scope; a grid without cases counts 0); None when no grid has a boundary."""
    features = [f for f in geography.units(reader)["features"] if f["properties"]["level"] == "grid"]
    if not features:
        return None
    found = {r["group"]: r for r in evaluation(reader, start, end, "grid")}
    grids = []
    for feature in features:
        code = feature["properties"]["code"]
        row = found.get(code, {})
        grids.append(
            {
                "group": code,
                "name": feature["properties"]["name"],
                "opened": row.get("opened", 0),
                "closure_rate": row.get("closure_rate"),
                "on_time_rate": row.get("on_time_rate"),
            }
        )
    return {"map": {"type": "FeatureCollection", "features": features}, "grids": grids}


def dashboard_charts(reader: Reader, start: datetime, end: datetime) -> dict[str, Any]:
    """What the dashboard's charts draw, for the events in the actor's scope: the trend of the twelve months up to
    the period's end (cases opened and closed, closure and on-time rates), the period's cases by category and by
    channel, and the departments' ranking with the weighted terms of their score (the sheets' deductions a
    negative one). Every figure is
    :func:`evaluation`'s (the table's), each a rate as a fraction."""
    zone = start.tzinfo
    _require_evaluator(reader.actor)
    months = _months_back(_month_start((end - timedelta(seconds=1)).astimezone(zone)), TREND_MONTHS)
    trend = [
        {
            "month": f"{row['start'].year:04d}-{row['start'].month:02d}",
            "from": row["start"].date().isoformat(),
            "to": (row["end"] - timedelta(days=1)).date().isoformat(),
            **{name: row[name] for name in (*metrics.TREND_FIGURES, "closure_rate", "on_time_rate")},
        }
        for row in metrics.trend(reader.session, months, reader.actor, now=reader.now())
    ]
    categories = {c.code: c for c in reader.bundle().categories}
    by_category = sorted(
        (r for r in evaluation(reader, start, end, "category") if r["opened"]),
        key=lambda r: (-r["opened"], str(r["group"])),
    )[:TOP_CATEGORIES]
    channels = queries.opened_by_channel(reader.session, reader.actor, start, end)
    weights = reader.settings.value("score_weights", reader.session)
    directory = reader.directory()
    departments = [
        {
            "group": r["group"],
            "name": department_name(directory, r["group"]),
            "score": r["score"],
            "terms": {t: round(100 * weights.get(t, 0) * (r[t] or 0), 2) for t in SCORE_TERMS}
            | {"deductions": -r["deductions"]},
            "opened": r["opened"],
            "tasks_late": r["tasks_late"],
        }
        for r in evaluation(reader, start, end, "department")
        if r["group"] is not None
    ]
    return {
        "lights": light_board(reader),
        "heat": grid_heat(reader, start, end),
        "trend": trend,
        "categories": [
            {
                "group": r["group"],
                "name": categories[r["group"]].name if r["group"] in categories else r["group"],
                "class_name": categories[r["group"]].class_name if r["group"] in categories else "",
                "opened": r["opened"],
            }
            for r in by_category
        ],
        "channels": [{"channel": channel, "opened": n} for channel, n in channels],
        "departments": departments,
        "terms": [*SCORE_TERMS, "deductions"],
    }


def light_board(reader: Reader) -> dict[str, Any]:
    """The time-light board (时间灯看板): the departments' open tasks in the actor's scope counted by the light
    each was last recorded with (a task not yet recorded shows the scheme's first colour), worst first — what is
    red, then yellow, now; counted by the database, as the scheduler's scans keep the lights."""
    scheme = timelights.load_scheme(reader.session)
    colours = list(scheme.colours)
    counts: dict[str | None, dict[str, int]] = {}
    for department, colour, number in queries.department_task_lights(reader.session, reader.actor):
        shown = colour if colour in colours else colours[0]
        row = counts.setdefault(department, dict.fromkeys(colours, 0))
        row[shown] += number
    directory = reader.directory()
    worst_first = sorted(
        counts.items(), key=lambda item: ([-item[1][c] for c in reversed(colours)], str(item[0]))
    )
    rows = [
        {"group": code, "name": department_name(directory, code), "counts": row, "total": sum(row.values())}
        for code, row in worst_first
    ]
    return {"colours": colours, "departments": rows}


def light_cases(reader: Reader, department: str, colour: str) -> list[dict[str, Any]]:
    """The cases behind one count of the time-light board (:func:`light_board`): the department's open tasks of
    ``colour`` in the actor's scope (a task not yet recorded counts as the scheme's first colour), listed as
    :func:`evaluation_cases` lists them."""
    _require_evaluator(reader.actor)
    colours = list(timelights.load_scheme(reader.session).colours)
    if colour not in colours:
        raise _no_such_figure(colour, colours)
    ids = queries.department_light_cases(reader.session, reader.actor, department, tuple(colours), colour)
    return _case_rows(reader, ids)


def flow_cases(
    reader: Reader, start: datetime, end: datetime, level: str, figure: str
) -> list[dict[str, Any]]:
    """The cases behind one count of the 逐级上报 table (:func:`level_flow`), listed as :func:`evaluation_cases`
    lists them."""
    _require_evaluator(reader.actor)
    if figure not in metrics.LEVEL_FIGURES or level not in metrics.LEVELS_UP:
        raise _no_such_figure(figure, metrics.LEVEL_FIGURES)
    return _case_rows(reader, metrics.level_cases(reader.session, start, end, level, figure, reader.actor))


def position_cases(
    reader: Reader, start: datetime, end: datetime, staff: str, figure: str
) -> list[dict[str, Any]]:
    """The cases behind one count of the position table (:func:`position_board`): ``figure`` (of
    :data:`engine.evaluation.positions.FIGURES`) of the staff member ``staff``, listed as
    :func:`evaluation_cases` lists them."""
    _require_evaluator(reader.actor)
    if figure not in positions.FIGURES:
        raise _no_such_figure(figure, positions.FIGURES)
    ids = positions.cases(reader.session, start, end, staff, figure, reader.actor, now=reader.now())
    return _case_rows(reader, ids)


def _no_such_figure(figure: str, choices: Any) -> ValidationFailed:
    return ValidationFailed(
        "no figure {figure}",
        {"figure": [FieldError("not_a_choice_of", {"choices": ", ".join(choices)})]},
        figure=figure,
    )


def _case_rows(reader: Reader, ids: list[int]) -> list[dict[str, Any]]:
    rows = queries.events_by_id(reader.session, ids)
    categories, directory = categories_by_code(reader.bundle()), reader.directory()
    for row in rows:
        describe_category(row, categories, reader.process_name)
        row["grid_name"] = unit_name(directory, row["grid"])
    return rows


def evaluation_cases(
    reader: Reader, start: datetime, end: datetime, by: str, group: str | None, figure: str
) -> list[dict[str, Any]]:
    """The cases behind one figure of the evaluation table (``figure`` of :data:`metrics.FIGURES` for the row
    ``group`` grouped ``by``), as the table counted them: code, category (and its name), grid (and its name),
    state, report time."""
    if figure not in metrics.FIGURES:
        raise _no_such_figure(figure, metrics.FIGURES)
    actor = reader.actor
    _require_evaluator(actor)
    return _case_rows(
        reader, metrics.cases(reader.session, start, end, by, group, figure, actor, now=reader.now())
    )
