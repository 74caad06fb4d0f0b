"""Writing the monthly evaluation report (:mod:`engine.evaluation.monthly`): by an evaluator, an auditor or an
administrator for any month up to the current one, or by the system — the scheduler, on the first of each month,
for the month just ended (:func:`write_due`), and the CLI. Each report is kept as written and is in the admin log
(``monthly_report``) with its period, id and SHA-256."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from sqlalchemy import select

from engine import settings
from engine.commands.pipeline import Abandon, Step
from engine.errors import FieldError, Forbidden, NotDeployed, ValidationFailed
from engine.evaluation import monthly
from engine.reads.labels import display_names
from engine.reads.monthly_reports import REPORT_ROLES
from engine.store.models import MonthlyReport


def require_reader(actor: Any) -> None:
    """Refuse those who may not write or read the district's monthly reports."""
    if not actor.is_system and not any(actor.has_role(role) for role in REPORT_ROLES):
        raise Forbidden(
            "the monthly reports are for evaluators, auditors and administrators", code="report.not_allowed"
        )


def _names(step: Step, found: monthly.Figures) -> dict[str, dict[str, str]]:
    directory = step.parts.org.directory(step.session)
    process = settings.default_report_process(step.parts.settings.value("report_processes", step.session))
    try:
        categories = step.parts.versions.shown(step.session, process).bundle.categories
    except NotDeployed:  # nothing deployed yet: the categories are named by their codes
        categories = []
    workers = {r["group"] for r in found.tables["worker"]} | {r["staff"] for r in found.tables["position"]}
    return {
        "unit": {code: unit.name for code, unit in directory.units.items()},
        "department": {code: d.name for code, d in directory.departments.items()},
        "category": {c.code: f"{c.class_name} / {c.name}" for c in categories},
        "worker": display_names(step.session, workers),
    }


def write(step: Step, period: str) -> dict[str, Any]:
    """Write and keep the report of ``period`` (``YYYY-MM``, not after the current month)."""
    require_reader(step.actor)
    zone = step.parts.settings.calendar(step.session).timezone
    try:
        first = monthly.month_of(period)
    except ValueError:
        raise ValidationFailed(
            "{period} is not a month (YYYY-MM)", {"period": [FieldError("month")]}, period=period
        ) from None
    if first > step.now.astimezone(zone).date().replace(day=1):
        raise ValidationFailed(
            "{period} has not begun", {"period": [FieldError("month_ahead")]}, period=period
        )
    found = monthly.figures(step.session, period, zone, step.now)
    content = monthly.workbook(found, _names(step, found))
    report = MonthlyReport(
        period=period,
        written_at=step.now,
        written_by=step.actor.username,
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        content=content,
    )
    step.session.add(report)
    step.session.flush()
    step.log("monthly_report", {"period": period, "report": report.id, "sha256": report.sha256})
    return {"id": report.id, "period": period, "size": report.size, "sha256": report.sha256}


def last_month(today: date) -> str:
    """The month before ``today``'s, as ``YYYY-MM``."""
    first = monthly.previous(today.replace(day=1))
    return f"{first.year:04d}-{first.month:02d}"


def write_due(step: Step) -> dict[str, Any] | None:
    """Write the report of the month just ended unless one is kept already (nothing to do: None) — what each
    scheduler asks at start and on the first of each month, so that several schedulers write it once."""
    zone = step.parts.settings.calendar(step.session).timezone
    period = last_month(step.now.astimezone(zone).date())
    if step.session.scalar(select(MonthlyReport.id).where(MonthlyReport.period == period).limit(1)):
        raise Abandon(None)
    return write(step, period)
