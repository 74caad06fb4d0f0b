"""Position evaluation (岗位评价): each staff member in each platform position they worked in a period.

A position is judged on the steps it completes (shared/DOMAIN.md, "Positions"), each against its own step limit
(a step without a limit is on time):

- 立案 is the step that opened the case: the shift leader's ``register`` where the district keeps it apart
  (``case_stages``), else the intake's ``accept`` (受理即立案) — the last of the two a case went through (a report
  sent back to intake is opened by its last decision, counted once). Per staff member over the steps that opened
  cases: 立案数 ``opened``, opened on time (按时立案率 ``on_time_opening_rate``, each step against its own limit)
  and voided since (准确立案率 ``accurate_opening_rate`` = (立案数 − 作废数) / 立案数).
- 受理员 ``intake`` — 受理数 ``accepts`` (the ``accept`` steps completed) and 按时受理率, the opening rates above
  where intake opens the cases, and 核查派发数 ``check_dispatches`` with 按时派发核查率
  ``check_dispatch_on_time_rate`` where the platform sends out the checks (``dispatch_check``).
- 值班长 ``shift_leader`` — 立案审核数 ``registrations`` (``register``), 结案数 ``closes`` (``close`` and
  ``close_self``), 按时结案率 ``on_time_closing_rate``, and the opening rates of the cases the shift leader opened;
  综合指标值 ``composite`` weighs the three (``shift_leader_weights``; the common choice 25 / 40 / 35 %).
- 派遣员 ``dispatcher`` — 派遣数 ``dispatches`` (``dispatch`` and ``reassign``), 按时派遣率, 错误派遣数
  ``misdispatches`` (a dispatch whose department sent the case back: the next dispatching step of the case is a
  re-dispatch — charged to the one who dispatched it, not to the one who re-dispatched), 准确派遣率, 派遣数分值
  ``dispatch_count_score`` (the dispatcher's dispatches over the busiest dispatcher's) and 综合指标值 weighed by
  ``dispatcher_weights`` (the common choice 20 / 40 / 40 %).
- 监督员 / 网格员 ``supervisor`` — 上报数 ``reported`` and 有效上报率 (reports that became cases not voided since),
  核实 ``verifications`` (``check_exists``) and 核查 ``checks`` (``verify``) with their on-time rates, and 漏报数
  ``missed_reports`` with 漏报率 ``missed_report_rate`` = 漏报数 ÷ 立案数 in the worker's grids, or ÷ (上报数 +
  漏报数) where the district chooses it (``missed_report_rate_base``; :func:`missed_reports`).

A 综合指标值 is ×100 and weighs only the terms that can be computed (a rate of 0/0 is left out, and the weights
of the rest carry it), so a shift leader who opened no case is judged on closing alone.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from engine import settings
from engine.evaluation.metrics import (
    DISPATCHING,
    NOT_CASES,
    PATROL,
    VOIDED,
    Period,
    band,
    count_if,
    not_valid_states,
    rate,
    unindexed,
)
from engine.org import people, scope
from engine.store.models import Event, ProcessVersion, RoleAssignment, Task, User

POSITIONS = ("intake", "shift_leader", "dispatcher", "supervisor")
INTAKE_STEPS = ("accept",)
REGISTER_STEPS = ("register",)
CHECK_DISPATCH_STEPS = (
    "dispatch_check",
)  # 核查 sent out by the platform, where the district does  # 立案 by the shift leader, where the district keeps it apart from 受理
OPENING_STEPS = (*INTAKE_STEPS, *REGISTER_STEPS)
CLOSING_STEPS = ("close", "close_self")
DISPATCH_STEPS = DISPATCHING
VERIFY_STEPS = ("check_exists",)  # 核实: does the reported problem exist
CHECK_STEPS = ("verify",)  # 核查: was it handled
STEPS = (
    *INTAKE_STEPS,
    *REGISTER_STEPS,
    *CHECK_DISPATCH_STEPS,
    *CLOSING_STEPS,
    *DISPATCH_STEPS,
    *VERIFY_STEPS,
    *CHECK_STEPS,
)

# the steps worked, and the later dispatching steps of the same case (a re-dispatch tells a wrong dispatch)
WORK, LATER, BETWEEN = (aliased(Task, name=n) for n in ("worked", "later_step", "between_step"))


def _misdispatched() -> Any:
    """SQL: the worked step (a dispatch or a re-dispatch) sent the case where it came back from to be dispatched
    anew — the first dispatching step of the case after it is a re-dispatch (``reassign``)."""
    # looked up by the case (the index on its tasks), not by the step (every re-dispatch there is); "after" by
    # the inbox rows' ids, which rise as rows are created (a step and the next may share their moment)
    return (
        exists()
        .where(
            LATER.event_id == WORK.event_id,
            unindexed(LATER.bpmn_id) == "reassign",
            LATER.id > WORK.id,
            ~exists()
            .where(
                BETWEEN.event_id == LATER.event_id,
                unindexed(BETWEEN.bpmn_id).in_(DISPATCH_STEPS),
                BETWEEN.id > WORK.id,
                BETWEEN.id < LATER.id,
            )
            .correlate(WORK, LATER),
        )
        .correlate(WORK)
    )


def _opened_by_it() -> Any:
    """SQL: the worked step opened its case — the case became one, and no later 受理 or 立案 step of it followed
    (a merged 受理 is followed by none; a 受理 the shift leader decides on is followed by the 立案)."""
    return and_(
        WORK.bpmn_id.in_(OPENING_STEPS),
        Event.state.not_in(NOT_CASES),
        ~exists()
        .where(
            LATER.event_id == WORK.event_id,
            unindexed(LATER.bpmn_id).in_(OPENING_STEPS),
            LATER.id > WORK.id,
        )
        .correlate(WORK),
    )


def _on_time() -> Any:
    return or_(WORK.due_at.is_(None), WORK.completed_at <= WORK.due_at)


def _worked(period: Period, in_scope: Any, steps: tuple[str, ...]) -> Any:
    """SQL: the steps of ``steps`` (:data:`WORK`, joined to their events) completed in the period."""
    return and_(
        in_scope,
        period.settled(WORK.completed_at),
        WORK.bpmn_id.in_(steps),
        unindexed(WORK.status) == "completed",
    )


def _reported(period: Period, in_scope: Any) -> Any:
    """SQL: the patrols' reports (网格员上报) of the period — a worker's 上报数."""
    return and_(in_scope, period.holds(Event.reported_at), Event.channel == PATROL)


# the position figures a count can be drilled into: figure → the steps counted, and what of them
FIGURES: dict[str, tuple[tuple[str, ...], str]] = {
    "accepts": (INTAKE_STEPS, "all"),
    "accepts_on_time": (INTAKE_STEPS, "on_time"),
    "check_dispatches": (CHECK_DISPATCH_STEPS, "all"),
    "registrations": (REGISTER_STEPS, "all"),
    "opened": (OPENING_STEPS, "opened"),
    "voided": (OPENING_STEPS, "voided"),
    "closes": (CLOSING_STEPS, "all"),
    "closes_on_time": (CLOSING_STEPS, "on_time"),
    "dispatches": (DISPATCH_STEPS, "all"),
    "dispatches_on_time": (DISPATCH_STEPS, "on_time"),
    "misdispatches": (DISPATCH_STEPS, "misdispatched"),
    "verifications": (VERIFY_STEPS, "all"),
    "checks": (CHECK_STEPS, "all"),
    "reported": ((), "reported"),
    "accepted_reports": ((), "accepted"),
    "missed_reports": ((), "missed"),
}


def cases(
    session: Session,
    start: datetime,
    end: datetime,
    staff: str,
    figure: str,
    actor: people.Actor | None = None,
    now: datetime | None = None,
) -> list[int]:
    """The ids of the cases behind one count of :func:`evaluate`'s rows — ``figure`` (of :data:`FIGURES`) of
    the staff member ``staff`` — by the same conditions."""
    if figure not in FIGURES:
        raise ValueError(f"no position figure {figure!r}; use one of {', '.join(FIGURES)}")
    period = Period(start, end, now)
    in_scope = scope.event_filter(actor) if actor is not None else true()
    steps, which = FIGURES[figure]
    if which == "missed":  # 漏报: matched to the patrols as the count is
        return missed_cases(session, period, in_scope).get(staff, [])
    if which in ("reported", "accepted"):
        condition = and_(_reported(period, in_scope), Event.reporter == staff)
        if which == "accepted":
            condition = and_(condition, Event.state.not_in(not_valid_states(session)))
        return sorted(session.scalars(select(Event.id).where(condition)))
    extra = {
        "all": true(),
        "on_time": _on_time(),
        "opened": _opened_by_it(),
        "voided": and_(_opened_by_it(), Event.state == VOIDED),
        "misdispatched": _misdispatched(),
    }[which]
    query = (
        select(WORK.event_id)
        .join(Event, Event.id == WORK.event_id)
        .where(_worked(period, in_scope, steps), WORK.completed_by == staff, extra)
    )
    return sorted(set(session.scalars(query)))


def composite(rates: dict[str, float | None], weights: dict[str, float]) -> float | None:
    """The weighted 综合指标值 (×100, two decimals) of the terms that can be computed; None when none can."""
    known = {name: value for name, value in rates.items() if value is not None and weights.get(name)}
    total = sum(weights[name] for name in known)
    if not total:
        return None
    return round(sum(weights[name] * value for name, value in known.items()) / total * 100, 2)


def evaluate(
    session: Session,
    start: datetime,
    end: datetime,
    actor: people.Actor | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The position evaluation of ``[start, end)``: one row per staff member and position they worked in
    (``position`` of :data:`POSITIONS`, ``staff``: the username), by position and then best composite first.
    With ``actor``, only the events in the actor's scope count; ``now`` ends a period still running."""
    period = Period(start, end, now)
    in_scope = scope.event_filter(actor) if actor is not None else true()
    on_time = _on_time()
    opened = _opened_by_it()
    done: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for staff, step, *values in session.execute(
        select(
            WORK.completed_by,
            WORK.bpmn_id,
            func.count(),
            count_if(on_time),
            count_if(opened),
            count_if(and_(opened, on_time)),
            count_if(and_(opened, Event.state == VOIDED)),
            count_if(and_(WORK.bpmn_id.in_(DISPATCH_STEPS), _misdispatched())),
        )
        .join(Event, Event.id == WORK.event_id)
        .where(_worked(period, in_scope, STEPS), WORK.completed_by.is_not(None))
        .group_by(WORK.completed_by, WORK.bpmn_id)
    ):
        names = ("steps", "on_time", "opened", "opened_on_time", "voided", "misdispatched")
        for name, value in zip(names, values, strict=True):
            done[staff][step][name] += int(value)
    reports = {
        reporter: (int(reported), int(accepted))
        for reporter, reported, accepted in session.execute(
            select(Event.reporter, func.count(), count_if(Event.state.not_in(not_valid_states(session))))
            .where(_reported(period, in_scope))
            .group_by(Event.reporter)
        )
    }
    missed = missed_reports(session, period, in_scope)
    opened_in = _opened_in_their_grids(session, period, in_scope, set(missed))
    by_reports = settings.get(session, "missed_report_rate_base") == "reports"
    leader_weights = settings.get(session, "shift_leader_weights")
    dispatcher_weights = settings.get(session, "dispatcher_weights")

    def total(staff: str, steps: tuple[str, ...], name: str) -> int:
        return sum(done[staff][step][name] for step in steps if step in done[staff])

    rows: list[dict[str, Any]] = []
    for staff in sorted(set(done) | set(reports) | set(missed)):
        accepts, opened_cases = total(staff, INTAKE_STEPS, "steps"), total(staff, OPENING_STEPS, "opened")
        opening = {
            "on_time_opening_rate": rate(total(staff, OPENING_STEPS, "opened_on_time"), opened_cases),
            "accurate_opening_rate": rate(opened_cases - total(staff, OPENING_STEPS, "voided"), opened_cases),
        }
        check_dispatches = total(staff, CHECK_DISPATCH_STEPS, "steps")
        if accepts or check_dispatches:
            rows.append(
                {
                    "position": "intake",
                    "staff": staff,
                    "accepts": accepts,
                    "accepts_on_time": total(staff, INTAKE_STEPS, "on_time"),
                    "on_time_intake_rate": rate(total(staff, INTAKE_STEPS, "on_time"), accepts),
                    "check_dispatches": check_dispatches,
                    "check_dispatch_on_time_rate": rate(
                        total(staff, CHECK_DISPATCH_STEPS, "on_time"), check_dispatches
                    ),
                    "opened": opened_cases,
                    "voided": total(staff, OPENING_STEPS, "voided"),
                    **opening,
                }
            )
        closes, registrations = total(staff, CLOSING_STEPS, "steps"), total(staff, REGISTER_STEPS, "steps")
        if closes or registrations:
            rates = {**opening, "on_time_closing_rate": rate(total(staff, CLOSING_STEPS, "on_time"), closes)}
            rows.append(
                {
                    "position": "shift_leader",
                    "staff": staff,
                    "registrations": registrations,
                    "opened": opened_cases,
                    "closes": closes,
                    "closes_on_time": total(staff, CLOSING_STEPS, "on_time"),
                    **rates,
                    "composite": composite(rates, leader_weights),
                }
            )
        dispatches = total(staff, DISPATCH_STEPS, "steps")
        if dispatches:
            misdispatches = total(staff, DISPATCH_STEPS, "misdispatched")
            rows.append(
                {
                    "position": "dispatcher",
                    "staff": staff,
                    "dispatches": dispatches,
                    "dispatches_on_time": total(staff, DISPATCH_STEPS, "on_time"),
                    "misdispatches": misdispatches,
                    "dispatch_on_time_rate": rate(total(staff, DISPATCH_STEPS, "on_time"), dispatches),
                    "accurate_dispatch_rate": rate(dispatches - misdispatches, dispatches),
                }
            )
        verifications, checks = total(staff, VERIFY_STEPS, "steps"), total(staff, CHECK_STEPS, "steps")
        reported, accepted = reports.get(staff, (0, 0))
        if reported or verifications or checks or staff in missed:
            rows.append(
                {
                    "position": "supervisor",
                    "staff": staff,
                    "reported": reported,
                    "accepted_reports": accepted,
                    "valid_report_rate": rate(accepted, reported),
                    "verifications": verifications,
                    "verification_on_time_rate": rate(total(staff, VERIFY_STEPS, "on_time"), verifications),
                    "checks": checks,
                    "check_on_time_rate": rate(total(staff, CHECK_STEPS, "on_time"), checks),
                    "missed_reports": missed.get(staff, 0),
                    # 漏报率: ÷ 立案数 in the worker's grids, or ÷ (上报数 + 漏报数) (missed_report_rate_base)
                    "missed_report_rate": rate(
                        missed.get(staff, 0),
                        reported + missed.get(staff, 0) if by_reports else opened_in.get(staff, 0),
                    ),
                }
            )
    busiest = max((r["dispatches"] for r in rows if r["position"] == "dispatcher"), default=0)
    for row in rows:
        if row["position"] == "dispatcher":
            row["dispatch_count_score"] = rate(row["dispatches"], busiest)
            terms = ("dispatch_count_score", "dispatch_on_time_rate", "accurate_dispatch_rate")
            row["composite"] = composite({t: row[t] for t in terms}, dispatcher_weights)
    bands = settings.get(session, "score_bands")
    for row in rows:
        if "composite" in row:
            row["band"] = band(row["composite"], bands)
    rows.sort(key=lambda r: (POSITIONS.index(r["position"]), -(r.get("composite") or 0), r["staff"]))
    return rows


