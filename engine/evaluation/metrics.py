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
- ``score``: the weighted sum of the rates (``score_weights``), ×100, with its ``band`` (考核等级:
  ``score_bands``); by department, less the points of each
  supervision sheet issued to it in the period by the card it reached (``sheet_deductions``: ``sheets`` and
  ``deductions`` in its row, and 督办数 by type — ``auto_sheets`` 超时督办, ``leader_sheets`` 领导督办 — and by
  card: ``yellow_cards``, ``red_cards``); a sheet whose appeal (申诉) the evaluator upheld deducts nothing
  (``upheld_appeals``).
- By department, cases count against the department that holds them, and each department task against its
  own department: ``tasks_due``/``tasks_late`` — so in a joint meeting only a late support department is charged,
  and a department that sent a case back is not charged with the case's lateness.
- By worker: grid workers' valid reports (those that became cases and were not voided), major ones (handled at
  the district) and their reward (``report_rewards``).
- 上报数 ``reported`` (by channel: ``reported_patrol`` 网格员上报, ``reported_leader`` 领导交办, ``reported_public`` 公众举报) and 有效上报数
  ``accepted_reports`` (the period's reports on any channel, and those that
  became cases not voided since; 有效上报率 ``valid_report_rate``) — for those who report, not by department;
  自行处置数 ``self_handled``: closed with no department.
