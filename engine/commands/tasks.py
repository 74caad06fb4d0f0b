"""The commands of an event's life that staff give: report (上报), claim (认领), unclaim, complete.

Each is a function ``command(step, ...)`` run by :class:`~engine.commands.pipeline.Pipeline`; it says what is
particular to it — what it checks, what it asks the process to do, what its history record holds — and the
pipeline does the rest (transaction, actor, lock, instance, inbox and timers, saving, caches).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine import settings
from engine.bpmn import forms, runtime
from engine.bpmn.state import STATE_FORMAT
from engine.commands import appeals
from engine.commands.pipeline import Step, offered
from engine.commands.versions import REPORT_FORM_FIELDS
from engine.errors import Conflict, FieldError, FieldErrors, Forbidden, NotFound, ValidationFailed
from engine.org import geography, scope
from engine.reads import similar
from engine.store import attachments, statements
from engine.store.models import Event, LedgerBuilding, LedgerDwelling
from engine.supervision import rules

REPORT_FIELDS = (
    "category",
    "description",
    "grid",
    "address",
    "location",
    "photos",
    "self_handle",
    "channel",
    "reporter_name",
    "reporter_phone",
    "channel_ref",
    "dwelling",
)


def report(step: Step, data: dict[str, Any], process_id: str | None = None) -> dict[str, Any]:
    """Report a new event (上报): validate, start an instance on the active version of the process the start
    rules choose for the report's channel and category (the ``report_processes`` setting;
    :func:`engine.settings.report_process`) or of ``process_id``, and offer its first task.

    The report form's ``channel`` choices say who may report on each (``x-gridloop-roles``, held in a scope
    containing the grid) and which may be self-handled; a public channel's reporter (name, phone) and the
    channel's reference number (a 12345 work order) are kept in the event's columns, the process data and the
    history record, whole (they are masked at read, :mod:`engine.reads.contacts`).
    Returns the event's id, code and state, and in ``next`` the ids of the inbox rows it created.
    """
    actor, session = step.actor, step.session
    reporters = settings.get(session, "report_roles")
    step.require_role(*reporters, message="your roles do not report events", code="report.role_not_allowed")
    if process_id is None:
        process_id = settings.report_process(
            settings.get(session, "report_processes"), data.get("channel"), data.get("category")
        )
    deployed = step.parts.versions.active(session, process_id)
    bundle = deployed.bundle
    if bundle.model is None or not bundle.model.takes_reports:
        raise ValidationFailed(
            "process {process} does not take grid reports: start it instead",
            {},
            code="report.not_a_report_process",
            process=process_id,
        )
    start_form = bundle.start_form
    if start_form is None:
        raise ValidationFailed(
            "process {process} has no start form", {}, code="report.no_start_form", process=bundle.process_id
        )
    lacking = [
        name for name in REPORT_FORM_FIELDS if name not in bundle.forms[start_form].get("properties", {})
    ]
    if lacking:  # deploy refuses such a version; one stored before that check still says why it cannot start
        raise ValidationFailed(
            "the start form {form} of process {process} lacks the field(s) {fields}: it cannot take a report",
            {},
            code="report.start_form_incomplete",
            form=start_form,
            process=bundle.process_id,
            fields=", ".join(lacking),
        )
    data = dict(data)
    placed, outside = _place(step, data)
    own_grids = [a.scope_code for a in actor.assignments if a.role == "grid_worker"]
    if not data.get("grid") and not outside and len(own_grids) == 1:
        data["grid"] = own_grids[0]
    schema = bundle.forms[start_form]
    channels = forms.choices(schema, "channel")
    grid = data.get("grid")
    roles_here = {
        a.role
        for a in actor.assignments
        if a.department_code is None and isinstance(grid, str) and grid.startswith(a.scope_code)
    }
    if (
        "channel" not in data
    ):  # the channel kept for the actor's roles here (a patrol), else the form's default
        own = [c["const"] for c in channels if forms.ROLES_KEY in c and forms.open_to(c, roles_here)]
        data["channel"] = own[0] if own else schema["properties"]["channel"].get("default")
    data.setdefault("self_handle", False)
    # a case placed with a unit above the grids (属地兜底) names that unit, which the form's grid choices do not
    # offer: the form checks the rest
    checked = {k: v for k, v in data.items() if k != "grid"} if placed and placed.fallback else data
    errors = forms.validate(
        step.parts.forms.validator(session, deployed.version_id, bundle, start_form), checked
    )
    if outside:
        errors["location"] = [FieldError("report.location_outside")]
    elif not data.get("grid") and "grid" not in errors:
        errors["grid"] = [FieldError("required")]
    errors.update(forms.photo_errors(session, schema, data, actor.username))
    if "dwelling" in data and "dwelling" not in errors and data.get("grid"):
        errors.update(_dwelling_errors(session, data["dwelling"], data["grid"]))
    if errors:
        raise ValidationFailed("the report is incomplete or invalid", errors, code="report.invalid")
    grid = data["grid"]
    if not any(a.department_code is None and grid.startswith(a.scope_code) for a in actor.assignments):
        raise Forbidden("grid {grid} is outside your scope", code="report.grid_outside_scope", grid=grid)
    channel = next((c for c in channels if c["const"] == data["channel"]), {})
    if not forms.open_to(channel, roles_here):
        raise ValidationFailed(
            "channel {channel} is not open to your roles in grid {grid}",
            {"channel": [FieldError(forms.named_message(channel, "report.channel_not_offered"))]},
            code="report.invalid",
            channel=data["channel"],
            grid=grid,
        )
    if data["self_handle"] and not channel.get(forms.SELF_HANDLE_KEY):
        raise ValidationFailed(
            "only a grid worker's own report can be self-handled",
            {"self_handle": [FieldError("report.self_handle_own_patrol")]},
            code="report.invalid",
        )
    start_data = {key: data[key] for key in REPORT_FIELDS if key in data}
    start_data["reporter"] = actor.username
    if placed is not None:  # how the case was placed, in its process data and its report record
        start_data["placement"] = placed.how
    return _open(
        step,
        deployed,
        schema,
        data,
        start_data,
        "report",
        {
            "category": data["category"],
            "grid_code": grid,
            "channel": data["channel"],
            "description": data["description"],
            "address": data.get("address"),
            "location": data.get("location"),
            "reporter_name": data.get("reporter_name"),
            "reporter_phone": data.get("reporter_phone"),
            "channel_ref": data.get("channel_ref"),
            "placement": placed.how if placed else None,
            "dwelling_id": data.get("dwelling"),
        },
    )


def _dwelling_errors(session: Any, dwelling_id: Any, grid: str) -> dict[str, list[FieldError | str]]:
    """Why a report cannot name the ledger's dwelling ``dwelling_id``: none such, or it lies in another grid."""
    found = session.execute(
        select(LedgerBuilding.grid_code)
        .join(LedgerDwelling, LedgerDwelling.building_id == LedgerBuilding.id)
        .where(LedgerDwelling.id == dwelling_id)
    ).scalar_one_or_none()
    if found is None:
        return {"dwelling": [FieldError("report.dwelling_unknown")]}
    if not found.startswith(grid) and not grid.startswith(found):
        return {"dwelling": [FieldError("report.dwelling_elsewhere", {"grid": found})]}
    return {}


