"""Supervision (督办): sheets issued when a case, a department's task or a platform step goes red, escalated
while overdue.

The rules are settings, not code paths: "red" is the last colour of the time-light scheme (``time_lights``),
the escalation steps and their delays are ``supervision_escalation`` (default: yellow card one working day
after issue, red card after three). A department's task that goes red charges that department only — so in a
joint meeting only the late support department gets a sheet. A case that goes red charges the department
holding it. A platform step — a task with no department, offered to a role within a scope (受理, 派遣, 核查,
结案 …: whichever the diagram has) — that goes red gets a sheet with no department, on that task: it is
charged to the task's role within the task's scope, and cleared as soon as the step is done. Other sheets are
cleared (销号) only once the case is closed after verification; a leader's sheet also needs the department's
reply first, and left unanswered past its reply deadline it escalates card by card like an automatic one. Every sheet action is recorded in the event's history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from engine.org import scope
from engine.store import statements
from engine.store.db import connection_of
from engine.store.models import Event, SupervisionSheet, Task
from engine.time import timelights
from engine.time.calendar import BusinessCalendar

CARDS: tuple[str, ...] = ("notice", "yellow", "red")
SHEET_ISSUERS: tuple[str, ...] = ("supervisor", "shift_leader")
FINISHED_STATES: tuple[str, ...] = ("closed", "rejected", "not_found", "voided")


def may_issue(actor: Any) -> bool:
    """Whether the actor may issue a leader's sheet (a supervisor or shift leader of a platform, not a department)."""
    return any(a.role in SHEET_ISSUERS and a.department_code is None for a in actor.assignments)


def may_issue_to(actor: Any, unit_code: str) -> bool:
    """Whether the actor may issue a leader's sheet to a department hanging under ``unit_code``: only inside a
    scope where they supervise or lead the shift."""
    return any(
        a.role in SHEET_ISSUERS and a.department_code is None and unit_code.startswith(a.scope_code)
        for a in actor.assignments
    )


def can_be_supervised(state: str) -> bool:
    """Whether an event in ``state`` can still take a leader's sheet."""
    return state not in FINISHED_STATES


def charged_to(sheet: SupervisionSheet, task: Task | None) -> dict[str, Any]:
    """Whom a sheet is charged to beyond its department: for a sheet on a platform step (a task with no
    department) the step's name, role and scope; for any other sheet the step's name (if on a task) alone."""
    platform = sheet.department_code is None and task is not None and task.department_code is None
    return {
        "step_name": task.name if task is not None else None,
        "role": task.role if platform and task is not None else None,
        "scope": task.scope_code if platform and task is not None else None,
    }


def may_reply(actor: Any, sheet: SupervisionSheet, task: Task | None) -> bool:
    """Whether the actor answers for the sheet: staff of its department, or — for a platform step's sheet —
    those who hold the step's role within its scope, and whoever has claimed the step."""
    if sheet.department_code is not None:
        return any(a.department_code == sheet.department_code for a in actor.assignments)
    if task is None or task.department_code is not None:
        return False
    return task.assignee == actor.username or scope.is_candidate(actor, task)


@dataclass(frozen=True)
class Overdue:
    """A case, a department task or a platform step that has gone red and has no sheet yet."""

    event_id: int
    task_id: int | None
    department_code: str | None
    red_at: datetime
    due_at: datetime


def red_threshold(time_lights: list[list]) -> float:
    """The share of a limit at which the last (red) colour begins."""
    return float(time_lights[-1][1])


def red_at(
    calendar: BusinessCalendar, start: datetime, due: datetime, unit: str, threshold: float
) -> datetime:
    """When a limit running from ``start`` to ``due`` turns red (``threshold`` 1.0 → at the due time)."""
    return timelights.reached_at(calendar, start, due, unit, threshold)


def has_sheet(session: Session, event_id: int, task_id: int | None) -> bool:
    """True when the limit (the task's, or the case's for None) has an automatic sheet already."""
    query = select(SupervisionSheet.id).where(
        SupervisionSheet.event_id == event_id, SupervisionSheet.kind == "auto"
    )
    query = query.where(
        SupervisionSheet.task_id == task_id if task_id is not None else SupervisionSheet.task_id.is_(None)
    )
    return session.scalar(query.limit(1)) is not None