- The platform's own steps (:data:`STEPS`), by the step completed in the period, each against its step limit:
  派遣数 (re-dispatches included) and 按时派遣, 超时未派遣 ``dispatches_pending`` (a dispatching step still open
  past its limit, counted in the period its limit ran out in; 应派遣数 ``dispatches_due`` = 派遣数 + 超时未派遣,
  what 按时派遣率 divides by; 应核实数 and 应核查数 likewise, with ``verifications_pending`` and ``checks_pending``),
  错误派遣 (dispatched anew after a send-back; 准确派遣率 =
  (派遣 − 错误派遣) / 派遣), 核实 and
  核查 with their on-time rates, 延期数 and 挂账数 (the requests decided) — not by department either;
  挂账时长 ``hold_hours``: the hours of the holds (挂账) ended in the period, each hold from its start to its
  resumption (the ``resume_hold`` step's span, kept per hold, never overwritten), natural hours; and
  ``running_hold_hours``: the hours so far of the holds still running when the period ends (or now). By
  department, its tasks done late (超期处置数 ``tasks_overdue_done``) and overdue not done (超期未处置数), and
  处置率 ``handling_rate`` = the tasks due in the period that were done / 应处置数 (按期处置率: ``task_on_time_rate``).

Every figure is a conditional count (:func:`count_if`) the database computes over the rows of the period's indexed
ranges, grouped by the grouping's column; :func:`cases` lists the rows behind one count by the same conditions.
The position evaluation (岗位评价) is :mod:`engine.evaluation.positions`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, false, func, literal, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from engine import settings
from engine.org import people, scope, tree
from engine.store.models import Event, OrgUnit, SupervisionSheet, Task, UTCDateTime

GROUPINGS = ("district", "department", "level", "grid", "community", "town", "category", "worker")
# the groupings above a grid: counted by grid in the database, then folded into the unit that holds each grid
UNIT_LEVELS = ("district", "community", "town")
# never opened (立案): not cases at all. A voided case (作废) was opened: it stays in its period's 立案数 and is
# counted as 作废数 besides, but is never due.
NOT_CASES = ("rejected", "not_found", "reported")
VOIDED = "voided"
OFF_THE_CLOCK = ("on_hold", "legacy")
STARTED = "start"  # the channel of an instance started from its start form, which is no report
PATROL = "grid"  # the channel of a report found on the grid's own patrols
LEADER = "leader"  # the channel of a leader's assignment (领导交办); every other is the public's


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
    reported: int = 0
    reported_patrol: int = 0
    reported_leader: int = 0
    reported_public: int = 0
    accepted_reports: int = 0
    self_handled: int = 0
    tasks_overdue_done: int = 0
    tasks_overdue_open: int = 0
    dispatches: int = 0
    dispatches_on_time: int = 0
    dispatches_pending: int = 0
    verifications_pending: int = 0
    checks_pending: int = 0
    redispatches: int = 0
    verifications: int = 0
    verifications_on_time: int = 0
    checks: int = 0
    checks_on_time: int = 0
    extension_requests: int = 0
    hold_requests: int = 0
    hold_hours: float = 0.0
    running_hold_hours: float = 0.0

    def add(self, other: Counts) -> None:
        for name, value in other.__dict__.items():
            setattr(self, name, getattr(self, name) + value)


BANDS = ("excellent", "good", "pass")  # best first; below the last: FAIL
FAIL = "fail"


def band(score: float | None, bands: dict[str, float]) -> str | None:
    """The score band (考核等级: 优秀 / 良好 / 合格 / 不合格) of a composite ``score`` by the ``score_bands``
    setting: the best band whose lowest score it reaches; None for no score."""
    if score is None:
        return None
    return next((name for name in BANDS if name in bands and score >= bands[name]), FAIL)


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` to four places (a percentage to two decimals, as the standard prints it); None for 0/0."""
    return round(part / whole, 4) if whole else None


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
    "tasks_overdue_done",
    "tasks_overdue_open",
    "reported",
    "reported_patrol",
    "reported_leader",
    "reported_public",
    "accepted_reports",
    "self_handled",
    "dispatches",
    "dispatches_on_time",
    "dispatches_pending",
    "verifications_pending",
    "checks_pending",
    "redispatches",
    "verifications",
    "verifications_on_time",
    "checks",
    "checks_on_time",
    "extension_requests",
    "hold_requests",
)
REPORT_FIGURES = (
    "reported",
    "reported_patrol",
    "reported_public",
    "accepted_reports",
)  # counted for those who report, not by department
TASK_FIGURES = ("tasks_due", "tasks_late", "tasks_overdue_done", "tasks_overdue_open")
# the platform's own steps the standard counts, by the steps (the BPMN's user tasks) completed in the period and
# whether each was completed within its step limit: figure → (steps, on time only)
DISPATCHING = ("dispatch", "reassign")
STEPS: dict[str, tuple[tuple[str, ...], bool]] = {
    "dispatches": (DISPATCHING, False),  # 派遣数: every dispatch, a re-dispatch too
    "dispatches_on_time": (DISPATCHING, True),  # 按时派遣数
    "redispatches": (("reassign",), False),  # 错误派遣数: sent back by a department, dispatched anew
    "verifications": (("check_exists",), False),  # 核实数
    "verifications_on_time": (("check_exists",), True),  # 按时核实数
    "checks": (("verify",), False),  # 核查数
    "checks_on_time": (("verify",), True),  # 按时核查数
    "extension_requests": (("approve_extension",), False),  # 延期数 (requests decided)
    "hold_requests": (("approve_hold",), False),  # 挂账数 (requests decided)
}


# the platform steps still waiting past their step limit, by the period their limit ran out in: figure → steps
# (超时未派遣: with the dispatches made, 应派遣数 — what 按时派遣率 divides by)
PENDING_STEPS: dict[str, tuple[str, ...]] = {
    "dispatches_pending": DISPATCHING,  # 超时未派遣
    "verifications_pending": ("check_exists",),  # 超时未核实
    "checks_pending": ("verify",),  # 超时未核查
}

Column = ColumnElement[Any] | InstrumentedAttribute[Any]


@dataclass(frozen=True)
class Period:
    """``[start, end)``, ended early by ``now`` for a period still running: what settles after now has not."""

    start: datetime
    end: datetime
    now: datetime | None

    def settled(self, moment: Column) -> ColumnElement[bool]:
        """SQL: ``moment`` falls in the period and has come by ``now``."""
        clauses = [moment.is_not(None), moment >= self.start, moment < self.end]
        if self.now is not None:
            clauses.append(moment <= self.now)
        return and_(*clauses)

    def holds(self, column: Column) -> ColumnElement[bool]:
        """SQL: ``column`` lies in ``[start, end)`` (one range, which an index on the column serves)."""
        return and_(column >= self.start, column < self.end)


def not_valid_states(session: Session) -> tuple[str, ...]:
    """The states of a report that is no valid report (有效上报): never a case, or — unless the district counts
    them (``voided_reports_valid``) — voided since."""
    return NOT_CASES if settings.get(session, "voided_reports_valid") else (*NOT_CASES, VOIDED)


def _event_figures(
    period: Period, satisfied_answers: list[str], not_valid: tuple[str, ...]
) -> dict[str, ColumnElement[bool]]:
    """Each event figure as an SQL condition on one event row (the definitions of the module's docstring);
    ``not_valid``: the states of a report that does not count as valid (:func:`not_valid_states`)."""
    # a case settles at the earlier of its closing and its deadline (at its closing when it has no deadline)
    settles = case(
        (Event.due_at.is_(None), Event.closed_at),
        (and_(Event.closed_at.is_not(None), Event.closed_at < Event.due_at), Event.closed_at),
        else_=Event.due_at,
    )
    opened = and_(period.holds(Event.opened_at), Event.state.not_in(NOT_CASES))
    # a report: an event reported on a channel, not an instance a member of staff started (a patrol, an appeal)
    reported = and_(period.holds(Event.reported_at), Event.channel != STARTED)
    due = and_(Event.state.not_in((*NOT_CASES, VOIDED, *OFF_THE_CLOCK)), period.settled(settles))
    closed = and_(due, Event.state == "closed", Event.closed_at < period.end)
    valid = and_(opened, Event.channel == PATROL, Event.state.not_in(not_valid))
    return {
        "opened": opened,
        "voided": and_(opened, Event.state == VOIDED),
        "due": due,
        "closed": closed,
        "closed_on_time": and_(closed, Event.closed_on_time.is_(True)),
        "reworked_opened": and_(opened, Event.rework_count > 0),
        "reworked_due": and_(due, Event.rework_count > 0),
        # every answer counts: each reopening (重办) followed a 不满意 answer, and the last answer is the
        # event's satisfaction
        "followed_up": and_(due, _answers() > 0),
        "satisfied": and_(due, Event.satisfaction.in_(satisfied_answers)),
        "valid_reports": valid,
        "major_reports": and_(valid, Event.handling_level == "district"),
        # 上报数 and 有效上报数: every report of the period, and those that became cases not voided since
        "reported": reported,
        # 上报数 by channel: found on the grid's patrols (网格员/监督员上报), a leader's assignment (领导交办), or
        # reported by the public (公众举报: the hotline, WeChat, the app, the website)
        "reported_patrol": and_(reported, Event.channel == PATROL),
        "reported_leader": and_(reported, Event.channel == LEADER),
        "reported_public": and_(reported, Event.channel.not_in((PATROL, LEADER))),
        "accepted_reports": and_(reported, Event.state.not_in(not_valid)),
        # 自行处置数: closed by the grid or community that found it, without a department (no department answers)
        "self_handled": and_(closed, Event.department_code.is_(None)),
    }


def _answers() -> ColumnElement[int]:
    return Event.reopen_count + case((Event.satisfaction.is_not(None), 1), else_=0)


# the department tasks evaluated, under a name of their own: the scope's condition on the events (a subquery
# of the tasks of the actor's departments) must not be correlated with them
TASKS = aliased(Task, name="evaluated_tasks")


def _task_figures(period: Period) -> dict[str, ColumnElement[bool]]:
    """Each department-task figure as an SQL condition on one task row: a task settles at the earlier of its
    completion and its deadline, and is late when it was not completed by its deadline."""
    settles = case(
        (and_(TASKS.completed_at.is_not(None), TASKS.completed_at < TASKS.due_at), TASKS.completed_at),
        else_=TASKS.due_at,
    )
    due = period.settled(settles)
    return {
        "tasks_due": due,
        "tasks_late": and_(due, or_(TASKS.completed_at.is_(None), TASKS.completed_at > TASKS.due_at)),
        # 超期处置数 and 超期未处置数: the late ones done after their limit, and those not done at all
        "tasks_overdue_done": and_(due, TASKS.completed_at > TASKS.due_at),
        "tasks_overdue_open": and_(due, TASKS.completed_at.is_(None)),
    }


# the platform steps counted, under a name of their own (as TASKS)
STEP_TASKS = aliased(Task, name="step_tasks")


def _step_figures() -> dict[str, ColumnElement[bool]]:
    """Each platform-step figure (:data:`STEPS`) as an SQL condition on one task row of :data:`STEP_TASKS`."""
    on_time = or_(STEP_TASKS.due_at.is_(None), STEP_TASKS.completed_at <= STEP_TASKS.due_at)
    return {
        name: and_(STEP_TASKS.bpmn_id.in_(steps), on_time) if timely else STEP_TASKS.bpmn_id.in_(steps)
        for name, (steps, timely) in STEPS.items()
    }


def _steps_of_period(period: Period, in_scope: ColumnElement[bool]) -> ColumnElement[bool]:
    """The platform steps the period's figures look at (:data:`STEP_TASKS`, joined to their events): completed
    in it."""
    return and_(
        in_scope,
        # the steps and their completion range: what the index on (step, completion) serves
        STEP_TASKS.bpmn_id.in_(sorted({step for steps, _ in STEPS.values() for step in steps})),
        period.settled(STEP_TASKS.completed_at),
        unindexed(STEP_TASKS.status) == "completed",
    )


def _pending_figures(period: Period, in_scope: ColumnElement[bool]) -> dict[str, ColumnElement[bool]]:
    """Each pending-step figure (:data:`PENDING_STEPS`) as an SQL condition on :data:`STEP_TASKS` joined to their
    events: the step still open, its limit run out in the period (by ``now``)."""
    return {
        name: and_(
            in_scope,
            STEP_TASKS.bpmn_id.in_(steps),
            period.settled(STEP_TASKS.due_at),
            unindexed(STEP_TASKS.status) == "open",
        )
        for name, steps in PENDING_STEPS.items()
    }


def _group_column(by: str) -> Column:
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}; use one of {', '.join(GROUPINGS)}")
    return {
        "department": Event.department_code,
        "level": Event.handling_level,
        "category": Event.category,
        "worker": Event.reporter,
    }.get(by, Event.grid_code)


def _events_of_period(period: Period, in_scope: ColumnElement[bool], by: str) -> ColumnElement[bool]:
    """The events the period's figures of a grouping ``by`` look at: reported, opened, due or closed in it
    (indexed columns, one range each; the reports that never became cases count only as reports). Reports are
    counted for those who report — not by department: there, only cases."""
    if by == "department":
        return and_(
            in_scope,
            Event.state.not_in(NOT_CASES),
            or_(period.holds(Event.opened_at), period.holds(Event.due_at), period.holds(Event.closed_at)),
        )
    return and_(
        in_scope,
        or_(
            period.holds(Event.reported_at),
            period.holds(Event.opened_at),
            period.holds(Event.due_at),
            period.holds(Event.closed_at),
        ),
    )


def count_if(condition: ColumnElement[bool], value: Any = 1) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def evaluate(
    session: Session,
    start: datetime,
    end: datetime,
    by: str = "department",
    actor: people.Actor | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The evaluation of the period ``[start, end)`` grouped ``by`` one of :data:`GROUPINGS`, best score first.

    With ``actor``, only the events in the actor's scope count. ``now`` (the engine clock's) ends a period that
    is still running: a case whose limit has not yet run out is not due, whatever period it falls in. Every
    count is an aggregate computed by the database (one grouped query over the period's events, one over its
    department tasks and one over its sheets), so memory does not grow with the period.
    """
    key = _group_column(by)
    period = Period(start, end, now)
    base = settings.get(session, "rework_rate_base")
    satisfied_answers = list(settings.get(session, "satisfied_answers"))
    weights = settings.get(session, "score_weights")
    rewards = settings.get(session, "report_rewards")
    bands = settings.get(session, "score_bands")
    in_scope = scope.event_filter(actor) if actor is not None else true()
    figures = _event_figures(period, satisfied_answers, not_valid_states(session))
    if by == "department":
        figures = {name: condition for name, condition in figures.items() if name not in REPORT_FIGURES}
    sums = [
        count_if(figures["followed_up"], _answers()) if name == "followed_up" else count_if(condition)
        for name, condition in figures.items()
    ]
    counts: dict[str | None, Counts] = defaultdict(Counts)
    for group, *values in session.execute(
        select(key, *sums).where(_events_of_period(period, in_scope, by)).group_by(key)
    ):
        counts[group] = Counts(**dict(zip(figures, map(int, values), strict=True)))
    # 上报数 by each channel the report form offers (a district's own ones too: video, a department's forward …)
    by_channel: dict[str | None, dict[str, int]] = defaultdict(dict)
    if by != "department":
        for group, channel, number in session.execute(
            select(key, Event.channel, func.count())
            .where(in_scope, figures["reported"])
            .group_by(key, Event.channel)
        ):
            by_channel[group][channel] = int(number)
    steps = _step_figures() if by != "department" else {}  # the platform's steps: no department's
    for group, *values in (
        session.execute(
            select(key, *(count_if(condition) for condition in steps.values()))
            .select_from(STEP_TASKS)
            .join(Event, Event.id == STEP_TASKS.event_id)
            .where(_steps_of_period(period, in_scope))
            .group_by(key)
        )
        if steps
        else ()
    ):
        for name, value in zip(steps, values, strict=True):
            setattr(counts[group], name, int(value))

    for name, condition in _pending_figures(period, in_scope).items() if by != "department" else ():
        for group, value in session.execute(
            select(key, func.count())
            .select_from(STEP_TASKS)
            .join(Event, Event.id == STEP_TASKS.event_id)
            .where(condition)
            .group_by(key)
        ):
            setattr(counts[group], name, int(value))

    for group, hours in session.execute(
        select(key, func.coalesce(func.sum(hours_between(HOLDS.created_at, HOLDS.completed_at)), 0))
        .select_from(HOLDS)
        .join(Event, Event.id == HOLDS.event_id)
        .where(
            in_scope,
            HOLDS.bpmn_id.in_(HOLD_STEPS),
            period.settled(HOLDS.completed_at),
            unindexed(HOLDS.status) == "completed",
        )
        .group_by(key)
    ):
        counts[group].hold_hours = round(float(hours), 2)
    # the holds still running when the period ends (or now, for a period still running): their hours so far
    upto = min(end, now) if now is not None else end
    for group, hours in session.execute(
        select(key, func.coalesce(func.sum(hours_between(HOLDS.created_at, moment(upto))), 0))
        .select_from(HOLDS)
        .join(Event, Event.id == HOLDS.event_id)
        .where(
            in_scope,
            HOLDS.bpmn_id.in_(HOLD_STEPS),
            HOLDS.created_at < upto,
            or_(HOLDS.completed_at.is_(None), HOLDS.completed_at >= upto),
            unindexed(HOLDS.status).in_(("open", "completed")),
        )
        .group_by(key)
    ):
        counts[group].running_hold_hours = round(float(hours), 2)

    deductions: dict[str | None, float] = defaultdict(float)
    sheets: dict[str | None, int] = defaultdict(int)
    by_kind: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_card: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    upheld_appeals: dict[str | None, int] = defaultdict(int)
    if by == "department":
        tasks = _task_figures(period)
        for department, *values in session.execute(
            select(TASKS.department_code, *(count_if(condition) for condition in tasks.values()))
            .join(Event, Event.id == TASKS.event_id)
            .where(_tasks_of_period(period, in_scope))
            .group_by(TASKS.department_code)
        ):
            for name, value in zip(tasks, values, strict=True):
                setattr(counts[department], name, int(value))
        points = settings.get(session, "sheet_deductions")
        for department, kind, card, number, upheld in session.execute(
            select(
                SupervisionSheet.department_code,
                SupervisionSheet.kind,
                SupervisionSheet.card,
                func.count(),
                count_if(APPEALS.state == APPEAL_UPHELD),
            )
            .join(Event, Event.id == SupervisionSheet.event_id)
            .outerjoin(APPEALS, APPEALS.id == SupervisionSheet.appeal_event_id)
            .where(
                in_scope,
                SupervisionSheet.department_code.is_not(None),
                period.holds(SupervisionSheet.issued_at),
            )
            .group_by(SupervisionSheet.department_code, SupervisionSheet.kind, SupervisionSheet.card)
        ):
            sheets[department] += number
            # 督办数 by type (超时 / 领导) and by the card reached
            by_kind[department][kind] += number
            by_card[department][card] += number
            # an appeal (申诉) the evaluator upheld lifts its sheet's deduction; the sheet still counts as issued
            upheld_appeals[department] += int(upheld)
            deductions[department] += (number - int(upheld)) * points.get(card, 0)
            counts[department]  # a department charged with sheets is listed, even without a case of its own
    if by in UNIT_LEVELS:
        paths = _unit_paths(session)
        counts = _fold(counts, paths, by)
        folded: dict[str | None, dict[str, int]] = defaultdict(dict)
        for grid, channels in by_channel.items():
            unit = folded[paths.get(grid or "", {}).get(by)]
            for channel, number in channels.items():
                unit[channel] = unit.get(channel, 0) + number
        by_channel = folded

    rows = []
    for group, c in counts.items():
        rates = {
            "accurate_opening_rate": rate(c.opened - c.voided, c.opened),
            "closure_rate": rate(c.closed, c.due),
            "on_time_rate": rate(c.closed_on_time, c.due),
            "rework_rate": rate(c.reworked_opened, c.opened)
            if base == "opened"
            else rate(c.reworked_due, c.due),
            "satisfaction_rate": rate(c.satisfied, c.followed_up),
            "task_on_time_rate": rate(c.tasks_due - c.tasks_late, c.tasks_due),
            "valid_report_rate": rate(c.accepted_reports, c.reported),
            # 按时派遣率 = 按时派遣数 / 应派遣数 (the dispatches made, and those still waiting past their limit)
            "dispatch_on_time_rate": rate(c.dispatches_on_time, c.dispatches + c.dispatches_pending),
            "accurate_dispatch_rate": rate(c.dispatches - c.redispatches, c.dispatches),
            # 按时核实率 = 按时核实数 / 应核实数, 按时核查率 likewise (done, and still waiting past the limit)
            "verification_on_time_rate": rate(
                c.verifications_on_time, c.verifications + c.verifications_pending
            ),
            "check_on_time_rate": rate(c.checks_on_time, c.checks + c.checks_pending),
            # 处置率 = 处置数 / 应处置数: the department tasks due in the period that were done
            "handling_rate": rate(c.tasks_due - c.tasks_overdue_open, c.tasks_due),
        }
        score = sum(weights.get(name, 0) * (value or 0) for name, value in rates.items()) * 100
        row = {"group": group, **c.__dict__, **rates, "score": round(score - deductions[group], 2)}
        row["band"] = band(row["score"], bands)
        if by != "department":
            row["reported_by_channel"] = dict(sorted(by_channel.get(group, {}).items()))
        row["dispatches_due"] = c.dispatches + c.dispatches_pending  # 应派遣数
        row["verifications_due"] = c.verifications + c.verifications_pending  # 应核实数
        row["checks_due"] = c.checks + c.checks_pending  # 应核查数
        if by == "department":
            row["sheets"], row["deductions"] = sheets[group], round(deductions[group], 2)
            row["auto_sheets"], row["leader_sheets"] = by_kind[group]["auto"], by_kind[group]["leader"]
            row["yellow_cards"], row["red_cards"] = by_card[group]["yellow"], by_card[group]["red"]
            row["upheld_appeals"] = upheld_appeals[group]
        if by == "worker":
            row["reward"] = c.valid_reports * rewards.get("valid", 0) + c.major_reports * rewards.get(
                "major", 0
            )
        rows.append(row)
    rows.sort(key=lambda r: (-r["score"], str(r["group"])))
    return rows


# the appeal instances sheets were appealed by (engine.commands.appeals), under a name of their own, and the
# state an appeal ends in when the evaluator upholds it: the appealed sheet then costs its department no points
APPEALS = aliased(Event, name="appeals")
APPEAL_UPHELD = "appeal_upheld"

# a hold's span: the step that waits for its resumption (挂账恢复), from the hold's start to its end
HOLD_STEPS = ("resume_hold",)
HOLDS = aliased(Task, name="holds")


def moment(value: datetime) -> Any:
    """A moment as an SQL value stored the way the columns store theirs (UTC; naive on SQLite)."""
    return literal(value, UTCDateTime())


class hours_between(FunctionElement[Any]):
    """SQL: the hours from one moment to another (a fraction), as each database does time arithmetic."""

    name = "hours_between"
    inherit_cache = True

    def __init__(self, start: Column, end: Column) -> None:
        super().__init__(start, end)
        self.type = Float()


@compiles(hours_between)
def _epoch_hours(element: hours_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 3600.0)"


@compiles(hours_between, "sqlite")
def _julian_hours(element: hours_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 24.0)"


class unindexed(FunctionElement[Any]):
    """A column its condition is checked on the rows found, not looked up by: SQLite's planner, which keeps no
    statistics, would read every completed task through the status index rather than the period's range, so
    there it is written ``+column`` (SQLite's way to keep a term off an index); elsewhere the plain column, whose
    statistics the planner uses."""

    name = "unindexed"
    inherit_cache = True

    def __init__(self, column: Column) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _plain_column(element: unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(unindexed, "sqlite")
def _off_the_index(element: unindexed, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.clauses, **kw))


def _tasks_of_period(period: Period, in_scope: ColumnElement[bool]) -> ColumnElement[bool]:
    """The department tasks the period's figures look at (:data:`TASKS`, joined to their events): completed in
    it, or still open with their limit in it."""
    return and_(
        in_scope,
        TASKS.department_code.is_not(None),
        TASKS.due_at.is_not(None),
        unindexed(TASKS.status).in_(("open", "completed")),
        or_(
            period.holds(TASKS.completed_at),
            and_(TASKS.completed_at.is_(None), period.holds(TASKS.due_at)),
        ),
    )


def cases(
    session: Session,
    start: datetime,
    end: datetime,
    by: str,
    group: str | None,
    figure: str,
    actor: people.Actor | None = None,
    now: datetime | None = None,
) -> list[int]:
    """The ids of the cases behind one count of :func:`evaluate`'s table — ``figure`` (of :data:`FIGURES`) of
    the row ``group`` grouped ``by`` — by the same conditions, so the list has as many cases as the count
    (a department's task figures: the cases of its tasks)."""
    if figure not in FIGURES:
        raise ValueError(f"no figure {figure!r}; use one of {', '.join(FIGURES)}")
    key = _group_column(by)
    period = Period(start, end, now)
    in_scope = scope.event_filter(actor) if actor is not None else true()
    if by in UNIT_LEVELS:
        paths = _unit_paths(session)
        in_group: ColumnElement[bool] = Event.grid_code.in_(
            [grid for grid, path in paths.items() if path.get(by) == group]
        )
        if group is None:  # a grid without a unit of that level, or one the tree does not know
            in_group = or_(in_group, Event.grid_code.not_in(list(paths)))
    else:
        in_group = key.is_(None) if group is None else key == group
    if figure in TASK_FIGURES:
        department = TASKS.department_code == group if by == "department" else false()
        query = (
            select(TASKS.event_id)
            .join(Event, Event.id == TASKS.event_id)
            .where(_tasks_of_period(period, in_scope), department, _task_figures(period)[figure])
        )
    elif figure in PENDING_STEPS:
        query = select(STEP_TASKS.event_id).join(Event, Event.id == STEP_TASKS.event_id)
        query = query.where(_pending_figures(period, in_scope)[figure], in_group)
        if by == "department":
            query = query.where(false())
    elif figure in STEPS:
        query = (
            select(STEP_TASKS.event_id)
            .join(Event, Event.id == STEP_TASKS.event_id)
            .where(
                _steps_of_period(period, in_scope),
                in_group,
                _step_figures()[figure] if by != "department" else false(),
            )
        )
    else:
        answers = list(settings.get(session, "satisfied_answers"))
        condition = _event_figures(period, answers, not_valid_states(session))[figure]
        if by == "department" and figure in REPORT_FIGURES:
            condition = false()
        query = select(Event.id).where(_events_of_period(period, in_scope, by), in_group, condition)
    return sorted(set(session.scalars(query)))


def _fold(
    counts: dict[str | None, Counts], paths: dict[str, dict[str, str]], by: str
) -> dict[str | None, Counts]:
    """The counts by grid folded into the unit of level ``by`` that holds each grid."""
    folded: dict[str | None, Counts] = defaultdict(Counts)
    for grid, c in counts.items():
        folded[paths.get(grid or "", {}).get(by)].add(c)
    return folded


def _unit_paths(session: Session) -> dict[str, dict[str, str]]:
    """grid code → {community, town, district} codes (for grouping by the levels above a grid)."""
    units = {
        code: (level, parent)
        for code, level, parent in session.execute(select(OrgUnit.code, OrgUnit.level, OrgUnit.parent_code))
    }
    paths: dict[str, dict[str, str]] = {}
    for code, (level, _parent) in units.items():
        if level != "grid":
            continue
        path: dict[str, str] = {}
        current: str | None = code
        while current is not None and current in units:
            path[units[current][0]] = current
            current = units[current][1]
        paths[code] = path
    return paths


TREND_FIGURES = ("opened", "due", "closed", "closed_on_time")


def trend(
    session: Session,
    months: list[tuple[datetime, datetime]],
    actor: people.Actor | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The district's 立案数, 应结案数, 结案数 and 按期结案数 of each of ``months`` (``[start, end)`` spans, in
    order) — each as :func:`evaluate` counts it for that period alone — in one query of conditional counts over
    the events of the whole span (indexed ranges), with each month's closure and on-time rates."""
    if not months:
        return []
    in_scope = scope.event_filter(actor) if actor is not None else true()
    answers = list(settings.get(session, "satisfied_answers"))
    not_valid = not_valid_states(session)
    sums = []
    for start, end in months:
        figures = _event_figures(Period(start, end, now), answers, not_valid)
        sums += [count_if(figures[name]) for name in TREND_FIGURES]
    whole = Period(months[0][0], months[-1][1], now)
    values = session.execute(select(*sums).where(_events_of_period(whole, in_scope, "district"))).one()
    rows = []
    for i, (start, end) in enumerate(months):
        counts = dict(zip(TREND_FIGURES, map(int, values[4 * i : 4 * i + 4]), strict=True))
        rows.append(
            {
                "start": start,
                "end": end,
                **counts,
                "closure_rate": rate(counts["closed"], counts["due"]),
                "on_time_rate": rate(counts["closed_on_time"], counts["due"]),
            }
        )
    return rows


# the levels from the grid up, as cases are reported up (逐级上报)
LEVELS_UP = tuple(reversed(tree.LEVELS))


def _rank(column: Column) -> ColumnElement[int]:
    return case(*((column == level, rank) for rank, level in enumerate(LEVELS_UP)), else_=len(LEVELS_UP))


def levels(
    session: Session,
    start: datetime,
    end: datetime,
    actor: people.Actor | None = None,
) -> list[dict[str, Any]]:
    """Each level's part in the cases opened in ``[start, end)`` (逐级上报): ``entered`` — the cases that came to
    it (every case starts in its grid; the routing table gives it the level it is first handled at, and each
    上报 one level more), ``reported_up`` (上报数: passed on to the level above) and ``closed_here`` (办结数: closed
    by the level that handled it; a case handled on the spot by its grid worker is the grid's). From the
    routing table's level (``opened_level``) and the level that handled the case (``handling_level``), both
    held to the history by the audit; one query of conditional counts."""
    sums = [
        count_if(condition) for rank in range(len(LEVELS_UP)) for condition in _level_figures(rank).values()
    ]
    values = session.execute(select(*sums).where(_level_cases_of(start, end, actor))).one()
    return [
        {"level": level, **dict(zip(LEVEL_FIGURES, map(int, values[3 * i : 3 * i + 3]), strict=True))}
        for i, level in enumerate(LEVELS_UP)
    ]


LEVEL_FIGURES = ("entered", "reported_up", "closed_here")


def _level_figures(rank: int) -> dict[str, ColumnElement[bool]]:
    """The level ``rank`` (of :data:`LEVELS_UP`)'s figures of :func:`levels` as SQL conditions on one case."""
    opened, handled = _rank(Event.opened_level), _rank(Event.handling_level)
    came = true() if rank == 0 else and_(opened <= rank, handled >= rank)
    return {
        "entered": came,
        "reported_up": and_(came, handled > rank),
        "closed_here": and_(Event.state == "closed", handled == rank),
    }


def _level_cases_of(start: datetime, end: datetime, actor: people.Actor | None) -> ColumnElement[bool]:
    in_scope = scope.event_filter(actor) if actor is not None else true()
    return and_(in_scope, Period(start, end, None).holds(Event.opened_at), Event.state.not_in(NOT_CASES))


def level_cases(
    session: Session,
    start: datetime,
    end: datetime,
    level: str,
    figure: str,
    actor: people.Actor | None = None,
) -> list[int]:
    """The ids of the cases behind one count of :func:`levels` — ``figure`` (of :data:`LEVEL_FIGURES`) of
    ``level`` — by the same conditions."""
    if level not in LEVELS_UP or figure not in LEVEL_FIGURES:
        raise ValueError(f"no figure {figure!r} of level {level!r}")
    condition = _level_figures(LEVELS_UP.index(level))[figure]
    return sorted(session.scalars(select(Event.id).where(_level_cases_of(start, end, actor), condition)))
