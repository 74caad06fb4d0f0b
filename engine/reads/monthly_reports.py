"""The kept monthly evaluation reports (:mod:`engine.commands.reports`), for evaluators, auditors and
administrators: the list, and one report's file."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.errors import Forbidden, NotFound
from engine.reads.labels import display_names
from engine.reads.reader import Reader
from engine.store.models import MonthlyReport

REPORT_ROLES = ("evaluator", "auditor", "admin")


def _require(reader: Reader) -> None:
    if not reader.actor.is_system and not any(reader.actor.has_role(r) for r in REPORT_ROLES):
        raise Forbidden(
            "the monthly reports are for evaluators, auditors and administrators", code="report.not_allowed"
        )


def monthly_reports(reader: Reader) -> list[dict[str, Any]]:
    """Every kept report, newest first: id, period, who wrote it (and their display name) and when, size,
    SHA-256."""
    _require(reader)
    rows = reader.session.execute(
        select(
            MonthlyReport.id,
            MonthlyReport.period,
            MonthlyReport.written_at,
            MonthlyReport.written_by,
            MonthlyReport.size,
            MonthlyReport.sha256,
        ).order_by(MonthlyReport.period.desc(), MonthlyReport.id.desc())
    )
    found = [dict(row._mapping) for row in rows]
    names = display_names(reader.session, {r["written_by"] for r in found})
    for row in found:
        row["written_by_name"] = names.get(row["written_by"])  # None: the scheduler or the CLI, no user
    return found


def monthly_report(reader: Reader, report_id: int) -> tuple[str, bytes]:
    """A report's download name (``月度考核报告-2026-11.xlsx``) and its content."""
    _require(reader)
    report = reader.session.get(MonthlyReport, report_id)
    if report is None:
        raise NotFound("no monthly report {report}", code="report.not_found", report=report_id)
    return f"月度考核报告-{report.period}.xlsx", report.content