def _opened_in_their_grids(
    session: Session, period: Period, in_scope: Any, workers: set[str]
) -> dict[str, int]:
    """Per grid worker of ``workers``: the cases opened in the period in the grids their assignments cover (立案数,
    what 漏报率 divides by by default)."""
    if not workers:
        return {}
    scopes: dict[str, list[str]] = defaultdict(list)
    for username, code in session.execute(
        select(User.username, RoleAssignment.scope_code)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.role == "grid_worker", User.username.in_(sorted(workers)))
    ):
        scopes[username].append(code)
    opened = session.execute(
        select(Event.grid_code, func.count())
        .where(in_scope, period.holds(Event.opened_at), Event.state.not_in(NOT_CASES))
        .group_by(Event.grid_code)
    ).all()
    return {
        worker: sum(n for grid, n in opened if any(grid.startswith(code) for code in codes))
        for worker, codes in scopes.items()
    }


def missed_reports(session: Session, period: Period, in_scope: Any) -> dict[str, int]:
    """漏报数 per grid worker (:func:`missed_cases`)."""
    return {worker: len(ids) for worker, ids in missed_cases(session, period, in_scope).items()}


def missed_cases(session: Session, period: Period, in_scope: Any) -> dict[str, list[int]]:
    """漏报: per grid worker, the cases opened in the period from a public report (any channel but the grid's own
    patrol) of a sub-category the ``missed_report_rule`` setting says a patrol should find, in a grid the worker
    patrolled (an instance of the rule's patrol process started there) within its window before the report. A
    case counts once for each worker who patrolled its grid then. The cases are those of the period (its
    opened range, indexed); the patrols are matched to them here, as the two databases do time arithmetic
    differently."""
    rule = settings.get(session, "missed_report_rule")
    prefixes = [str(p) for p in rule.get("categories", [])]
    if not prefixes:
        return {}
    window = timedelta(hours=float(rule.get("window_hours", 48)))
    cases = session.execute(
        select(Event.id, Event.grid_code, Event.reported_at).where(
            in_scope,
            period.holds(Event.opened_at),
            Event.channel != "grid",
            or_(*(Event.category.startswith(p) for p in prefixes)),
            Event.state.not_in(NOT_CASES),
        )
    ).all()
    if not cases:
        return {}
    earliest = min(c.reported_at for c in cases) - window
    latest = max(c.reported_at for c in cases)
    patrols: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for grid, at, reporter in session.execute(
        select(Event.grid_code, Event.reported_at, Event.reporter)
        .join(ProcessVersion, ProcessVersion.id == Event.process_version_id)
        .where(
            ProcessVersion.process_id == rule.get("patrol_process", "patrol"),
            Event.reported_at >= earliest,
            Event.reported_at <= latest,
            Event.grid_code.in_(sorted({c.grid_code for c in cases})),
        )
    ):
        patrols[grid].append((at, reporter))
    found: dict[str, list[int]] = defaultdict(list)
    for case in cases:
        workers = {
            who
            for at, who in patrols.get(case.grid_code, ())
            if case.reported_at - window <= at <= case.reported_at
        }
        for worker in workers:
            found[worker].append(case.id)
    return {worker: sorted(ids) for worker, ids in found.items()}
