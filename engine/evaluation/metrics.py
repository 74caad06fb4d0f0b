"""Evaluation (考核评价): the standard counts and rates per period, by department, level, grid, worker or category.

Definitions (shared/DOMAIN.md):

- 立案数 ``opened``: cases opened (立案) in the period; rejected and not-found events are not cases. A case voided
  later (作废) stays in its period's 立案数 and is counted as 作废数 ``voided`` too, never due; 准确立案率
  ``accurate_opening_rate`` = (opened − voided) / opened.
- 应结案数 ``due``: cases that settle in the period — their limit ran out in it (closed or not), or they were
  closed in it before their limit; a case still open inside its limit is not yet due, and a case on hold (挂账)
  or ruled a legacy issue is out of the count while it stays so. Each case is due in exactly one period: the
  one holding the earlier of its closing and its deadline.
- 结案数 ``closed`` and 按期结案数 ``closed_on_time``: of the due cases, those closed (on time).
- 结案率 = closed / due; 按期结案率 = closed_on_time / due; 返工率 = reworked / (opened or due: the
  ``rework_rate_base`` setting); 满意率 = satisfied / followed up (which answers count: ``satisfied_answers``),
  every answer counted: a 不满意 that reopened the case (重办, ``reopen_count``) stays counted after the case is
  answered again.
- ``score``: the weighted sum of the rates (``score_weights``), ×100; by department, less the points of each
  supervision sheet issued to it in the period by the card it reached (``sheet_deductions``: ``sheets`` and
  ``deductions`` in its row).
- By department, cases count against the department that holds them, and each department task against its
  own department: ``tasks_due``/``tasks_late`` — so in a joint meeting only a late support department is charged,
  and a department that sent a case back is not charged with the case's lateness.
- By worker: grid workers' valid reports (those that became cases and were not voided), major ones (handled at
  the district) and
  their reward (``report_rewards``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, true
from sqlalchemy.orm import Session

from engine import settings
from engine.org import people, scope
from engine.store.models import Event, SupervisionSheet, Task

GROUPINGS = ("district", "department", "level", "grid", "community", "town", "category", "worker")
# never opened (立案): not cases at all. A voided case (作废) was opened: it stays in its period's 立案数 and is
# counted as 作废数 besides, but is never due.
NOT_CASES = ("rejected", "not_found", "reported")
VOIDED = "voided"
OFF_THE_CLOCK = ("on_hold", "legacy")


@dataclass
class Counts:
    """The counts of one group in one period."""

    opened: int = 0
    voided: int = 0
    due: int = 0
    closed: int = 0
    closed_on_time: int = 0
    reworked_opened: int = 0
    reworked_due: int = 0
    followed_up: int = 0
    satisfied: int = 0
    tasks_due: int = 0
    tasks_late: int = 0
    valid_reports: int = 0
    major_reports: int = 0


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` to four places (a percentage to two decimals, as the standard prints it); None for 0/0."""
    return round(part / whole, 4) if whole else None


def _settles_at(event: Event) -> datetime | None:
    if event.due_at is None:
        return event.closed_at
    if event.closed_at is not None and event.closed_at < event.due_at:
        return event.closed_at
    return event.due_at


def _group_key(event: Event, by: str, units: dict[str, Any]) -> str | None:
    if by == "district":
        return units.get(event.grid_code, {}).get("district")
    if by == "department":
        return event.department_code
    if by == "level":
        return event.handling_level
    if by == "grid":
        return event.grid_code
    if by == "community":
        return units.get(event.grid_code, {}).get("community")
    if by == "town":
        return units.get(event.grid_code, {}).get("town")
    if by == "category":
        return event.category
    return event.reporter


# the figures a count can be drilled into: the cases (event ids) behind it
FIGURES = (
    "opened",
    "voided",
    "due",
    "closed",
    "closed_on_time",
    "reworked_opened",
    "reworked_due",
    "followed_up",
    "satisfied",
    "tasks_due",
    "tasks_late",
)