def _place(step: Step, data: dict[str, Any]) -> tuple[geography.Placement | None, bool]:
    """Place a report that gives a point and no grid (:meth:`engine.org.geography.Geography.locate`, as of
    now): its grid (or, in no grid, the smallest unit covering it) becomes the report's ``grid``. Returns the
    placement (None: the report named its grid, or gave no point) and whether the point lies outside every
    unit."""
    point = geography.point_of(data.get("location"))
    if data.get("grid") or point is None:
        return None, False
    placed = step.parts.org.directory(step.session).geography.locate(*point, step.now)
    if placed is None:
        return None, True
    data["grid"] = placed.unit
    return placed, False


def start(step: Step, process_id: str, data: dict[str, Any], unit: str | None = None) -> dict[str, Any]:
    """Start an instance of ``process_id`` on its active version with its start form's ``data`` (a household
    visit, a campaign): by a role the ``process_starters`` setting names for it (else the roles its model file
    names), for an org unit in the starter's scope — ``unit``, else the form's ``grid`` field, else the
    starter's one scope — and, when the setting names ``units``, within one of them. A process that takes grid reports is reported
    instead (:func:`report`, with its checks). The instance is an event like a report's: it has inbox rows,
    a history, an audit and a diagram; its first record is ``start``.
    """
    actor, session = step.actor, step.session
    deployed = step.parts.versions.startable(session, process_id)
    bundle = deployed.bundle
    model = bundle.model
    if model is not None and model.takes_reports:
        return report(step, data, process_id)
    roles, allowed = settings.starters(
        settings.get(session, "process_starters"), process_id, model.start_roles if model else ()
    )
    held = [a for a in actor.assignments if a.role in roles]
    if not held and not actor.is_system:  # the system starts the duties a setting schedules (visits)
        raise Forbidden(
            "your roles do not start process {process} (it is started by: {roles})",
            code="start.role_not_allowed",
            process=process_id,
            roles=", ".join(roles) or "-",
        )
    start_form = bundle.start_form
    if start_form is None:  # deploy refuses such a version; one stored before that check says why
        raise ValidationFailed(
            "process {process} has no start form", {}, code="report.no_start_form", process=process_id
        )
    schema = bundle.forms[start_form]
    data = forms.apply_defaults(schema, dict(data))
    errors = forms.validate(
        step.parts.forms.validator(session, deployed.version_id, bundle, start_form), data
    )
    errors.update(forms.photo_errors(session, schema, data, actor.username))
    if errors:
        raise ValidationFailed("the start form has errors", errors, code="start.invalid", process=process_id)
    scopes = sorted({a.scope_code for a in held})
    unit = unit or data.get("grid") or (scopes[0] if len(scopes) == 1 else None)
    if not isinstance(unit, str) or unit not in step.parts.org.directory(session).units:
        raise ValidationFailed(
            "say in which org unit the instance runs (you hold the starting role in {scopes})",
            {"grid": [FieldError("required" if not unit else "org.unknown_unit", {"unit": str(unit)})]},
            code="start.invalid",
            scopes=", ".join(scopes),
        )
    if (not actor.is_system and not any(unit.startswith(a.scope_code) for a in held)) or (
        allowed and not any(unit.startswith(code) for code in allowed)
    ):
        raise Forbidden(
            "{unit} is outside the scope in which you may start process {process}",
            code="start.unit_outside_scope",
            unit=unit,
            process=process_id,
        )
    # an appeal against a sheet's deduction (申诉): the sheet is checked, and its facts go to the evaluator
    sheet = appeals.appealed_sheet(step, data) if appeals.is_appeal(step, process_id) else None
    start_data = dict(data, grid=unit, starter=actor.username)
    if sheet is not None:
        start_data.update(appeals.facts(sheet, step.event(sheet.event_id)))
    initiator = next(
        (info.initiator_variable for info in bundle.user_tasks.values() if info.initiator_variable), None
    )
    if initiator:  # camunda:initiator: the start event names where the starter's username goes
        start_data[initiator] = actor.username
    description = data.get("description") or data.get("title") or (model.name if model else process_id)
    if sheet is not None:  # what the appeal is about, as the evaluator's inbox and the event lists show it
        description = f"{start_data['sheet_case']} · #{sheet.id} · {data.get('reason', '')}"
    started = _open(
        step,
        deployed,
        schema,
        data,
        start_data,
        "start",
        {
            "category": str(data.get("category") or "")[:16],
            "grid_code": unit,
            "channel": "start",
            "description": str(description),
            "address": data.get("address"),
            "location": data.get("location") if isinstance(data.get("location"), dict) else None,
        },
    )
    if sheet is not None:
        appeals.link(step, sheet, started)
    return started


