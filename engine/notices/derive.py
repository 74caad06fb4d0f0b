"""What a command's happenings mean to whom: notices derived in one place from what the pipeline recorded.

The pipeline hands over, just before it saves, the inbox rows the command created and the history records it
wrote (:class:`Recorded`); nothing else sends notices, so a new command notifies by what it does, not by code
of its own. The rules, each by what was recorded rather than by step names (the BPMN is the truth):

- an inbox row created: ``task_offered`` to everyone it is offered to — the role within a scope covering the
  row's, or the department's staff holding the role — or ``task_returned`` when the same step was offered to
  the same role and scope (or department) of this case and completed before (rework after a failed
  verification, a reopened case, a task back after a send-back or a request);
- a record naming its addressee in ``data["to"]`` (:data:`ADDRESSED_ACTIONS`): that user, kind = the action;
- ``light`` to a colour past the scheme's first: the task's holder (its assignee, else everyone it is offered
  to), or for the case's own light the holders of the case's open tasks;
- ``sheet_issued`` / ``sheet_escalated``: the sheet's department's staff (else the holders as for a light); a
  leader's sheet is a ``leader_instruction``; ``sheet_replied``: whoever issued it; ``sheet_cleared``: both;
- a case the command closed (or ended without closing it: voided) that reports were linked to as similar
  (``similar_linked`` records): ``similar_closed`` to each linked report's reporter;
- a ``complete`` of a step whose BPMN names a ``decisionVariable`` (an approval: 延期审批, 挂账审批, 作废审批):
  ``request_approved`` or ``request_refused`` — by that boolean of the form — to whoever completed the step
  whose completion offered the approval (the request), who then gets no offer notice for the same case.

The actor is never told of their own action; a user gets one notice of a kind per case per command; only
active staff accounts receive any.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select

from engine.notices import outbox
from engine.org.cache import Reachable
from engine.store import statements
from engine.store.models import Event, HistoryEntry, RoleAssignment, SupervisionSheet, Task, User
from engine.time import timelights

if TYPE_CHECKING:
    from engine.commands.pipeline import Step

# every kind of notice, in the order the notice centre's filters and the catalogs list them
KINDS: tuple[str, ...] = (
    "task_offered",
    "task_returned",
    "assigned",
    "delegated",
    "light",
    "sheet_issued",
    "sheet_escalated",
    "sheet_replied",
    "sheet_cleared",
    "leader_instruction",
    "request_approved",
    "request_refused",
    "similar_closed",
)
# history actions whose data names the one user they concern in ``to`` (a task assigned or delegated to them)
ADDRESSED_ACTIONS: tuple[str, ...] = ("assigned", "delegated")
OFFER_KINDS = ("task_offered", "task_returned")
DECISION_KINDS = ("request_approved", "request_refused")
REASON_LENGTH = 200  # how much of a sheet's reason a notice repeats

# the staff table's columns the outbox reaches a user by
_REACHABLE = select(User.username, User.phone, User.email, User.language).where(
    User.username.in_(bindparam("names", expanding=True)), User.active.is_(True)
)


@dataclass(frozen=True)
class Recorded:
    """A history record as the pipeline wrote it: the event row, the action, its data, step and task."""

    event: Any
    action: str
    data: dict[str, Any]
    bpmn_id: str | None
    task_id: int | None


@dataclass
class _Draft:
    kind: str
    event: Any
    task_id: int | None
    data: dict[str, Any]
    recipients: set[str] = field(default_factory=set)


class _Resolver:
    """Who holds what, read through the command's connection (each question asked once per command)."""

    def __init__(self, step: Step) -> None:
        self.step = step
        # the command's connection: its inbox rows are written there, and a query needs no flush of the session
        self.conn = step.conn
        self.directory = step.parts.org.directory(step.session)
        self.reachable: dict[str, Reachable] = {}  # the staff met so far, as the outbox reaches them

    def offered_to(self, role: str, scope_code: str, department_code: str | None) -> set[str]:
        """The active users a task of ``role`` at ``scope_code`` (or for ``department_code``) is offered to: the
        rule of :func:`engine.org.scope.is_candidate`, asked of the staff table (:meth:`OrgCache.offered_to`)."""
        found = self.step.parts.org.offered_to(self.conn, role, scope_code, department_code)
        self.reachable.update((r.username, r) for r in found)
        return {r.username for r in found}

    def department_staff(self, department_code: str | None) -> set[str]:
        """Everyone holding a role in the department."""
        if department_code is None:
            return set()
        query = select(User.username).join(RoleAssignment)
        return set(self.conn.scalars(query.where(RoleAssignment.department_code == department_code)))

    def task(self, task_id: int | None) -> Any:
        """An inbox row's columns as they stand now (None for none)."""
        if task_id is None:
            return None
        return self.conn.execute(
            select(
                Task.id,
                Task.name,
                Task.role,
                Task.scope_code,
                Task.department_code,
                Task.assignee,
                Task.status,
                Task.created_at,
            ).where(Task.id == task_id)
        ).one_or_none()

    def holders(self, task: Any) -> set[str]:
        """Who has a task in hand: its assignee, else everyone it is offered to."""
        if task.assignee:
            return {task.assignee}
        return self.offered_to(task.role, task.scope_code, task.department_code)

    def open_task_holders(self, event_id: int) -> set[str]:
        """The holders of a case's open tasks."""
        found: set[str] = set()
        for task_id in self.conn.scalars(
            select(Task.id).where(Task.event_id == event_id, Task.status == "open")
        ):
            found |= self.holders(self.task(task_id))
        return found

    def department_name(self, code: str | None) -> str:
        """A department's name (its code when unknown, empty for none)."""
        if code is None:
            return ""
        department = self.directory.departments.get(code)
        return department.name if department is not None else code

    def requester(self, event_id: int, approval: Any) -> str | None:
        """Who completed the step whose completion offered ``approval`` (the same command: the same instant), or
        who started the instance when its start offered it (an appeal's decision)."""
        completed_by = self.conn.scalar(
            select(Task.completed_by)
            .where(
                Task.event_id == event_id,
                Task.status == "completed",
                Task.completed_at == approval.created_at,
                Task.id != approval.id,
            )
            .order_by(Task.id.desc())
            .limit(1)
        )
        if completed_by is not None:
            return str(completed_by)
        starter = self.conn.scalar(
            select(Event.reporter).where(Event.id == event_id, Event.reported_at == approval.created_at)
        )
        return None if starter is None else str(starter)


