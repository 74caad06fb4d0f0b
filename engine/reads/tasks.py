"""The task page: a task the actor may see, with its event, its form (choices filled in), the data so far, the
form's prefilled values, its time light and its event's page."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from engine.errors import NotFound
from engine.org import scope
from engine.reads import queries
from engine.reads.events import event_page
from engine.reads.labels import describe_category, display_names, unit_name
from engine.reads.lights import Lights
from engine.reads.reader import Reader
from engine.store.models import Event, Task


def task_detail(reader: Reader, task_id: int) -> dict[str, Any]:
    """A task the actor may see — one offered to them or claimed by them, or one of an event in their scope —
    with its event, its form's schema (choices filled in), the process data so far and whether the actor may
    complete it. Any other task raises :class:`~engine.errors.NotFound`."""
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
    return {
        "task": queries.task_row(task, event),
        "event": queries.event_row(event),
        "form": reader.form(deployed.bundle, task.form),
        "data": data,
        "can_complete": task.status == "open"
        and (task.assignee == actor.username or (task.assignee is None and scope.is_candidate(actor, task))),
    }


def task_page(reader: Reader, task_id: int) -> dict[str, Any]:
    """A task as its page shows it: :func:`task_detail`, the form's prefilled values (schema defaults, the
    proposed department), its time light, and its event's page (None when the actor may work the task but not
    open the event)."""
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
    describe_category(event, lights.categories)
    event["grid_name"] = unit_name(directory, event["grid"])
    task["assignee_name"] = names.get(task["assignee"], task["assignee"])
    task["completed_by_name"] = names.get(task["completed_by"], task["completed_by"])
    detail["light"] = lights.task(task, event)
    return detail