def _open(
    step: Step,
    deployed: Any,
    schema: dict[str, Any],
    data: dict[str, Any],
    start_data: dict[str, Any],
    action: str,
    columns: dict[str, Any],
) -> dict[str, Any]:
    """Start the instance with ``start_data``, insert its event with ``columns``, offer its first tasks and
    record ``action`` (``report`` or ``start``): what a report and a start have in common."""
    session, now = step.session, step.now
    # the district's choice of stages (case_stages) as process variables, unless the start data names them
    start_data = {**settings.get(session, "case_stages"), **start_data}
    workflow, journal, ids = step.run_engine(
        lambda: runtime.start(deployed.bundle, deployed.engine, start_data)
    )
    event = step.new_event(
        {
            "process_version_id": deployed.version_id,
            **columns,
            "reporter": step.actor.username,
            "reported_at": now,
            "updated_at": now,
            "state": "reported",
            "workflow_state": "",
            "state_seq": 0,
            "state_format": STATE_FORMAT,
            "history_length": 0,
            "rework_count": 0,
            "reassign_count": 0,
            "reopen_count": 0,
            "completed": False,
        }
    )
    local_day = now.astimezone(step.parts.settings.calendar(session).timezone)  # the district's date
    event.code = f"E{local_day:%Y%m%d}{event.id:06d}"
    attachments.link(session, _photos(schema, data), event.id)
    step.adopt(event, workflow)
    _data, created = step.sync(event, deployed, open_rows={})
    step.record(
        event,
        action,
        {action: start_data, "calls": journal.calls, "ids": ids, "offered": offered(created)},
    )
    return {"id": event.id, "code": event.code, "state": event.state, "next": [r.id for r in created]}