def _common(event: Any, step_name: str | None = None) -> dict[str, Any]:
    return {"event_code": event.code or "", "step": step_name or ""}


@dataclass(frozen=True)
class Offer:
    """An inbox row a command created, for its notice: with the question its kind turns on (had the case this
    step done by the same role and scope before: then it is returned, not offered), asked as the row was
    written and answered when the notices are (on PostgreSQL, with the command's writes)."""

    event: Any
    row: Any
    returned: Callable[[], bool]


def offer(step: Step, event: Any, row: Any) -> Offer:
    """The notice-to-be of an inbox row the command has just written (the pipeline's, for :func:`write`)."""
    return Offer(event, row, statements.completed_before(step.conn, row))


def _offer(resolver: _Resolver, offered: Offer) -> _Draft:
    event, row = offered.event, offered.row
    kind = "task_returned" if offered.returned() else "task_offered"
    data = {**_common(event, row.name), "department": resolver.department_name(row.department_code)}
    recipients = resolver.offered_to(row.role, row.scope_code, row.department_code)
    return _Draft(kind, event, row.id, data, set(recipients))


def _sheet(resolver: _Resolver, record: Recorded) -> list[_Draft]:
    data = record.data
    task = resolver.task(record.task_id)
    sheet_data = {
        **_common(record.event, task.name if task is not None else None),
        "sheet": data.get("sheet"),
        "card": data.get("card") or "",
        "department": resolver.department_name(data.get("department")),
        "reason": (data.get("reason") or "")[:REASON_LENGTH],
    }
    department = resolver.department_staff(data.get("department"))
    if not department:
        department = (
            resolver.holders(task) if task is not None else resolver.open_task_holders(record.event.id)
        )
    issuer = set(
        resolver.conn.scalars(
            select(SupervisionSheet.issued_by).where(SupervisionSheet.id == data.get("sheet"))
        )
    )
    action = record.action
    if action == "sheet_issued":
        kind = "leader_instruction" if data.get("kind") == "leader" else "sheet_issued"
        recipients = department
    elif action == "sheet_escalated":
        kind, recipients = action, department
    elif action == "sheet_replied":
        kind, recipients = action, issuer
    else:
        kind, recipients = action, department | issuer
    return [_Draft(kind, record.event, record.task_id, sheet_data, set(recipients))]


def _light(resolver: _Resolver, record: Recorded, first_colour: str) -> list[_Draft]:
    colour = record.data.get("to")
    if not colour or colour == first_colour:
        return []
    task = resolver.task(record.task_id)
    if task is not None and task.status != "open":
        return []
    recipients = resolver.holders(task) if task is not None else resolver.open_task_holders(record.event.id)
    data = {**_common(record.event, task.name if task is not None else None), "colour": colour}
    return [_Draft("light", record.event, record.task_id, data, set(recipients))]


