"""Supervision commands: the scheduler's scan (colour changes, sheets issued and escalated) and the leader's
and the department's actions on a sheet.

Each change to an event is its own command, so it bumps the event's version: two schedulers scanning at once
cannot issue the same sheet twice (the loser's command is a conflict and is skipped).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import settings
from engine.bpmn import forms
from engine.bpmn.deployed import Versions
from engine.commands.pipeline import Step, system
from engine.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from engine.org.roles import ROLE_LABELS
from engine.reads import queries
from engine.store.models import Department, Event, SupervisionSheet, Task
from engine.supervision import rules
from engine.time import timelights
from engine.time.calendar import BusinessCalendar

if TYPE_CHECKING:
    from engine.app import Gridloop

SCHEDULER = "supervision"
FALLBACK_UNIT = "work_hours"
Limit = tuple[Event, Task | None, datetime, datetime, str]


def unit_of(versions: Versions, session: Session) -> Callable[[Event, Task | None], str]:
    """The time unit of a limit: a step's own when the ``step_limits`` setting gives it one (as the pages
    measure it, :class:`engine.reads.lights.Lights`), else the event's category's, from the routing table of
    its version."""
    units: dict[tuple[int, str], str] = {}
    step_units = {step: limit[1] for step, limit in settings.get(session, "step_limits").items()}

    def unit(event: Event, task: Task | None) -> str:
        if task is not None and task.bpmn_id in step_units:
            return step_units[task.bpmn_id]
        key = (event.process_version_id, event.category)
        if key not in units:
            bundle = versions.get(session, event.process_version_id).bundle
            units[key] = next(
                (c.time_unit for c in bundle.categories if c.code == event.category), FALLBACK_UNIT
            )
        return units[key]

    return unit


def _limits(session: Session, unit: Callable[[Event, Task | None], str]) -> list[Limit]:
    """Every running limit with a time light: open tasks with a due time, and open cases (clock not stopped)."""
    limits: list[Limit] = []
    rows = session.execute(
        select(Task, Event)
        .join(Event, Event.id == Task.event_id)
        .where(Task.status == "open", Task.due_at.is_not(None))
    ).all()
    for task, event in rows:
        assert task.due_at is not None  # the query asks for tasks with a due time
        start = timelights.limit_start(
            task.due_at, task.created_at, timelights.case_start(event), event.due_at
        )
        limits.append((event, task, start, task.due_at, unit(event, task)))
    for event in session.scalars(
        select(Event).where(Event.state == "open", Event.due_at.is_not(None), Event.opened_at.is_not(None))
    ):
        if not timelights.case_running(event):
            continue  # its department reported back: the platform's steps answer to their own limits
        case_start = timelights.case_start(event)
        assert case_start is not None and event.due_at is not None  # as the query asks
        limits.append((event, None, case_start, event.due_at, unit(event, None)))
    return limits


def _light_changes(
    versions: Versions,
    session: Session,
    calendar: BusinessCalendar,
    now: datetime,
    event_id: int | None = None,
) -> dict[int, list[tuple[int | None, str, str]]]:
    """Per event, the limits whose colour differs from the one last recorded: (task id or None, old, new)."""
    scheme = timelights.load_scheme(session)
    changes: dict[int, list[tuple[int | None, str, str]]] = {}
    for event, task, start, due, unit in _limits(session, unit_of(versions, session)):
        if event_id is not None and event.id != event_id:
            continue
        shown = timelights.light(calendar, scheme, start, due, now, unit)
        if shown is None:
            continue
        current = shown.colour
        recorded = (task.light if task is not None else event.light) or scheme.colours[0]
        if current != recorded:
            changes.setdefault(event.id, []).append(
                (task.id if task is not None else None, recorded, current)
            )
    return changes


def record_lights(step: Step, event_id: int) -> int:
    """Record the colour changes of one event's limits (re-checked inside the command)."""
    calendar = step.parts.settings.calendar(step.session)
    found = _light_changes(step.parts.versions, step.session, calendar, step.now, event_id).get(event_id, [])
    if not found:
        return 0
    event = step.event(event_id)
    for task_id, old, new in found:
        if task_id is None:
            event.light = new
        else:
            task = step.session.get(Task, task_id)
            assert task is not None
            task.light = new
        step.record(event, "light", {"task": task_id, "from": old, "to": new}, task_id=task_id)
    return len(found)


