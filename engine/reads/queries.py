"""Read-only queries, always limited to what the actor may see (shared/DESIGN.md rule 7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal_column, or_, select
from sqlalchemy.orm import Session

from engine.errors import FieldError, NotFound, ValidationFailed
from engine.evaluation.metrics import NOT_CASES
from engine.org import scope
from engine.org.people import Actor
from engine.reads.listing import COUNT_LIMIT
from engine.store import search
from engine.store.models import Event, HistoryEntry, SupervisionSheet, Task, code_prefix
from engine.supervision import rules

INBOX_VIEWS = ("mine", "claimable", "follow_up", "done")


def bounded_count(session: Session, query: Select[*tuple[Any, ...]]) -> int:
    """How many rows ``query`` gives, counted up to :data:`~engine.reads.listing.COUNT_LIMIT` + 1 (more than
    the limit: there are more; a count of every row of years of history would read them all for each page)."""
    counted: Select[Any] = query.with_only_columns(literal_column("1"), maintain_column_froms=True)
    counted = counted.limit(COUNT_LIMIT + 1)
    return session.scalar(select(func.count()).select_from(counted.subquery())) or 0


def task_row(task: Task, event: Event) -> dict[str, Any]:
    """A task as the inbox and the API show it."""
    return {
        "id": task.id,
        "event_id": event.id,
        "event_code": event.code,
        "category": event.category,
        "grid": event.grid_code,
        "process_version_id": event.process_version_id,
        "step": task.bpmn_id,
        "name": task.name,
        "role": task.role,
        "scope": task.scope_code,
        "department": task.department_code,
        "assignee": task.assignee,
        "status": task.status,
        "form": task.form,
        "due_at": task.due_at,
        "created_at": task.created_at,
        "claimed_at": task.claimed_at,
        "completed_at": task.completed_at,
        "completed_by": task.completed_by,
        "delegated_by": task.delegated_by,
        "follow_up_at": task.follow_up_at,
    }


def _inbox_conditions(actor: Actor, view: str) -> tuple[ColumnElement[bool], ...]:
    """The conditions on the tasks of an inbox view (they name the task's columns alone)."""
    if view not in INBOX_VIEWS:
        raise ValueError(f"inbox view {view!r} is not one of {', '.join(INBOX_VIEWS)}")
    if view == "mine":
        return Task.status == "open", Task.assignee == actor.username
    if view == "claimable":
        return Task.status == "open", Task.assignee.is_(None), scope.task_filter(actor)
    if view == "follow_up":  # my open tasks with a follow-up date (engine.commands.assignment)
        return Task.status == "open", Task.assignee == actor.username, Task.follow_up_at.is_not(None)
    return Task.status == "completed", Task.completed_by == actor.username


def _inbox_count(session: Session, actor: Actor, view: str, *on_event: ColumnElement[bool]) -> int:
    """How many tasks an inbox view holds (bounded): counted over the tasks alone — every task has its event —
    unless a condition on the case (its category, its grid) needs the events too."""
    counted = select(Task.id).where(*_inbox_conditions(actor, view))
    if on_event:
        counted = counted.join(Event, Event.id == Task.event_id).where(*on_event)
    return bounded_count(session, counted)


def inbox(
    session: Session,
    actor: Actor,
    view: str = "mine",
    category: str | None = None,
    grid: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the actor's inbox (``mine``, ``claimable``, ``follow_up`` or ``done``), soonest due first (the
    follow-up view soonest follow-up date first, so the due ones lead), and the total."""
    on_event: list[ColumnElement[bool]] = []
    if category:
        on_event.append(code_prefix(Event.category, category))
    if grid:
        on_event.append(code_prefix(Event.grid_code, grid))
    total = _inbox_count(session, actor, view, *on_event)
    priority = instructed(Task.event_id)
    order: tuple[Any, ...] = (Task.due_at.is_(None), Task.due_at, Task.id)
    if view == "done":
        order = (Task.completed_at.desc(),)
    elif view == "follow_up":
        order = (Task.follow_up_at, *order)
    else:  # a case under a leader's instruction (领导批示) comes first
        order = (priority.desc(), *order)
    query = (
        select(Task, Event, priority)
        .join(Event, Event.id == Task.event_id)
        .where(*_inbox_conditions(actor, view), *on_event)
    )
    rows = session.execute(query.order_by(*order).offset((page - 1) * per_page).limit(per_page)).all()
    return [task_row(task, event) | {"priority": bool(flag)} for task, event, flag in rows], total


def instructed(event_id: Any) -> Any:
    """SQL: whether the event has a leader's instruction (领导批示) still open — the priority flag (优先) of its
    tasks in the inbox, raised by the instruction's issue and lowered by its clearing."""
    return (
        select(SupervisionSheet.id)
        .where(
            SupervisionSheet.event_id == event_id,
            SupervisionSheet.kind == "leader",
            SupervisionSheet.status == "open",
        )
        .exists()
        .label("priority")
    )


def open_steps(session: Session, event_ids: set[int]) -> dict[int, list[dict[str, Any]]]:
    """The open tasks with a time limit of each of ``event_ids`` (in one statement), by event: what a list of
    cases needs to show the light of their steps' limits beside the case's own."""
    if not event_ids:
        return {}
    rows = session.execute(
        select(Task.id, Task.event_id, Task.bpmn_id, Task.name, Task.due_at, Task.created_at, Event.category)
        .join(Event, Event.id == Task.event_id)
        .where(Task.event_id.in_(sorted(event_ids)), Task.status == "open", Task.due_at.is_not(None))
        .order_by(Task.id)
    ).all()
    steps: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        steps.setdefault(r.event_id, []).append(
            {
                "id": r.id,
                "step": r.bpmn_id,
                "name": r.name,
                "category": r.category,
                "due_at": r.due_at,
                "created_at": r.created_at,
                "completed_at": None,
            }
        )
    return steps


def inbox_counts(
    session: Session, actor: Actor, views: tuple[str, ...] = ("mine", "claimable")
) -> dict[str, int]:
    """How many tasks are in each of ``views`` (the navigation's two; the inbox page counts its tabs)."""
    counts = {}
    for view in views:
        counts[view] = _inbox_count(session, actor, view)
    return counts


def event_row(event: Event) -> dict[str, Any]:
    """An event's own columns."""
    return {
        "id": event.id,
        "code": event.code,
        "category": event.category,
        "grid": event.grid_code,
        "channel": event.channel,
        "description": event.description,
        "address": event.address,
        "location": event.location,
        "placement": event.placement,
        "dwelling": event.dwelling_id,
        "reporter": event.reporter,
        "reporter_name": event.reporter_name,
        "reporter_phone": event.reporter_phone,
        "channel_ref": event.channel_ref,
        "state": event.state,
        "handling_level": event.handling_level,
        "department": event.department_code,
        "reported_at": event.reported_at,
        "opened_at": event.opened_at,
        "due_at": event.due_at,
        "handling_started_at": event.handling_started_at,
        "handled_at": event.handled_at,
        "opened_level": event.opened_level,
        "closed_at": event.closed_at,
        "closed_on_time": event.closed_on_time,
        "satisfaction": event.satisfaction,
        "rework_count": event.rework_count,
        "reassign_count": event.reassign_count,
        "reopen_count": event.reopen_count,
        "completed": event.completed,
        "process_version_id": event.process_version_id,
        "version": event.version,
    }


def list_events(
    session: Session,
    actor: Actor,
    code: str | None = None,
    category: str | None = None,
    grid: str | None = None,
    state: str | None = None,
    reported_from: datetime | None = None,
    reported_to: datetime | None = None,
    text: str | None = None,
    page: int = 1,
    per_page: int = 50,
    after: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Events in the actor's scope matching the filters, newest first (by code when searched by code), and their
    total (counted up to :data:`COUNT_LIMIT`). ``code`` is an event's code or its beginning; ``text`` words its
    description holds (:func:`engine.store.search.matches`). ``after``: the page after the row whose
    :func:`cursor` it is, instead of the ``page``-th (read from the list's index at the row, however deep)."""
    conditions = [scope.event_filter(actor)]
    if code:
        conditions.append(code_prefix(Event.code, code.upper()))
    described = search.matches(session.get_bind().dialect.name, Event, text)
    if described is not None:
        conditions.append(described)
    if category:
        conditions.append(_category(session, category))
    if grid:
        conditions.append(code_prefix(Event.grid_code, grid))
    if state:
        conditions.append(Event.state == state)
    if reported_from:
        conditions.append(Event.reported_at >= reported_from)
    if reported_to:
        conditions.append(Event.reported_at < reported_to)
    query = select(Event).where(and_(*conditions))
    total = bounded_count(session, query)
    # newest first: by report time, or — a search by code — by code, which begins with the report's day and
    # ends with the case's number, so that the code's index gives the page at once (ordered by report time, a
    # month's codes in a million cases were found by walking the report times back past half a million)
    order = (Event.code.desc(),) if code else (Event.reported_at.desc(), Event.id.desc())
    if after is not None:
        query = query.where(_before(after, by_code=bool(code)))
    else:
        query = query.offset((page - 1) * per_page)
    events = session.scalars(query.order_by(*order).limit(per_page))
    return [event_row(e) for e in events], total


def cursor(row: dict[str, Any], *, by_code: bool = False) -> str:
    """Where a list of events stands after ``row`` (an :func:`event_row`), for ``list_events(after=…)``: the
    row's place in the list's order — its code when the list is searched by code, else its report time (in
    microseconds since 1970, UTC) and id; nothing a URL needs to escape."""
    if by_code:
        return f"c.{row['code']}"
    at = row["reported_at"] - _EPOCH
    return f"t.{(at.days * 86_400 + at.seconds) * 1_000_000 + at.microseconds}.{row['id']}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _before(after: str, *, by_code: bool) -> ColumnElement[bool]:
    """SQL: the events after the cursor ``after`` in the list's order (newest first)."""
    kind, _, place = after.partition(".")
    try:
        if by_code and kind == "c" and place:
            return Event.code < place
        if not by_code and kind == "t":
            micros, _, row_id = place.partition(".")
            at = _EPOCH + timedelta(microseconds=int(micros))
            # (the first condition alone is the index's: the walk back starts at the row)
            return and_(Event.reported_at <= at, or_(Event.reported_at < at, Event.id < int(row_id)))
    except (ValueError, OverflowError):
        pass
    raise ValidationFailed(
        "{after!r} is not where a list of events stands: give the next of the page before",
        {"after": [FieldError("not_a_cursor", {})]},
        after=after,
    )


def _category(session: Session, category: str) -> Any:
    """The condition on the events' category for a search by ``category``, a code or its beginning (a class).
    A code that no case's longer code begins with — a sub-category — is asked as itself: the index on (category,
    reported_at) then gives the list's newest cases first, where a range of codes has them sorted."""
    longer = session.scalar(
        select(Event.id).where(Event.category > category, code_prefix(Event.category, category)).limit(1)
    )
    return Event.category == category if longer is None else code_prefix(Event.category, category)


def events_by_id(session: Session, ids: list[int]) -> list[dict[str, Any]]:
    """The events of ``ids`` (already chosen within a scope), newest first."""
    if not ids:
        return []
    events = session.scalars(
        select(Event).where(Event.id.in_(ids)).order_by(Event.reported_at.desc(), Event.id.desc())
    )
    return [event_row(e) for e in events]


def opened_by_channel(
    session: Session, actor: Actor, start: datetime, end: datetime
) -> list[tuple[str, int]]:
    """The cases opened in ``[start, end)`` in the actor's scope by reporting channel, most first."""
    rows = session.execute(
        select(Event.channel, func.count())
        .where(
            scope.event_filter(actor),
            Event.opened_at >= start,
            Event.opened_at < end,
            Event.state.not_in(NOT_CASES),
        )
        .group_by(Event.channel)
        .order_by(func.count().desc(), Event.channel)
    )
    return [(channel, count) for channel, count in rows]


def department_task_lights(session: Session, actor: Actor) -> list[tuple[str | None, str | None, int]]:
    """The departments' open tasks in the actor's scope, counted by department and recorded light."""
    rows = session.execute(
        select(Task.department_code, Task.light, func.count())
        .join(Event, Event.id == Task.event_id)
        .where(scope.event_filter(actor), Task.status == "open", Task.department_code.is_not(None))
        .group_by(Task.department_code, Task.light)
    )
    return [(department, light, count) for department, light, count in rows]


def department_light_cases(
    session: Session, actor: Actor, department: str, colours: tuple[str, ...], colour: str
) -> list[int]:
    """The cases behind one count of :func:`department_task_lights` as the board shows it: the events of the
    department's open tasks in the actor's scope recorded with ``colour`` — for the first of the scheme's
    ``colours``, also those not yet recorded or recorded with a colour the scheme no longer has."""
    light = Task.light == colour
    if colour == colours[0]:
        light = or_(light, Task.light.is_(None), Task.light.not_in(colours))
    found = session.scalars(
        select(Task.event_id)
        .join(Event, Event.id == Task.event_id)
        .where(scope.event_filter(actor), Task.status == "open", Task.department_code == department, light)
    )
    return sorted(set(found))


def visible_event(session: Session, actor: Actor, event_id: int) -> Event:
    """The event if the actor may see it; :class:`NotFound` otherwise (out of scope looks like absent)."""
    event = session.scalar(select(Event).where(Event.id == event_id, scope.event_filter(actor)))
    if event is None:
        raise NotFound("no event {event}", code="event.not_found", event=event_id)
    return event


def event_detail(session: Session, actor: Actor, event_id: int) -> dict[str, Any]:
    """An event with all its tasks and its history, if the actor may see it."""
    event = visible_event(session, actor, event_id)
    tasks = session.scalars(select(Task).where(Task.event_id == event.id).order_by(Task.id))
    entries = session.scalars(
        select(HistoryEntry).where(HistoryEntry.event_id == event.id).order_by(HistoryEntry.seq)
    )
    detail = event_row(event)
    detail["tasks"] = [task_row(t, event) for t in tasks]
    detail["history"] = [
        {
            "seq": h.seq,
            "at": h.at,
            "actor": h.actor,
            "action": h.action,
            "step": h.bpmn_id,
            "task": h.task_id,
            "data": h.data,
            "process_version_id": h.process_version_id,
            "prev_hash": h.prev_hash,
            "hash": h.hash,
        }
        for h in entries
    ]
    return detail


def sheet_board(session: Session, actor: Actor, status: str = "open") -> list[dict[str, Any]]:
    """The sheets of ``status`` the actor may see, most severe first (by department and card), each with its
    event's limit and, for a sheet on a task, the task's step, role and scope (whom a platform step's sheet is
    charged to)."""
    query = (
        select(SupervisionSheet, Event, Task)
        .join(Event, Event.id == SupervisionSheet.event_id)
        .outerjoin(Task, Task.id == SupervisionSheet.task_id)
        .where(scope.event_filter(actor), SupervisionSheet.status == status)
    )
    severity = {card: i for i, card in enumerate(rules.CARDS)}
    result = []
    for sheet, event, task in session.execute(query).all():
        row = rules.sheet_row(sheet)
        row.update(
            event_code=event.code,
            category=event.category,
            grid=event.grid_code,
            opened_at=event.opened_at,
            due_at=event.due_at,
            handling_started_at=event.handling_started_at,
            handled_at=event.handled_at,
            closed_at=event.closed_at,
            **rules.charged_to(sheet, task),
        )
        result.append(row)
    result.sort(key=lambda r: (-severity[r["card"]], r["department"] or "", r["issued_at"]))
    return result
