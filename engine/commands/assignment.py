"""The Tasklist's working tools, as commands: assign (指派), delegate (委托) and give back, comments, follow-up
dates, and a user's saved inbox filters.

Who may do what is said once in :mod:`engine.reads.tasklist` (the page offers exactly what these accept). Each
command on a task writes one history record on the task's event, shaped ``{"task": id, "to": username, "from":
username, "note": …}`` for ``assigned`` and ``delegated`` (a give-back is a ``delegated`` record back to the
delegator, with ``"returned": true``), so that whatever reads the history (notices to ``data["to"]``, the audit's
check of the inbox rows) reads one shape. A task that was completed, cancelled or handed on meanwhile is a
:class:`~engine.errors.Conflict`; a task the actor may not see is :class:`~engine.errors.NotFound`, exactly as one
that does not exist. Saving and deleting filters touch no event and write no history.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine import settings
from engine.bpmn import forms
from engine.commands.pipeline import Step
from engine.commands.tasks import require_open
from engine.errors import Conflict, FieldError, FieldErrors, Forbidden, NotFound, ValidationFailed
from engine.org import scope
from engine.reads.inbox import SORTS
from engine.reads.queries import INBOX_VIEWS
from engine.reads.tasklist import ASSIGN_SETTING, colleagues, filter_row, supervises
from engine.settings import LIGHT_COLOURS
from engine.store import statements
from engine.store.models import Event, SavedFilter

COMMENT_LENGTH = 1000  # a comment's characters
NOTE_LENGTH = 200  # an assignment's or delegation's note
FILTER_NAME_LENGTH = 64  # the saved_filters.name column
FILTER_TEXT_LENGTH = 64  # a saved filter's category or grid code
FILTERS_PER_USER = 30
# what an inbox filter holds: the tab, the category and grid codes, the light's colour, the sort
FILTER_CHOICES: dict[str, tuple[str, ...] | None] = {
    "view": INBOX_VIEWS,
    "category": None,
    "grid": None,
    "colour": LIGHT_COLOURS,
    "sort": SORTS,
}
MOMENT_YEARS = (1900, 9998)  # a follow-up date's years (as the API's dates)


# ------------------------------------------------------------------ checks


def _visible_task(step: Step, task_id: int) -> tuple[statements.Row, statements.Row]:
    """The task and its event, held by the command, if the actor may see the task (offered to them, theirs, or of
    an event in their scope); :class:`NotFound` otherwise, as for a task that does not exist."""
    actor = step.actor
    task, event = step.task_and_event(task_id)
    if scope.is_candidate(actor, task) or actor.username in (
        task.assignee,
        task.completed_by,
        task.delegated_by,
    ):
        return task, event
    visible = step.session.scalar(select(Event.id).where(Event.id == event.id, scope.event_filter(actor)))
    if visible is None:
        raise NotFound("no task {task}", code="task.not_found", task=task_id)
    return task, event


def _holder_only(step: Step, task: statements.Row) -> None:
    """Refuse a command for whoever holds the task to anyone else: a :class:`Conflict` for a colleague it is
    offered to (someone else holds it, or nobody), :class:`Forbidden` for one it is not offered to."""
    actor = step.actor
    if task.assignee == actor.username:
        return
    if scope.is_candidate(actor, task):
        raise Conflict("task {task} is not claimed by you", code="task.not_claimed_by_you", task=task.id)
    raise Forbidden(
        "task {task} ({name}) is not offered to you", code="task.not_offered", task=task.id, name=task.name
    )


def _note(note: str | None) -> str | None:
    """An assignment's or delegation's note, trimmed (None when blank), or the field's error."""
    if note is None or not note.strip():
        return None
    forms.require_storable({"note": note})
    if len(note.strip()) > NOTE_LENGTH:
        raise ValidationFailed(
            "a note has at most {limit} characters",
            {"note": [FieldError("max_length", {"limit": NOTE_LENGTH})]},
            code="task.note_invalid",
            limit=NOTE_LENGTH,
        )
    return note.strip()


def _colleague(step: Step, task: statements.Row, to: str) -> str:
    """``to`` if the task is offered to them (an active colleague of the task's role and scope), else the field
    error of ``to``."""
    forms.require_storable({"to": to})
    if to not in {c["username"] for c in colleagues(step.session, task)}:
        raise ValidationFailed(
            "{to} is not offered task {task}: choose a colleague of its role and scope",
            {"to": [FieldError("task.not_a_colleague")]},
            code="task.not_a_colleague",
            to=to,
            task=task.id,
        )
    return to


