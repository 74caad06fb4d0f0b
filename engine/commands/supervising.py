"""Supervision services: the scheduler's scan (issue, escalate, clear) and the leader's and department's actions.

Each change to a sheet is its own transaction together with a history record on the event, so it bumps the
event's version: two schedulers scanning at once cannot issue the same sheet twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import settings
from engine.audit import history
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.org import scope
from engine.reads import queries
from engine.store.db import connection_of
from engine.store.models import Department, Event, SupervisionSheet, Task
from engine.supervision import rules
from engine.time import timelights

SCHEDULER = "supervision"


def _unit_of(gl: Any, session: Session) -> Any:
    units: dict[tuple[int, str], str] = {}

    def unit_of(event: Event) -> str:
        key = (event.process_version_id, event.category)
        if key not in units:
            bundle = gl._runtime(session, event.process_version_id).bundle
            units[key] = next(
                (c.time_unit for c in bundle.categories if c.code == event.category), "work_hours"
            )
        return units[key]

    return unit_of


def record(
    session: Session, event: Event, now: datetime, actor: str, action: str, sheet: SupervisionSheet
) -> None:
    """Append a sheet action to the event's history (and touch the event, so its version moves)."""
    history.append(
        connection_of(session),
        event,
        now,
        actor,
        action,
        {
            "sheet": sheet.id,
            "department": sheet.department_code,
            "kind": sheet.kind,
            "card": sheet.card,
            "reason": sheet.reason,
            "reply": sheet.reply,
        },
        task_id=sheet.task_id,
    )
    event.updated_at = now


def _limits(session: Session, unit_of: Any) -> list[tuple[Event, Task | None, datetime, datetime, str]]:
    """Every running limit with a time light: open tasks with a due time, and open cases (clock not stopped)."""
    limits: list[tuple[Event, Task | None, datetime, datetime, str]] = []
    rows = session.execute(
        select(Task, Event)
        .join(Event, Event.id == Task.event_id)
        .where(Task.status == "open", Task.due_at.is_not(None))
    ).all()
    for task, event in rows:
        start = timelights.limit_start(task.due_at, task.created_at, event.opened_at, event.due_at)
        limits.append((event, task, start, task.due_at, unit_of(event)))
    for event in session.scalars(
        select(Event).where(Event.state == "open", Event.due_at.is_not(None), Event.opened_at.is_not(None))
    ):
        limits.append((event, None, event.opened_at, event.due_at, unit_of(event)))
    return limits


def _light_changes(gl: Any, session: Session, now: datetime) -> dict[int, list[tuple[int | None, str, str]]]:
    """Per event, the limits whose colour differs from the one last recorded: (task id or None, old, new)."""
    scheme = timelights.load_scheme(session)
    changes: dict[int, list[tuple[int | None, str, str]]] = {}
    for event, task, start, due, unit in _limits(session, _unit_of(gl, session)):
        current = timelights.light(gl.calendar, scheme, start, due, now, unit).colour
        recorded = (task.light if task is not None else event.light) or scheme.colours[0]
        if current != recorded:
            changes.setdefault(event.id, []).append(
                (task.id if task is not None else None, recorded, current)
            )
    return changes


def _record_lights(gl: Any, event_id: int, now: datetime, actor: str) -> int:
    """Record, in one transaction, the colour changes of one event's limits (re-checked inside it)."""
    with gl.db.unit_of_work() as session:
        event = session.get(Event, event_id)
        found = _light_changes(gl, session, now).get(event_id, [])
        for task_id, old, new in found:
            if task_id is None:
                event.light = new
            else:
                session.get(Task, task_id).light = new
            history.append(
                connection_of(session),
                event,
                now,
                actor,
                "light",
                {"task": task_id, "from": old, "to": new},
                task_id=task_id,
            )
            event.updated_at = now
        session.flush()
        return len(found)


def next_due(gl: Any) -> datetime | None:
    """When a time light next changes colour, or a sheet is to be issued or escalated (None: nothing pending)."""
    calendar = gl.calendar
    now = gl.now()
    with gl.db.reading() as session:
        scheme = timelights.load_scheme(session)
        changes = [
            timelights.next_change(calendar, scheme, start, due, unit, now)
            for _event, _task, start, due, unit in _limits(session, _unit_of(gl, session))
        ]
        threshold = rules.red_threshold(settings.get(session, "time_lights"))
        moments = [m for m in changes if m is not None]
        moments += [
            item.red_at for item in rules.red_items(session, calendar, threshold, _unit_of(gl, session), None)
        ]
        escalation = settings.get(session, "supervision_escalation")
        for sheet in session.scalars(select(SupervisionSheet).where(SupervisionSheet.status == "open")):
            if sheet.kind == "auto":
                moment = rules.escalation_at(calendar, sheet, escalation)
                if moment is not None and rules.sheet_still_overdue(session, sheet):
                    moments.append(moment)
    return min(moments) if moments else None


def scan(gl: Any, fired_by: str = SCHEDULER) -> dict[str, int]:
    """Record time-light colour changes, issue sheets for what has gone red, escalate overdue sheets."""
    now = gl.now()
    calendar = gl.calendar
    counts = {"lights": 0, "issued": 0, "escalated": 0}
    with gl.db.reading() as session:
        coloured = sorted(_light_changes(gl, session, now))
    for event_id in coloured:
        try:
            counts["lights"] += _record_lights(gl, event_id, now, fired_by)
        except Conflict:
            continue
    with gl.db.reading() as session:
        threshold = rules.red_threshold(settings.get(session, "time_lights"))
        escalation = settings.get(session, "supervision_escalation")
        red = rules.red_items(session, calendar, threshold, _unit_of(gl, session), now)
        due_escalations = []
        for sheet in session.scalars(
            select(SupervisionSheet).where(SupervisionSheet.status == "open", SupervisionSheet.kind == "auto")
        ):
            moment = rules.escalation_at(calendar, sheet, escalation)
            if moment is not None and moment < now and rules.sheet_still_overdue(session, sheet):
                due_escalations.append((sheet.id, moment))
    for item in red:
        try:
            counts["issued"] += _issue_auto(gl, item, now, fired_by)
        except Conflict:
            continue
    for sheet_id, _moment in due_escalations:
        try:
            counts["escalated"] += _escalate(gl, sheet_id, now, fired_by, escalation)
        except Conflict:
            continue
    return counts