def issue_auto(step: Step, item: rules.Overdue) -> int:
    """Issue the automatic sheet (超时督办) of a limit that has gone red, unless it has one already — or carry
    the open sheet of an earlier run of the same step on to this one (:func:`rules.sheet_to_carry`).

    The reason says the limit in the district's time; a platform step's sheet (a task with no department) names
    the step, and the unit and role it is charged to (the task, which the sheet points at, holds them too)."""
    session = step.session
    if rules.has_sheet(session, item.event_id, item.task_id):
        return 0
    event = step.event(item.event_id)
    what = "任务" if item.task_id is not None else "案件"
    zone = step.parts.settings.calendar(session).timezone
    reason = f"{what}已超时（时限 {item.due_at.astimezone(zone):%Y-%m-%d %H:%M}），超时督办"
    task = session.get(Task, item.task_id) if item.task_id is not None else None
    carried = rules.sheet_to_carry(session, task) if task is not None else None
    if carried is not None:
        carried.task_id = item.task_id
        step.record(event, "sheet_carried", rules.sheet_record(carried), task_id=item.task_id)
        return 0
    if task is not None and task.department_code is None:
        unit = step.parts.org.directory(session).units.get(task.scope_code)
        role = ROLE_LABELS.get(task.role, task.role)
        reason += f"：{task.name}（{unit.name if unit is not None else task.scope_code}{role}）"
    sheet = SupervisionSheet(
        event_id=item.event_id,
        task_id=item.task_id,
        department_code=item.department_code,
        kind="auto",
        card="notice",
        reason=reason,
        status="open",
        issued_at=step.now,
        issued_by=step.actor.username,
        due_reference=item.due_at,
    )
    session.add(sheet)
    session.flush()
    step.record(event, "sheet_issued", rules.sheet_record(sheet), task_id=sheet.task_id)
    return 1


def escalate(step: Step, sheet_id: int, escalation: dict[str, list]) -> int:
    """Raise an overdue automatic sheet, or a leader's instruction unanswered past its reply deadline, to its
    next card (yellow, then red) when its moment has passed (:func:`engine.supervision.rules.escalation_at`)."""
    session = step.session
    sheet = session.get(SupervisionSheet, sheet_id)
    if sheet is None or sheet.status != "open" or not rules.sheet_still_overdue(session, sheet):
        return 0
    moment = rules.escalation_at(
        step.parts.settings.calendar(session), sheet, escalation, settings.get(session, "sheet_reply_limits")
    )
    card = rules.next_card(sheet.card)
    if moment is None or card is None or moment >= step.now:
        return 0
    event = step.event(sheet.event_id)
    sheet.card, sheet.escalated_at = card, step.now
    step.record(event, "sheet_escalated", rules.sheet_record(sheet), task_id=sheet.task_id)
    return 1


def issue(step: Step, event_id: int, department_code: str, reason: str) -> dict[str, Any]:
    """A leader issues a sheet (领导督办) on an event to a department; it needs the department's reply."""
    if not reason or not reason.strip():
        raise ValidationFailed("a supervision sheet needs a reason", {"reason": [FieldError("required")]})
    forms.require_storable({"department": department_code, "reason": reason})
    session, actor = step.session, step.actor
    visible = queries.visible_event(session, actor, event_id)
    if not rules.may_issue(actor):
        raise Forbidden(
            "only supervisors and shift leaders issue supervision sheets", code="sheet.issue_forbidden"
        )
    department = session.get(Department, department_code)
    if department is None:
        raise ValidationFailed(
            "unknown department {department!r}",
            {"department": [FieldError("department_unknown", {"department": department_code})]},
            department=department_code,
        )
    if not rules.may_issue_to(actor, department.unit_code):
        raise Forbidden(
            "department {department} is outside your scope; sheets go to departments you supervise",
            code="sheet.department_outside_scope",
            department=department_code,
        )
    event = step.event(visible.id)
    if not rules.can_be_supervised(event.state):
        raise Conflict(
            "event {event} is {state}; it can no longer be supervised",
            code="sheet.event_finished",
            event=event.code,
            state=event.state,
        )
    reply_limit = settings.get(session, "sheet_reply_limits").get("leader")
    sheet = SupervisionSheet(
        event_id=event.id,
        department_code=department_code,
        kind="leader",
        card="notice",
        reason=reason.strip(),
        status="open",
        issued_at=step.now,
        issued_by=actor.username,
        # the reply deadline (批示回复时限): the instruction's own light runs to it
        due_reference=step.parts.settings.calendar(session).due_at(
            step.now, float(reply_limit[0]), reply_limit[1]
        )
        if reply_limit
        else None,
    )
    session.add(sheet)
    session.flush()
    step.record(event, "sheet_issued", rules.sheet_record(sheet), task_id=sheet.task_id)
    return rules.sheet_row(sheet)