def evaluate(
    session: Session,
    start: datetime,
    end: datetime,
    by: str = "department",
    actor: people.Actor | None = None,
    now: datetime | None = None,
    members: dict[tuple[str | None, str], list[int]] | None = None,
) -> list[dict[str, Any]]:
    """The evaluation of the period ``[start, end)`` grouped ``by`` one of :data:`GROUPINGS`, best score first.

    With ``actor``, only the events in the actor's scope count. ``now`` (the engine clock's) ends a period that
    is still running: a case whose limit has not yet run out is not due, whatever period it falls in. With
    ``members``, the ids of the events behind each count are kept in it by (group, figure of :data:`FIGURES`).
    """

    def count(key: str | None, figure: str, event_id: int, yes: bool = True) -> int:
        if yes and members is not None:
            members.setdefault((key, figure), []).append(event_id)
        return int(yes)

    def settled_in_period(moment: datetime) -> bool:
        return start <= moment < end and (now is None or moment <= now)

    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}; use one of {', '.join(GROUPINGS)}")
    base = settings.get(session, "rework_rate_base")
    satisfied_answers = set(settings.get(session, "satisfied_answers"))
    weights = settings.get(session, "score_weights")
    rewards = settings.get(session, "report_rewards")
    units = _unit_paths(session)
    counts: dict[str | None, Counts] = defaultdict(Counts)

    in_scope = scope.event_filter(actor) if actor is not None else true()
    events = session.scalars(
        select(Event).where(
            in_scope,
            Event.state.not_in(NOT_CASES),
            or_(
                and_(Event.opened_at >= start, Event.opened_at < end),
                and_(Event.due_at >= start, Event.due_at < end),
                and_(Event.closed_at >= start, Event.closed_at < end),
            ),
        )
    )
    for event in events:
        key = _group_key(event, by, units)
        group = counts[key]
        if event.opened_at is not None and start <= event.opened_at < end:
            group.opened += count(key, "opened", event.id)
            group.voided += count(key, "voided", event.id, event.state == VOIDED)
            group.reworked_opened += count(key, "reworked_opened", event.id, event.rework_count > 0)
            valid = event.channel == "grid" and event.state != VOIDED
            group.valid_reports += valid
            group.major_reports += valid and event.handling_level == "district"
        if event.state == VOIDED:
            continue
        settles = _settles_at(event)
        if event.state not in OFF_THE_CLOCK and settles is not None and settled_in_period(settles):
            group.due += count(key, "due", event.id)
            group.reworked_due += count(key, "reworked_due", event.id, event.rework_count > 0)
            if event.state == "closed" and event.closed_at is not None and event.closed_at < end:
                group.closed += count(key, "closed", event.id)
                group.closed_on_time += count(key, "closed_on_time", event.id, bool(event.closed_on_time))
            # every answer counts: each reopening (重办) followed a 不满意 answer, and the last answer is the
            # event's satisfaction
            answers = event.reopen_count + (event.satisfaction is not None)
            if answers:
                count(key, "followed_up", event.id)
                group.followed_up += answers
                group.satisfied += count(key, "satisfied", event.id, event.satisfaction in satisfied_answers)

    if by == "department":
        tasks = session.scalars(
            select(Task).where(
                Task.event_id.in_(select(Event.id).where(in_scope)),
                Task.department_code.is_not(None),
                Task.due_at.is_not(None),
                Task.status.in_(("open", "completed")),
                or_(
                    and_(Task.completed_at >= start, Task.completed_at < end),
                    and_(Task.completed_at.is_(None), Task.due_at >= start, Task.due_at < end),
                ),
            )
        )
        for task in tasks:
            assert task.due_at is not None  # as the query asks
            settled = (
                task.completed_at
                if task.completed_at is not None and task.completed_at < task.due_at
                else task.due_at
            )
            if not settled_in_period(settled):
                continue
            group = counts[task.department_code]
            group.tasks_due += count(task.department_code, "tasks_due", task.event_id)
            group.tasks_late += count(
                task.department_code,
                "tasks_late",
                task.event_id,
                task.completed_at is None or task.completed_at > task.due_at,
            )

    deductions: dict[str | None, float] = defaultdict(float)
    sheets: dict[str | None, int] = defaultdict(int)
    if by == "department":
        points = settings.get(session, "sheet_deductions")
        for department, card in session.execute(
            select(SupervisionSheet.department_code, SupervisionSheet.card).where(
                SupervisionSheet.event_id.in_(select(Event.id).where(in_scope)),
                SupervisionSheet.department_code.is_not(None),
                SupervisionSheet.issued_at >= start,
                SupervisionSheet.issued_at < end,
            )
        ):
            sheets[department] += 1
            deductions[department] += points.get(card, 0)
            counts[department]  # a department charged with sheets is listed, even without a case of its own

    rows = []
    for key, c in counts.items():
        rates = {
            "accurate_opening_rate": rate(c.opened - c.voided, c.opened),
            "closure_rate": rate(c.closed, c.due),
            "on_time_rate": rate(c.closed_on_time, c.due),
            "rework_rate": rate(c.reworked_opened, c.opened)
            if base == "opened"
            else rate(c.reworked_due, c.due),
            "satisfaction_rate": rate(c.satisfied, c.followed_up),
            "task_on_time_rate": rate(c.tasks_due - c.tasks_late, c.tasks_due),
        }
        score = sum(weights.get(name, 0) * (value or 0) for name, value in rates.items()) * 100
        row = {"group": key, **c.__dict__, **rates, "score": round(score - deductions[key], 2)}
        if by == "department":
            row["sheets"], row["deductions"] = sheets[key], round(deductions[key], 2)
        if by == "worker":
            row["reward"] = c.valid_reports * rewards.get("valid", 0) + c.major_reports * rewards.get(
                "major", 0
            )
        rows.append(row)
    rows.sort(key=lambda r: (-r["score"], str(r["group"])))
    return rows


def _unit_paths(session: Session) -> dict[str, dict[str, str]]:
    """grid code → {community, town, district} codes (for grouping by the levels above a grid)."""
    from engine.store.models import OrgUnit

    units = {u.code: u for u in session.scalars(select(OrgUnit))}
    paths: dict[str, dict[str, str]] = {}
    for code, unit in units.items():
        if unit.level != "grid":
            continue
        path: dict[str, str] = {}
        current: Any = unit
        while current is not None:
            path[current.level] = current.code
            current = units.get(current.parent_code) if current.parent_code else None
        paths[code] = path
    return paths