def _photos(schema: dict[str, Any], data: dict[str, Any]) -> list[str]:
    return [a for ids in forms.photo_ids(schema, data).values() for a in ids]


def _task_for_action(step: Step, task_id: int) -> tuple[statements.Row, statements.Row]:
    """The task and its event, if the actor may act on it now; the named error otherwise."""
    actor = step.actor
    task, event = step.task_and_event(task_id)
    if not (
        scope.is_candidate(actor, task)
        or task.assignee == actor.username
        or task.completed_by == actor.username
    ):
        visible = step.session.scalar(select(Event.id).where(Event.id == event.id, scope.event_filter(actor)))
        if visible is None:
            raise NotFound("no task {task}", code="task.not_found", task=task_id)
        raise _not_offered(task_id, task.name)
    require_open(task)
    return task, event


def require_open(task: statements.Row) -> None:
    """Refuse to act on a task that is no longer open (completed, or cancelled by the process): a
    :class:`Conflict` saying what happened meanwhile."""
    if task.status == "completed":
        raise Conflict(
            "task {task} ({name}) was already completed by {by}; nothing was changed",
            code="task.already_completed",
            task=task.id,
            name=task.name,
            by=task.completed_by,
        )
    if task.status != "open":
        raise Conflict(
            "task {task} ({name}) was cancelled by the process; nothing was changed",
            code="task.cancelled",
            task=task.id,
            name=task.name,
        )


def _not_offered(task_id: int, name: str) -> Forbidden:
    return Forbidden(
        "task {task} ({name}) is not offered to you", code="task.not_offered", task=task_id, name=name
    )


def _claimed_by_other(task_id: int, assignee: str) -> Conflict:
    return Conflict(
        "task {task} is claimed by {assignee}", code="task.claimed_by_other", task=task_id, assignee=assignee
    )


def claim(step: Step, task_id: int) -> dict[str, Any]:
    """Claim a task offered to the actor (认领), so that nobody else works on it."""
    actor = step.actor
    task, event = _task_for_action(step, task_id)
    if task.assignee == actor.username:
        raise Conflict("task {task} is already claimed by you", code="task.claimed_by_you", task=task_id)
    if task.assignee is not None:
        raise _claimed_by_other(task_id, task.assignee)
    if not scope.is_candidate(actor, task):
        raise _not_offered(task_id, task.name)
    task.assignee, task.claimed_at = actor.username, step.now
    statements.save_task(step.conn, task)
    step.record(event, "claim", {}, task.bpmn_id, task.id)
    return {"task": task_id, "assignee": task.assignee}


def unclaim(step: Step, task_id: int) -> dict[str, Any]:
    """Give a claimed task back to everybody it is offered to."""
    task, event = _task_for_action(step, task_id)
    if task.assignee != step.actor.username:
        raise Conflict("task {task} is not claimed by you", code="task.not_claimed_by_you", task=task_id)
    if task.delegated_by is not None:  # it goes back to whoever delegated it: engine.commands.assignment
        raise Conflict(
            "task {task} was delegated to you by {by}: give it back to them instead",
            code="task.delegated_give_back",
            task=task_id,
            by=task.delegated_by,
        )
    task.assignee, task.claimed_at = None, None
    statements.save_task(step.conn, task)
    step.record(event, "unclaim", {}, task.bpmn_id, task.id)
    return {"task": task_id, "assignee": task.assignee}