def _decision(resolver: _Resolver, record: Recorded) -> list[_Draft]:
    info = resolver.step.deployed(record.event).bundle.user_tasks.get(record.bpmn_id or "")
    variable = info.decision_variable if info is not None else None
    if variable is None:
        return []
    approved = (record.data.get("form") or {}).get(variable)
    approval = resolver.task(record.task_id)
    if not isinstance(approved, bool) or approval is None:
        return []
    requester = resolver.requester(record.event.id, approval)
    if requester is None:
        return []
    kind = "request_approved" if approved else "request_refused"
    return [_Draft(kind, record.event, record.task_id, _common(record.event, approval.name), {requester})]


def _addressed(resolver: _Resolver, record: Recorded) -> list[_Draft]:
    to = record.data.get("to")
    if not isinstance(to, str):
        return []
    task = resolver.task(record.task_id)
    data = {
        **_common(record.event, task.name if task is not None else None),
        "by": resolver.step.actor.display_name,
    }
    return [_Draft(record.action, record.event, record.task_id, data, {to})]


def _drafts(resolver: _Resolver, offers: Iterable[Offer], records: Iterable[Recorded]) -> list[_Draft]:
    step = resolver.step
    drafts = [_offer(resolver, offered) for offered in offers]
    first_colour: str | None = None
    for record in records:
        if record.action in ADDRESSED_ACTIONS:
            drafts += _addressed(resolver, record)
        elif record.action.startswith("sheet_") and record.action != "sheet_appealed":
            # (an appeal offers its decision to the evaluators: that offer is its notice)
            drafts += _sheet(resolver, record)
        elif record.action == "light":
            if first_colour is None:
                first_colour = timelights.load_scheme(step.session).colours[0]
            drafts += _light(resolver, record, first_colour)
        elif record.action == "complete":
            drafts += _decision(resolver, record)
    finished = {r.event.id: r.event for r in records if _finished_now(r.event)}
    for event in finished.values():
        drafts += _similar_closed(resolver, event)
    return drafts


def _finished_now(event: Any) -> bool:
    """Whether the command closed the case (结案), or ended one that was never closed (voided)."""
    changes = getattr(event, "changes", None)
    changed = changes() if changes is not None else {}
    if "closed_at" in changed:
        return event.closed_at is not None
    return "completed" in changed and event.completed and event.closed_at is None


def _similar_closed(resolver: _Resolver, event: Any) -> list[_Draft]:
    """The reporters of the reports linked to a case just finished, told that it is."""
    linked = resolver.conn.scalars(
        select(HistoryEntry.data).where(
            HistoryEntry.event_id == event.id, HistoryEntry.action == "similar_linked"
        )
    ).all()
    reporters = {d["reporter"] for d in linked if isinstance(d, dict) and isinstance(d.get("reporter"), str)}
    if not reporters:
        return []
    return [_Draft("similar_closed", event, None, _common(event), reporters)]


def write(step: Step, offers: list[Offer], records: list[Recorded]) -> None:
    """Write the notices of what the command did — one row per recipient, and its outbox rows — in the
    command's transaction. Called by the pipeline only, just before it saves."""
    if not offers and not records:
        return
    resolver = _Resolver(step)
    drafts = _drafts(resolver, offers, records)
    decided = {(u, d.event.id) for d in drafts if d.kind in DECISION_KINDS for u in d.recipients}
    seen: set[tuple[str, str, int]] = set()
    wanted: list[tuple[str, _Draft]] = []
    for draft in drafts:
        for username in sorted(draft.recipients):
            key = (username, draft.kind, draft.event.id)
            if username == step.actor.username or key in seen:
                continue
            if draft.kind in OFFER_KINDS and (username, draft.event.id) in decided:
                continue  # the requester hears of the decision, which sent the task back to them
            seen.add(key)
            wanted.append((username, draft))
    if not wanted:
        return
    users = dict(resolver.reachable)
    unknown = sorted({u for u, _ in wanted} - set(users))
    if unknown:  # addressees, issuers, a department's staff: asked of the staff table
        found = step.conn.execute(_REACHABLE, {"names": unknown})
        users.update((u.username, Reachable(u.username, u.phone, u.email, u.language or "zh")) for u in found)
    values = [
        {
            "username": username,
            "kind": draft.kind,
            "event_id": draft.event.id,
            "task_id": draft.task_id,
            "data": draft.data,
            "created_at": step.now,
        }
        for username, draft in wanted
        if username in users
    ]
    if not values:
        return
    rows = [statements.insert_notice(step.conn, v) for v in values]
    if outbox.wanted(step):  # (a notice's id is asked for only then: it is written with the command's writes)
        written = [{**v, "id": row.id} for v, row in zip(values, rows, strict=True)]
        outbox.write(step, [(notice, users[notice["username"]]) for notice in written])