def reply(
    step: Step, sheet_id: int, text: str, *, event_id: int | None = None, task_id: int | None = None
) -> dict[str, Any]:
    """The department answers a sheet (a leader's sheet is cleared only after this and the case's closure).

    ``event_id`` / ``task_id``: the event or task the reply was made from (a page's address); a sheet that is
    not of that event, or not about that task, answers as a sheet that does not exist."""
    if not text or not text.strip():
        raise ValidationFailed("a reply needs text", {"reply": [FieldError("required")]})
    forms.require_storable({"reply": text})
    session, actor = step.session, step.actor
    sheet = session.get(SupervisionSheet, sheet_id)
    if sheet is None or (event_id is not None and sheet.event_id != event_id):
        raise NotFound("no supervision sheet {sheet}", code="sheet.not_found", sheet=sheet_id)
    if task_id is not None:
        page_task = session.get(Task, task_id)
        if (
            page_task is None
            or page_task.event_id != sheet.event_id
            or not rules.is_about(sheet, page_task.id, page_task.department_code)
        ):
            raise NotFound("no supervision sheet {sheet}", code="sheet.not_found", sheet=sheet_id)
    task = session.get(Task, sheet.task_id) if sheet.task_id is not None else None
    if not rules.may_reply(actor, sheet, task):
        try:
            queries.visible_event(session, actor, sheet.event_id)
        except NotFound as exc:  # out of scope answers exactly like a sheet that does not exist
            raise NotFound("no supervision sheet {sheet}", code="sheet.not_found", sheet=sheet_id) from exc
        raise Forbidden(
            "only the department (or the platform role) the sheet is addressed to can reply",
            code="sheet.reply_forbidden",
        )
    if sheet.status != "open":
        raise Conflict(
            "supervision sheet {sheet} is already {status}",
            code="sheet.not_open",
            sheet=sheet_id,
            status=sheet.status,
        )
    event = step.event(sheet.event_id)
    sheet.reply, sheet.replied_at, sheet.replied_by = text.strip(), step.now, actor.username
    step.record(event, "sheet_replied", rules.sheet_record(sheet), task_id=sheet.task_id)
    for cleared in rules.clear_for_closed_event(session, event, step.now, actor.username):
        step.record(event, "sheet_cleared", rules.sheet_record(cleared), task_id=cleared.task_id)
    session.flush()
    return rules.sheet_row(sheet)


def next_due(gl: Gridloop, session: Session) -> datetime | None:
    """When a time light next changes colour, or a sheet is to be issued or escalated (None: nothing pending)."""
    calendar = gl.parts.settings.calendar(session)
    now = gl.now()
    unit = unit_of(gl.parts.versions, session)
    scheme = timelights.load_scheme(session)
    moments = [
        m
        for m in (
            timelights.next_change(calendar, scheme, start, due, limit_unit, now)
            for _event, _task, start, due, limit_unit in _limits(session, unit)
        )
        if m is not None
    ]
    threshold = rules.red_threshold(settings.get(session, "time_lights"))
    moments += [item.red_at for item in rules.red_items(session, calendar, threshold, unit, None)]
    escalation = settings.get(session, "supervision_escalation")
    reply_limits = settings.get(session, "sheet_reply_limits")
    for sheet in session.scalars(select(SupervisionSheet).where(SupervisionSheet.status == "open")):
        moment = rules.escalation_at(calendar, sheet, escalation, reply_limits)
        if moment is not None and rules.sheet_still_overdue(session, sheet):
            moments.append(moment)
    return min(moments) if moments else None


def scan(gl: Gridloop, fired_by: str = SCHEDULER) -> dict[str, int]:
    """Record time-light colour changes, issue sheets for what has gone red, escalate overdue sheets — each
    change to an event one command of its own."""
    now = gl.now()
    by = system(fired_by)
    counts = {"lights": 0, "issued": 0, "escalated": 0}
    with gl.db.reading() as session:
        calendar = gl.parts.settings.calendar(session)
        coloured = sorted(_light_changes(gl.parts.versions, session, calendar, now))
    for event_id in coloured:
        try:
            counts["lights"] += gl.pipeline.run(by, record_lights, event_id)
        except Conflict:
            continue
    with gl.db.reading() as session:
        threshold = rules.red_threshold(settings.get(session, "time_lights"))
        escalation = settings.get(session, "supervision_escalation")
        reply_limits = settings.get(session, "sheet_reply_limits")
        red = rules.red_items(session, calendar, threshold, unit_of(gl.parts.versions, session), now)
        due_escalations = []
        for sheet in session.scalars(select(SupervisionSheet).where(SupervisionSheet.status == "open")):
            moment = rules.escalation_at(calendar, sheet, escalation, reply_limits)
            if moment is not None and moment < now and rules.sheet_still_overdue(session, sheet):
                due_escalations.append(sheet.id)
    for item in red:
        try:
            counts["issued"] += gl.pipeline.run(by, issue_auto, item)
        except Conflict:
            continue
    for sheet_id in due_escalations:
        try:
            counts["escalated"] += gl.pipeline.run(by, escalate, sheet_id, escalation)
        except Conflict:
            continue
    return counts