def _issue_auto(gl: Any, item: rules.Overdue, now: datetime, actor: str) -> int:
    with gl.db.unit_of_work() as session:
        event = session.get(Event, item.event_id)
        if event is None or rules._has_sheet(session, item.event_id, item.task_id):
            return 0
        what = "任务" if item.task_id is not None else "案件"
        sheet = SupervisionSheet(
            event_id=item.event_id,
            task_id=item.task_id,
            department_code=item.department_code,
            kind="auto",
            card="notice",
            reason=f"{what}已超时（时限 {item.due_at.isoformat()}），超时督办",
            status="open",
            issued_at=now,
            issued_by=actor,
            due_reference=item.due_at,
        )
        session.add(sheet)
        session.flush()
        record(session, event, now, actor, "sheet_issued", sheet)
        session.flush()
    return 1


def _escalate(gl: Any, sheet_id: int, now: datetime, actor: str, escalation: dict[str, list]) -> int:
    with gl.db.unit_of_work() as session:
        sheet = session.get(SupervisionSheet, sheet_id)
        if sheet is None or sheet.status != "open" or not rules.sheet_still_overdue(session, sheet):
            return 0
        moment = rules.escalation_at(gl.calendar, sheet, escalation)
        card = rules.next_card(sheet.card)
        if moment is None or card is None or moment >= now:
            return 0
        event = session.get(Event, sheet.event_id)
        sheet.card, sheet.escalated_at = card, now
        record(session, event, now, actor, "sheet_escalated", sheet)
        session.flush()
    return 1


def issue(gl: Any, username: str, event_id: int, department_code: str, reason: str) -> dict[str, Any]:
    """A leader issues a sheet (领导督办) on an event to a department; it needs the department's reply."""
    now = gl.now()
    if not reason or not reason.strip():
        raise ValidationFailed("a supervision sheet needs a reason", {"reason": ["此项为必填项"]})
    with gl.db.unit_of_work() as session:
        actor = gl.actor(session, username)
        event = queries.visible_event(session, actor, event_id)
        if not rules.may_issue(actor):
            raise Forbidden("only supervisors and shift leaders issue supervision sheets")
        if session.get(Department, department_code) is None:
            raise ValidationFailed("unknown department", {"department": [f"部门 {department_code} 不存在"]})
        if not rules.can_be_supervised(event.state):
            raise Conflict(f"event {event.code} is {event.state}; it can no longer be supervised")
        sheet = SupervisionSheet(
            event_id=event.id,
            department_code=department_code,
            kind="leader",
            card="notice",
            reason=reason.strip(),
            status="open",
            issued_at=now,
            issued_by=actor.username,
        )
        session.add(sheet)
        session.flush()
        record(session, event, now, actor.username, "sheet_issued", sheet)
        session.flush()
        return rules.sheet_row(sheet)


def reply(gl: Any, username: str, sheet_id: int, text: str) -> dict[str, Any]:
    """The department answers a sheet (a leader's sheet is cleared only after this and the case's closure)."""
    now = gl.now()
    if not text or not text.strip():
        raise ValidationFailed("a reply needs text", {"reply": ["此项为必填项"]})
    with gl.db.unit_of_work() as session:
        actor = gl.actor(session, username)
        sheet = session.get(SupervisionSheet, sheet_id)
        if sheet is None:
            raise NotFound(f"no supervision sheet {sheet_id}")
        if not any(a.department_code == sheet.department_code for a in actor.assignments):
            queries.visible_event(session, actor, sheet.event_id)
            raise Forbidden("only the department the sheet is addressed to can reply")
        if sheet.status != "open":
            raise Conflict(f"supervision sheet {sheet_id} is already {sheet.status}")
        sheet.reply, sheet.replied_at, sheet.replied_by = text.strip(), now, actor.username
        event = session.get(Event, sheet.event_id)
        record(session, event, now, actor.username, "sheet_replied", sheet)
        for cleared in rules.clear_for_closed_event(session, event, now, actor.username):
            record(session, event, now, actor.username, "sheet_cleared", cleared)
        session.flush()
        return rules.sheet_row(sheet)


def board(gl: Any, username: str, status: str = "open") -> list[dict[str, Any]]:
    """The sheets the user may see, most severe first, for the supervision board (by department and card)."""
    with gl.db.reading() as session:
        actor = gl.actor(session, username)
        query = (
            select(SupervisionSheet, Event)
            .join(Event, Event.id == SupervisionSheet.event_id)
            .where(scope.event_filter(actor), SupervisionSheet.status == status)
        )
        rows = session.execute(query).all()
    severity = {card: i for i, card in enumerate(rules.CARDS)}
    result = []
    for sheet, event in rows:
        row = rules.sheet_row(sheet)
        row.update(event_code=event.code, category=event.category, grid=event.grid_code)
        result.append(row)
    result.sort(key=lambda r: (-severity[r["card"]], r["department"] or "", r["issued_at"]))
    return result