def sheet_to_carry(session: Session, task: Task) -> SupervisionSheet | None:
    """The open automatic sheet a department's task should carry on rather than get a new one: the sheet of an
    earlier run of the same step of the case for the same department (a rework after a failed check, the task
    back after a refused request). It keeps its card and the moment it was issued — the escalation clock runs
    on from the first time the step went red, and the department is charged one sheet, not one per run."""
    if task.department_code is None:
        return None
    earlier = aliased(Task)
    return session.scalar(
        select(SupervisionSheet)
        .join(earlier, earlier.id == SupervisionSheet.task_id)
        .where(
            SupervisionSheet.event_id == task.event_id,
            SupervisionSheet.kind == "auto",
            SupervisionSheet.status == "open",
            SupervisionSheet.department_code == task.department_code,
            earlier.bpmn_id == task.bpmn_id,
            earlier.id != task.id,
            earlier.status != "open",
        )
        .order_by(SupervisionSheet.issued_at.desc(), SupervisionSheet.id.desc())
        .limit(1)
    )


def red_items(
    session: Session,
    calendar: BusinessCalendar,
    threshold: float,
    unit_of: Callable[[Event, Task | None], str],
    until: datetime | None,
) -> list[Overdue]:
    """Open tasks — a department's, or a platform step's (no department: charged to its role within its
    scope) — and open cases not in a department's hands, that turn red by ``until`` (all pending ones when
    None) and have no sheet yet."""
    items: list[Overdue] = []
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
        moment = red_at(calendar, start, task.due_at, unit_of(event, task), threshold)
        if (until is None or moment < until) and not has_sheet(session, event.id, task.id):
            items.append(Overdue(event.id, task.id, task.department_code, moment, task.due_at))
    cases = session.scalars(
        select(Event).where(Event.state == "open", Event.due_at.is_not(None), Event.opened_at.is_not(None))
    )
    in_department_hands = {event.id for task, event in rows if task.department_code is not None}
    for event in cases:
        if event.id in in_department_hands or not timelights.case_running(event):
            continue  # the department's own task sheet covers it; or it reported back: the steps' limits run
        case_start = timelights.case_start(event)
        assert case_start is not None and event.due_at is not None  # as the query asks
        moment = red_at(calendar, case_start, event.due_at, unit_of(event, None), threshold)
        if (until is None or moment < until) and not has_sheet(session, event.id, None):
            items.append(Overdue(event.id, None, event.department_code, moment, event.due_at))
    return items


def next_card(card: str) -> str | None:
    """The card a sheet escalates to next (None after the red card)."""
    index = CARDS.index(card)
    return CARDS[index + 1] if index + 1 < len(CARDS) else None


def escalation_at(
    calendar: BusinessCalendar,
    sheet: SupervisionSheet,
    escalation: dict[str, list],
    reply_limits: dict[str, list] | None = None,
) -> datetime | None:
    """When an open sheet takes its next card (None when it has no further card): an automatic sheet by
    ``escalation`` (the ``supervision_escalation`` setting), counted from its issue; a leader's instruction left
    unanswered (批示未回复) at its reply deadline, and one card more each further reply limit of its kind
    (``reply_limits``: the ``sheet_reply_limits`` setting) — never once it is answered."""
    card = next_card(sheet.card)
    if card is None:
        return None
    if sheet.kind == "leader":
        limit = (reply_limits or {}).get(sheet.kind)
        if sheet.reply is not None or sheet.due_reference is None or limit is None:
            return None
        moment = sheet.due_reference
        for _ in range(CARDS.index(sheet.card)):
            moment = calendar.due_at(moment, float(limit[0]), limit[1])
        return moment
    if card not in escalation:
        return None
    amount, unit = escalation[card]
    return calendar.due_at(sheet.issued_at, float(amount), unit)


def sheet_still_overdue(session: Session, sheet: SupervisionSheet) -> bool:
    """Whether what the sheet is about is still unfinished (its task open, or its case not closed; a leader's
    instruction: its reply)."""
    if sheet.kind == "leader":
        return sheet.reply is None
    if sheet.task_id is not None:
        task = session.get(Task, sheet.task_id)
        return task is not None and task.status == "open"
    event = session.get(Event, sheet.event_id)
    return event is not None and event.state == "open"


# why an appeal (申诉) cannot be made, said on the appeal form's sheet field
APPEAL_FIELD_CODES = {
    "unknown": "appeal.sheet_unknown",
    "department": "appeal.not_your_department",
    "no_deduction": "appeal.no_deduction",
    "too_late": "appeal.too_late",
}
APPEALED = "appeal.already_appealed"  # not a field's error: a second appeal is a conflict


def appeal_closes(calendar: BusinessCalendar, issued_at: datetime, within: list) -> datetime:
    """The end of the appeal period (申诉期限) of a sheet issued at ``issued_at``: ``within`` ([amount, unit])
    of its issue."""
    return calendar.due_at(issued_at, float(within[0]), within[1])


