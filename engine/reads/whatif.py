"""What-if for the workbench: a period's cases of a process, played through one of its versions (a draft, say) as
:mod:`engine.bpmn.whatif` does, counted per step and per case, before the version goes live.

The period is of report (or start) times, in the calendar's days: by default the last full calendar month. At most
:data:`MOST_CASES` cases are played, the newest first; the answer says how many the period holds.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from engine.bpmn import whatif
from engine.errors import Forbidden, NotFound
from engine.org.roles import DESIGN_ROLES
from engine.reads.reader import Reader
from engine.store import statements
from engine.store.db import connection_of
from engine.store.models import Event, ProcessVersion

MOST_CASES = 300
SHOWN_CASES = 50  # the cases listed by name: those that do not run the same first


def last_month(today: date) -> tuple[date, date]:
    """The first and last day of the calendar month before ``today``'s."""
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def what_if(
    reader: Reader, version_id: int, first: date, last: date, most: int = MOST_CASES
) -> dict[str, Any]:
    """The cases of version ``version_id``'s process reported from day ``first`` to day ``last`` (inclusive),
    played as they ran and through that version: the counts of :func:`engine.bpmn.whatif.compared`, the
    period, how many cases it holds and how many were played, and the cases that would not run the same."""
    if not any(reader.actor.has_role(role) for role in DESIGN_ROLES):
        raise Forbidden(
            "only process designers and administrators play a period through a version", code="designer.only"
        )
    session = reader.session
    target = session.get(ProcessVersion, version_id)
    if target is None:
        raise NotFound("no process version {version}", code="version.not_found", version=version_id)
    zone = reader.calendar().timezone
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    in_period = (
        select(Event.id)
        .join(ProcessVersion, ProcessVersion.id == Event.process_version_id)
        .where(
            ProcessVersion.process_id == target.process_id,
            Event.reported_at >= start,
            Event.reported_at < end,
        )
    )
    total = session.scalar(select(func.count()).select_from(in_period.subquery())) or 0
    ids = session.scalars(in_period.order_by(Event.reported_at.desc(), Event.id.desc()).limit(most)).all()
    draft = reader.deployed(version_id)
    runtime_for = reader.versions.runtime_for(session)
    conn = connection_of(session)
    cases = []
    listed: list[dict[str, Any]] = []
    for event_id in ids:
        case = whatif.compare(
            statements.history_since(conn, event_id, 0), runtime_for, (draft.bundle, draft.engine)
        )
        cases.append(case)
        if case.outcome != whatif.SAME and len(listed) < SHOWN_CASES:
            event = statements.event(conn, event_id)
            listed.append(
                {
                    "event": event_id,
                    "code": event.code if event else None,
                    "outcome": case.outcome,
                    "detail": case.detail,
                }
            )
    names = {key: info.name for key, info in draft.bundle.in_language(reader.language).user_tasks.items()}
    found = whatif.compared(cases)
    for row in found["steps"]:
        row["name"] = names.get(row["step"], row["name"] or row["step"])
    return {
        "process": target.process_id,
        "version": version_id,
        "first": first.isoformat(),
        "last": last.isoformat(),
        "in_period": total,
        "played": len(ids),
        **found,
        "listed": listed,
    }