def _hand_over(step: Step, task: statements.Row, to: str, delegated_by: str | None) -> None:
    task.assignee, task.claimed_at, task.delegated_by = to, step.now, delegated_by
    statements.save_task(step.conn, task)


def _held(task: statements.Row) -> dict[str, Any]:
    return {"task": task.id, "assignee": task.assignee, "delegated_by": task.delegated_by}


# ------------------------------------------------------------------ assign, delegate, give back


def assign(step: Step, task_id: int, to: str, note: str | None = None) -> dict[str, Any]:
    """A leader assigns an open task to a colleague to whom it is offered (指派), whoever held it before; a
    delegation of it ends. Only staff of the ``assign_roles`` setting whose scope covers the task may."""
    task, event = _visible_task(step, task_id)
    if not supervises(step.actor, task, settings.get(step.session, ASSIGN_SETTING)):
        raise Forbidden(
            "only a leader over task {task} ({name}) assigns it",
            code="task.assign_not_allowed",
            task=task_id,
            name=task.name,
        )
    require_open(task)
    note = _note(note)
    if task.assignee == to:
        raise Conflict("task {task} is already {to}'s", code="task.already_theirs", task=task_id, to=to)
    to = _colleague(step, task, to)
    before = task.assignee
    _hand_over(step, task, to, None)
    step.record(
        event, "assigned", {"task": task.id, "to": to, "from": before, "note": note}, task.bpmn_id, task.id
    )
    return _held(task)


def delegate(step: Step, task_id: int, to: str, note: str | None = None) -> dict[str, Any]:
    """Whoever holds a task delegates it to a colleague to whom it is offered (委托): it shows who delegated it,
    and comes back to them when the delegate gives it back (:func:`give_back`)."""
    actor = step.actor
    task, event = _visible_task(step, task_id)
    require_open(task)
    _holder_only(step, task)
    if task.delegated_by is not None:
        raise Forbidden(
            "task {task} was delegated to you by {by}: give it back rather than delegate it on",
            code="task.delegated_give_back",
            task=task_id,
            by=task.delegated_by,
        )
    note = _note(note)
    if to == actor.username:
        raise ValidationFailed(
            "delegate the task to a colleague, not to yourself",
            {"to": [FieldError("task.not_a_colleague")]},
            code="task.not_a_colleague",
            to=to,
            task=task_id,
        )
    to = _colleague(step, task, to)
    _hand_over(step, task, to, actor.username)
    step.record(
        event,
        "delegated",
        {"task": task.id, "to": to, "from": actor.username, "note": note},
        task.bpmn_id,
        task.id,
    )
    return _held(task)


def give_back(step: Step, task_id: int, note: str | None = None) -> dict[str, Any]:
    """The delegate gives a delegated task back to whoever delegated it (recorded as a ``delegated`` record back
    to them, ``returned``)."""
    actor = step.actor
    task, event = _visible_task(step, task_id)
    require_open(task)
    _holder_only(step, task)
    if task.delegated_by is None:
        raise Conflict("task {task} is not delegated to you", code="task.not_delegated_to_you", task=task_id)
    note = _note(note)
    owner = task.delegated_by
    _hand_over(step, task, owner, None)
    step.record(
        event,
        "delegated",
        {"task": task.id, "to": owner, "from": actor.username, "note": note, "returned": True},
        task.bpmn_id,
        task.id,
    )
    return _held(task)


# ------------------------------------------------------------------ comments, follow-up dates


def comment(step: Step, task_id: int, text: str) -> dict[str, Any]:
    """Comment on a task one may see (open or done): a ``comment`` record in its event's history."""
    forms.require_storable({"text": text})
    text = text.strip()
    if not text:
        raise ValidationFailed(
            "a comment needs text", {"text": [FieldError("required")]}, code="task.comment_invalid"
        )
    if len(text) > COMMENT_LENGTH:
        raise ValidationFailed(
            "a comment has at most {limit} characters",
            {"text": [FieldError("max_length", {"limit": COMMENT_LENGTH})]},
            code="task.comment_invalid",
            limit=COMMENT_LENGTH,
        )
    task, event = _visible_task(step, task_id)
    step.record(event, "comment", {"task": task.id, "text": text}, task.bpmn_id, task.id)
    return {"task": task.id, "text": text, "at": step.now, "by": step.actor.username}


