"""The task page: a task the actor may see, with its event, its form (choices filled in), the data so far, the
form's prefilled values, its time light and its event's page."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from engine.bpmn import forms
from engine.errors import NotFound
from engine.org import scope
from engine.reads import contacts, queries, similar
from engine.reads.events import event_page
from engine.reads.labels import describe_category, display_names, translate_step_names, unit_name
from engine.reads.lights import Lights
from engine.reads.reader import Reader
from engine.reads.sheets import open_sheets_by_task
from engine.reads.tasklist import task_tools
from engine.store.models import Event, Task


def task_detail(reader: Reader, task_id: int) -> dict[str, Any]:
    """A task the actor may see — one offered to them or claimed by them, or one of an event in their scope —
    with its event, its form's schema (choices filled in, narrowed to the case's where the form says so:
    :func:`~engine.bpmn.forms.case_choices`), the process data so far and whether the actor may
    complete it; the public reporter's contact, in the event and the data, as the actor may read it
    (:mod:`engine.reads.contacts`). Any other task raises :class:`~engine.errors.NotFound`."""
    session, actor = reader.session, reader.actor
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound("no task {task}", code="task.not_found", task=task_id)
    if scope.is_candidate(actor, task) or task.assignee == actor.username:
        event = session.get(Event, task.event_id)
    else:
        try:
            event = queries.visible_event(session, actor, task.event_id)
        except NotFound:
            raise NotFound("no task {task}", code="task.not_found", task=task_id) from None
    assert event is not None  # an inbox row's event exists (a foreign key)
    deployed = reader.deployed(event.process_version_id)
    workflow = reader.instance(event, deployed)
    spiff_task = workflow.get_task_from_id(UUID(task.spiff_task_id))
    data = dict(spiff_task.data) if spiff_task is not None else {}
    form = forms.case_choices(reader.form(reader.bundle(event.process_version_id), task.form), data)
    row = queries.event_row(event)
    if not contacts.sees_whole(reader, event.id, event.process_version_id):
        row, data = contacts.masked(row), contacts.masked(data)
    return {
        "task": queries.task_row(task, event),
        "event": row,
        "form": form,
        "data": data,
        "can_complete": task.status == "open"
        and (task.assignee == actor.username or (task.assignee is None and scope.is_candidate(actor, task))),
    }


def task_page(reader: Reader, task_id: int) -> dict[str, Any]:
    """A task as its page shows it: :func:`task_detail`, the form's prefilled values (schema defaults, the
    proposed department), its time light, the open supervision sheets it is about
    (:func:`engine.reads.sheets.open_sheets_by_task`), the Tasklist's tools (:func:`engine.reads.tasklist.task_tools`:
    assign, delegate, follow-up date, comments), and its event's page (None when the actor may work the
    task but not open the event)."""
    detail = task_detail(reader, task_id)
    try:
        detail["event_page"] = event_page(reader, detail["task"]["event_id"])
    except NotFound:
        detail["event_page"] = None
    properties = detail["form"].get("properties", {})
    defaults = {name: prop["default"] for name, prop in properties.items() if "default" in prop}
    if "department" in properties and detail["data"].get("proposed_department"):
        defaults["department"] = detail["data"]["proposed_department"]
    detail["defaults"] = defaults
    lights = Lights.of(reader, reader.bundle(detail["event"]["process_version_id"]))
    directory = reader.directory()
    task, event = detail["task"], detail["event"]
    names = display_names(reader.session, {task["assignee"], task["completed_by"]})
    describe_category(event, lights.categories, reader.process_name)
    translate_step_names([task], reader.bundle(event["process_version_id"]))
    event["grid_name"] = unit_name(directory, event["grid"])
    task["assignee_name"] = names.get(task["assignee"], task["assignee"])
    task["completed_by_name"] = names.get(task["completed_by"], task["completed_by"])
    detail["light"] = lights.task(task, event)
    detail["sheets"] = open_sheets_by_task(reader.session, reader.actor, [task]).get(task["id"], [])
    detail["tools"] = task_tools(reader, task)
    detail["call"] = _whom_to_call(reader, detail)
    detail["similar"] = _similar_proposals(reader, detail)
    return detail


def _similar_proposals(reader: Reader, detail: dict[str, Any]) -> dict[str, Any] | None:
    """For an open task whose form may link the report to a similar case
    (:data:`engine.reads.similar.SIMILAR_CASE_KEY`): the field's name and the open cases proposed
    (:func:`engine.reads.similar.candidates`, by the ``similar_cases`` setting); None for other tasks."""
    task = detail["task"]
    fields = [n for n, p in detail["form"].get("properties", {}).items() if p.get(similar.SIMILAR_CASE_KEY)]
    if not fields or task["status"] != "open":
        return None
    rule = similar.Rule.of(reader.settings.value("similar_cases", reader.session))
    found = similar.candidates(reader.session, reader.actor, detail["event"], rule)
    directory = reader.directory()
    for case in found:
        case["grid_name"] = unit_name(directory, case["grid"])
    return {"field": fields[0], "cases": found, "rule": rule}


def _whom_to_call(reader: Reader, detail: dict[str, Any]) -> dict[str, Any] | None:
    """For a step whose form talks to the reporter (:data:`engine.reads.contacts.CONTACT_FORM_KEY`): the public
    reporter's name and phone (``whole``: as stored, so the page may offer a tel: link), the channel and its
    reference number; None for other steps."""
    if not detail["form"].get(contacts.CONTACT_FORM_KEY):
        return None
    event = detail["event"]
    return {
        "name": event["reporter_name"],
        "phone": event["reporter_phone"],
        "channel": event["channel"],
        "channel_ref": event["channel_ref"],
        "whole": contacts.sees_whole(reader, event["id"], event["process_version_id"]),
    }