def appeal_refusal(
    actor: Any, sheet: dict[str, Any], points: dict[str, float], closes: datetime, now: datetime
) -> str | None:
    """Why ``actor`` may not appeal (申诉) against ``sheet`` (a sheet row, :func:`sheet_row`) now — a field
    error's code — or None when they may: a handler of the department charged with it, while it costs that
    department points (``points``: the ``sheet_deductions`` setting), once, until ``closes``
    (:func:`appeal_closes`). One rule for the page that offers the appeal and the command that starts it."""
    if not any(a.department_code and a.department_code == sheet["department"] for a in actor.assignments):
        return APPEAL_FIELD_CODES["department"]
    if points.get(sheet["card"], 0) <= 0:
        return APPEAL_FIELD_CODES["no_deduction"]
    if sheet["appeal_event_id"] is not None:
        return APPEALED
    if now > closes:
        return APPEAL_FIELD_CODES["too_late"]
    return None


def sheet_record(sheet: SupervisionSheet) -> dict[str, Any]:
    """What the history records of a sheet action: the sheet, its department, kind, card, reason and reply."""
    return {
        "sheet": sheet.id,
        "department": sheet.department_code,
        "kind": sheet.kind,
        "card": sheet.card,
        "reason": sheet.reason,
        "reply": sheet.reply,
        "due": sheet.due_reference,
    }


def sheet_row(sheet: SupervisionSheet) -> dict:
    """A sheet as pages and the API show it."""
    return {
        "id": sheet.id,
        "event_id": sheet.event_id,
        "task_id": sheet.task_id,
        "department": sheet.department_code,
        "kind": sheet.kind,
        "card": sheet.card,
        "reason": sheet.reason,
        "status": sheet.status,
        "issued_at": sheet.issued_at,
        "issued_by": sheet.issued_by,
        "escalated_at": sheet.escalated_at,
        "reply": sheet.reply,
        "replied_at": sheet.replied_at,
        "replied_by": sheet.replied_by,
        "cleared_at": sheet.cleared_at,
        # a leader's instruction is answered by this moment (None for an automatic sheet: cleared, not answered)
        "reply_due_at": sheet.due_reference if sheet.kind == "leader" else None,
        "appeal_event_id": sheet.appeal_event_id,
    }


def clear_for_done_step(
    session: Session, task: Any, now: datetime, *, open_sheets: bool | None = None
) -> list[SupervisionSheet]:
    """Clear (销号) the open sheets of a platform step (a task with no department; an inbox row, ORM or the
    hot path's) that has just been done: the step is what they were about. The caller records history.
    ``open_sheets``: whether the case has any open sheet, when the caller knows (else it is asked)."""
    # most steps are done without a sheet: one light statement tells, before any sheet is loaded
    if task.department_code is not None or task.due_at is None:
        return []
    if open_sheets is None:
        open_sheets = statements.has_open_sheets(connection_of(session), task.event_id)
    if not open_sheets:
        return []
    cleared = list(
        session.scalars(
            select(SupervisionSheet).where(
                SupervisionSheet.task_id == task.id,
                SupervisionSheet.department_code.is_(None),
                SupervisionSheet.status == "open",
            )
        )
    )
    for sheet in cleared:
        sheet.status, sheet.cleared_at = "cleared", now
    return cleared


def clear_for_closed_event(session: Session, event: Any, now: datetime, actor: str) -> list[SupervisionSheet]:
    """Clear (销号) the open sheets of a case that has just been closed after verification.

    A leader's sheet stays open until the department has replied. The caller records history.
    """
    cleared: list[SupervisionSheet] = []
    if event.state != "closed":
        return cleared
    # most cases close without a sheet: what the event was read with tells, else one light statement
    open_sheets = statements.open_sheets_at_read(event)
    if open_sheets is None:
        open_sheets = statements.has_open_sheets(connection_of(session), event.id)
    if not open_sheets:
        return cleared
    for sheet in session.scalars(
        select(SupervisionSheet).where(
            SupervisionSheet.event_id == event.id, SupervisionSheet.status == "open"
        )
    ):
        if sheet.status != "open":  # cleared by this command already (the done step's: clear_for_done_step)
            continue
        if sheet.kind == "leader" and sheet.reply is None:
            continue
        sheet.status, sheet.cleared_at = "cleared", now
        cleared.append(sheet)
    return cleared


def is_about(sheet: SupervisionSheet, task_id: int, department_code: str | None) -> bool:
    """Whether ``sheet`` (of the task's event) is about the task ``task_id`` of ``department_code``: issued on
    that very task, or charged to the task's department (a leader's sheet, a case gone red)."""
    if sheet.task_id == task_id:
        return True
    return sheet.department_code is not None and sheet.department_code == department_code