def follow_up_moment(step: Step, moment: date | datetime | None) -> datetime | None:
    """A follow-up date as the moment it falls due: a date is the start of that day in the district's time zone,
    a datetime without a zone is the district's local time (in UTC, as times are stored); a year out of range is
    the field's error."""
    if moment is None:
        return None
    if not MOMENT_YEARS[0] <= moment.year <= MOMENT_YEARS[1]:
        first, last = MOMENT_YEARS
        raise ValidationFailed(
            "a follow-up date lies in the years {first} to {last}",
            {"follow_up_at": [FieldError("moment_out_of_range", {"first": first, "last": last})]},
            code="task.follow_up_invalid",
            first=first,
            last=last,
        )
    zone = step.parts.settings.calendar(step.session).timezone
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(), tzinfo=zone)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def set_follow_up(step: Step, task_id: int, moment: date | datetime | None) -> dict[str, Any]:
    """Whoever holds an open task sets (or, with None, clears) the date to come back to it (跟进): the task
    is listed under 待跟进 from then on, marked once the date has come."""
    due = follow_up_moment(step, moment)
    task, event = _visible_task(step, task_id)
    require_open(task)
    _holder_only(step, task)
    before = task.follow_up_at
    task.follow_up_at = due
    statements.save_task(step.conn, task)
    step.record(
        event,
        "follow_up",
        {
            "task": task.id,
            "at": due.isoformat() if due else None,
            "before": before.isoformat() if before else None,
        },
        task.bpmn_id,
        task.id,
    )
    return {"task": task.id, "follow_up_at": due}


# ------------------------------------------------------------------ saved filters


def clean_filters(filters: dict[str, Any]) -> tuple[dict[str, str], FieldErrors]:
    """An inbox filter to save: only the inbox's own parameters, each a text of its choices (a blank one left
    out), and the errors of the others (``filters.<name>``)."""
    errors: FieldErrors = {}
    clean = {}
    for name, value in filters.items():
        where = f"filters.{name}"
        choices = FILTER_CHOICES.get(name)
        if name not in FILTER_CHOICES:
            errors[where] = [FieldError("not_allowed")]
        elif value is None or value == "":
            continue
        elif not isinstance(value, str):
            errors[where] = [FieldError("type.string")]
        elif not forms.storable(value):
            errors[where] = [FieldError("text.invalid_characters")]
        elif choices is not None and value not in choices:
            errors[where] = [FieldError("not_a_choice_of", {"choices": ", ".join(choices)})]
        elif len(value) > FILTER_TEXT_LENGTH:
            errors[where] = [FieldError("max_length", {"limit": FILTER_TEXT_LENGTH})]
        else:
            clean[name] = value
    return clean, errors


def _name_problem(step: Step, name: str) -> FieldError | None:
    """Why a filter cannot take ``name`` (blank, too long, the user's already, one too many), or None."""
    session, username = step.session, step.actor.username
    if not name:
        return FieldError("required")
    if len(name) > FILTER_NAME_LENGTH:
        return FieldError("max_length", {"limit": FILTER_NAME_LENGTH})
    mine = select(SavedFilter.id).where(SavedFilter.username == username)
    if session.scalar(mine.where(SavedFilter.name == name)) is not None:
        return FieldError("filter.name_taken")
    if (session.scalar(select(func.count()).select_from(mine.subquery())) or 0) >= FILTERS_PER_USER:
        return FieldError("filter.too_many", {"limit": FILTERS_PER_USER})
    return None


def save_filter(step: Step, name: str, filters: dict[str, Any]) -> dict[str, Any]:
    """Save the inbox's filters under a name of the actor's own (offered above their inbox); a bad name or
    filter is the field's error and saves nothing."""
    forms.require_storable({"name": name})
    name = name.strip()
    clean, errors = clean_filters(filters)
    problem = _name_problem(step, name)
    if problem is not None:
        errors["name"] = [problem]
    if errors:
        raise ValidationFailed("the filter cannot be saved", errors, code="filter.invalid")
    saved = SavedFilter(username=step.actor.username, name=name, filters=clean, created_at=step.now)
    step.session.add(saved)
    try:
        step.session.flush()
    except IntegrityError as exc:  # the same name saved at the same moment by another request (PostgreSQL)
        raise Conflict(
            "a filter named {name!r} was saved meanwhile; nothing was changed",
            code="filter.saved_meanwhile",
            name=name,
        ) from exc
    return filter_row(saved)


def delete_filter(step: Step, filter_id: int) -> None:
    """Delete one of the actor's saved filters (another user's answers as one that does not exist)."""
    saved = step.session.get(SavedFilter, filter_id)
    if saved is None or saved.username != step.actor.username:
        raise NotFound("no saved filter {filter}", code="filter.not_found", filter=filter_id)
    step.session.delete(saved)
