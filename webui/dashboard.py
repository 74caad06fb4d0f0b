"""The evaluation dashboard (考核评价): counts, rates and scores of a period per department, grid, worker….

``/dashboard?from=YYYY-MM-DD&to=YYYY-MM-DD&by=department``: ``from`` and ``to`` are the first and the last day of
the period, both included, in the calendar's zone; the engine is asked for ``[from 00:00, day after to 00:00)``,
the same period as ``gridloop metrics --from FROM --to DAY-AFTER-TO`` (whose ``--to`` is exclusive). Without
dates the period is the current month. A date that is not one, an end before the start or an unknown grouping
comes back next to its field with 400. Those without an evaluation role get 403 from the engine.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from engine.commands.reports import last_month
from engine.errors import ValidationFailed
from engine.evaluation.metrics import FIGURES, GROUPINGS, LEVEL_FIGURES, LEVELS_UP
from engine.evaluation.positions import FIGURES as POSITION_FIGURES
from engine.reads.boards import (
    EVALUATION_ROLES,
    dashboard_charts,
    evaluation_board,
    evaluation_cases,
    flow_cases,
    level_flow,
    light_cases,
    position_board,
    position_cases,
)
from engine.reads.monthly_reports import REPORT_ROLES, monthly_report, monthly_reports
from webui import errors as error_texts
from webui.context import gridloop, reader, username
from webui.i18n import field_message, translate

bp = Blueprint("dashboard", __name__)


@bp.app_template_global()
def sees_dashboard() -> bool:
    """Whether the navigation offers the evaluation dashboard to the signed-in user."""
    user = g.get("user")
    return user is not None and any(user.has_role(role) for role in EVALUATION_ROLES)


def _this_month(today: date) -> tuple[date, date]:
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


# the page's groupings: the evaluation's, and the positions (岗位评价: a table per position)
PAGE_GROUPINGS = (*GROUPINGS, "position")


@bp.get("/dashboard")
def index() -> tuple[str, int]:
    """The evaluation of the chosen period, one row per group, best score first."""
    zone = reader().calendar().timezone
    first, last = _this_month(reader().now().astimezone(zone).date())
    values = {
        "from": request.args.get("from", "").strip() or first.isoformat(),
        "to": request.args.get("to", "").strip() or last.isoformat(),
        "by": request.args.get("by", "").strip() or "department",
    }
    errors: dict[str, list[str]] = {}
    days: dict[str, date] = {}
    for name in ("from", "to"):
        try:
            days[name] = date.fromisoformat(values[name])
        except ValueError:
            errors[name] = [translate("dashboard.bad_date")]
    if not errors and days["to"] < days["from"]:
        errors["to"] = [translate("dashboard.end_before_start")]
    if values["by"] not in PAGE_GROUPINGS:
        errors["by"] = [translate("dashboard.bad_grouping")]
    rows: list[dict[str, Any]] = []
    positions: dict[str, list[dict[str, Any]]] = {}
    charts: dict[str, Any] | None = None
    flow: list[dict[str, Any]] = []
    if errors:
        if not sees_dashboard():
            abort(403)
    else:
        start = datetime.combine(days["from"], time(), tzinfo=zone)
        end = datetime.combine(days["to"] + timedelta(days=1), time(), tzinfo=zone)
        if values["by"] == "position":
            for row in position_board(reader(), start, end):
                positions.setdefault(row["position"], []).append(row)
        else:
            rows = evaluation_board(reader(), start, end, values["by"])
            if values["by"] == "level":
                flow = level_flow(reader(), start, end)
        charts = dashboard_charts(reader(), start, end)
    page = render_template(
        "dashboard.html",
        rows=rows,
        positions=positions,
        flow=flow,
        values=values,
        errors=errors,
        groupings=PAGE_GROUPINGS,
        charts=charts,
    )
    return page, 400 if errors else 200


@bp.get("/dashboard/cases")
def cases() -> tuple[str, int]:
    """The cases behind one figure of the evaluation table: ``?from=&to=&by=&group=&figure=`` (``group`` empty
    for the row of no group), listed as the table counted them; ``by=levels`` (``group`` a level, ``figure``
    entered / reported_up / closed_here) for the 逐级上报 table, ``by=lights`` (``group`` a department,
    ``figure`` a colour) for the time-light board and ``by=position`` (``group`` a staff member's username) for
    the position tables."""
    values = {name: request.args.get(name, "").strip() for name in ("from", "to", "by", "group", "figure")}
    try:
        first, last = date.fromisoformat(values["from"]), date.fromisoformat(values["to"])
    except ValueError:
        abort(400)
    by, figure, group = values["by"], values["figure"], values["group"] or None
    known = (
        (by in GROUPINGS and figure in FIGURES)
        or (by == "levels" and figure in LEVEL_FIGURES and group in LEVELS_UP)
        or (by == "lights" and group is not None)
        or (by == "position" and figure in POSITION_FIGURES and group is not None)
    )
    if not known or last < first:
        abort(400)
    zone = reader().calendar().timezone
    start = datetime.combine(first, time(), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone)
    try:
        if by == "levels":  # the 逐级上报 table: a level's cases that came to it, went up, closed there
            rows = flow_cases(reader(), start, end, str(group), figure)
        elif by == "lights":  # the time-light board: a department's open tasks of one colour, now
            rows = light_cases(reader(), str(group), figure)
        elif by == "position":  # a position table: a staff member's steps (or reports) of one figure
            rows = position_cases(reader(), start, end, str(group), figure)
        else:
            rows = evaluation_cases(reader(), start, end, by, group, figure)
    except ValidationFailed:
        abort(400)
    # the figure's name: a level table's or a light's; the page names an evaluation figure itself
    label = {
        "levels": f"dashboard.levels.{figure}",
        "lights": f"light.{figure}",
        "position": f"dashboard.{figure}",
    }.get(by)
    page = render_template(
        "dashboard_cases.html", rows=rows, values=values, figure_label=translate(label) if label else None
    )
    return page, 200


@bp.app_template_global()
def channel_labels(channels: list[dict[str, Any]]) -> dict[str, str]:
    """The channels' names as staff read them, by code."""
    return {c["channel"]: translate(f"channel.{c['channel']}", default=c["channel"]) for c in channels}


@bp.app_template_global()
def sees_reports() -> bool:
    """Whether the dashboard offers the monthly reports (evaluators, auditors, administrators)."""
    user = g.get("user")
    return user is not None and any(user.has_role(role) for role in REPORT_ROLES)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _reports_page(period: str, problem: str | None = None, status: int = 200) -> tuple[str, int]:
    page = render_template(
        "dashboard_reports.html", reports=monthly_reports(reader()), period=period, problem=problem
    )
    return page, status


@bp.get("/dashboard/reports")
def reports() -> tuple[str, int]:
    """The kept monthly reports, newest first, and the form that writes one (last month by default)."""
    today = reader().now().astimezone(reader().calendar().timezone).date()
    return _reports_page(last_month(today))


@bp.post("/dashboard/reports")
def write_report() -> BaseResponse | tuple[str, int]:
    """Write and keep the report of the posted month (``period``, YYYY-MM); the list again, with the new one."""
    period = request.form.get("period", "").strip()
    try:
        written = gridloop().write_monthly_report(username(), period)
    except ValidationFailed as exc:
        found = exc.errors.get("period")
        return _reports_page(period, field_message(found[0]) if found else error_texts.message(exc), 400)
    flash(translate("monthly.written", period=written["period"]), "success")
    return redirect(url_for("dashboard.reports"), code=303)


@bp.get("/dashboard/reports/<int:report_id>.xlsx")
def download_report(report_id: int) -> Response:
    """One kept report's workbook, as a download named after its month."""
    name, content = monthly_report(reader(), report_id)
    response = Response(content, mimetype=XLSX)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response