def complete(step: Step, task_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Complete a task with its form's data: validated, run to the next wait state, saved — or nothing at all."""
    actor, session, now = step.actor, step.session, step.now
    task, event = _task_for_action(step, task_id)
    if task.assignee not in (None, actor.username):
        raise _claimed_by_other(task_id, task.assignee)
    if not (task.assignee == actor.username or scope.is_candidate(actor, task)):
        raise _not_offered(task_id, task.name)
    deployed = step.deployed(event)
    bundle = deployed.bundle
    if task.form:
        data = forms.apply_defaults(bundle.forms[task.form], data)
    validator = step.parts.forms.validator(session, event.process_version_id, bundle, task.form)
    errors = forms.validate(validator, data)
    if task.form:
        errors.update(forms.photo_errors(session, bundle.forms[task.form], data, actor.username, event.id))
    if errors:
        raise ValidationFailed(
            "the form of task {task} has errors", errors, code="task.form_invalid", task=task_id
        )
    linked = _similar_cases(step, event, bundle.forms[task.form] if task.form else {}, data, task_id)
    if task.form:
        attachments.link(session, _photos(bundle.forms[task.form], data), event.id)
    workflow = step.instance(event, deployed)
    # the inbox mirrors the waiting tasks (every command that moves the instance syncs it), so when this task
    # is the only one waiting, its row is the only open one and need not be read
    waiting_before = runtime.waiting_user_tasks(workflow)
    if len(waiting_before) == 1 and str(waiting_before[0].id) == task.spiff_task_id:
        open_rows, instance = {task.spiff_task_id: task}, 0
    else:
        open_rows = {t.spiff_task_id: t for t in statements.open_tasks(step.conn, event.id)}
        open_rows[task.spiff_task_id] = task
        # which of several waiting instances of the step this is (a joint meeting's departments)
        instance = runtime.instance_index(workflow, task.spiff_task_id)
    had_timers = bool(workflow.event_manager.tasks)

    def run() -> dict[str, Any]:
        before = runtime.complete(workflow, task.spiff_task_id, data)
        task.status, task.completed_at, task.completed_by = "completed", now, actor.username
        if task.assignee is None:
            task.assignee = actor.username
        statements.save_task(step.conn, task)
        return before

    # the timers table mirrors the waiting timer events after every command, so an instance that had none
    # before and has none now has no rows to update
    moved = step.move(event, deployed, run, open_rows=open_rows, sync_timers=had_timers, measures_itself=True)
    cleared = rules.clear_for_done_step(session, task, now, open_sheets=statements.open_sheets_at_read(event))
    cleared += rules.clear_for_closed_event(session, event, now, actor.username)
    done = {"form": data, **moved.record, "instance": instance}
    if task.delegated_by is not None:  # a delegate's completion names who delegated the task to them
        done["delegated_by"] = task.delegated_by
    step.record(event, "complete", done, task.bpmn_id, task.id)
    for sheet in cleared:
        step.record(event, "sheet_cleared", rules.sheet_record(sheet), task_id=sheet.task_id)
    for case in linked:  # the case the report is the same problem as carries its reporter from now on
        step.record(
            step.event(case.id),
            "similar_linked",
            {"event": event.id, "code": event.code, "reporter": event.reporter, "channel": event.channel},
        )
    return {"task": task_id, "event": event.id, "state": event.state, "next": [r.id for r in moved.created]}


def _similar_cases(
    step: Step, event: Any, schema: dict[str, Any], data: dict[str, Any], task_id: int
) -> list[Any]:
    """The cases a form's similar-case fields (:data:`engine.reads.similar.SIMILAR_CASE_KEY`) link the report
    to — each open, of the report's sub-category and in the actor's scope, else the field's error."""
    found: list[Any] = []
    errors: FieldErrors = {}
    for name, prop in schema.get("properties", {}).items():
        code = data.get(name)
        if not prop.get(similar.SIMILAR_CASE_KEY) or not isinstance(code, str) or not code:
            continue
        case = similar.linkable(step.session, step.actor, event, code)
        if isinstance(case, FieldError):
            errors[name] = [case]
        else:
            found.append(case)
    if errors:
        raise ValidationFailed(
            "the form of task {task} has errors", errors, code="task.form_invalid", task=task_id
        )
    return found
