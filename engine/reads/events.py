"""The events pages: the list (searched within the actor's scope) and the event page — summary, holders, time
light, diagram, every step's data with its form, attachments, timeline and supervision sheets.

The states an event can be in are the process's own (:attr:`engine.bpmn.definitions.ProcessBundle.outcomes`,
read from the diagram): the list offers those, and a search for any other state is refused by name rather than
answered with every event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn import forms
from engine.bpmn.definitions import ProcessBundle
from engine.errors import FieldError, NotFound, ValidationFailed
from engine.evaluation.metrics import LEVELS_UP
from engine.org.people import Actor
from engine.org.tree import OrgDirectory
from engine.reads import contacts, geography, queries, similar
from engine.reads.labels import (
    department_name,
    describe_category,
    display_names,
    translate_step_names,
    unit_name,
)
from engine.reads.lights import Lights
from engine.reads.listing import Listing
from engine.reads.processes import diagram_marks, start_event_id
from engine.reads.reader import Reader
from engine.store import attachments
from engine.store.models import LedgerBuilding, LedgerDwelling, SupervisionSheet, Task
from engine.supervision import rules


def event_states(reader: Reader) -> tuple[str, ...]:
    """Every state an event of the process can be in, as its latest version's diagram sets them."""
    return reader.bundle().outcomes


def matching_events(
    reader: Reader,
    *,
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
    exported: bool | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the events in the actor's scope matching the filters, newest first, and their total
    (:func:`engine.reads.queries.list_events`), each with the ``light`` it is listed with
    (:meth:`engine.reads.lights.Lights.case`); a ``state`` the process does not know is refused. Personal data
    as a page shows it (``exported`` None: :func:`engine.reads.contacts.shown`), or as an export gives it
    (``exported``: whether it was asked for whole, :func:`engine.reads.contacts.exported`)."""
    if state is not None:
        states = event_states(reader)
        if state not in states:
            choices = ", ".join(states)
            raise ValidationFailed(
                "no event is ever in state {state!r}; the states are: {choices}",
                {"state": [FieldError("not_a_choice_of", {"choices": choices})]},
                state=state,
                choices=choices,
            )
    rows, total = queries.list_events(
        reader.session,
        reader.actor,
        code=code,
        category=category,
        grid=grid,
        state=state,
        reported_from=reported_from,
        reported_to=reported_to,
        text=text,
        page=page,
        per_page=per_page,
        after=after,
    )
    lights = Lights.of(reader, reader.bundle())
    steps = queries.open_steps(reader.session, {row["id"] for row in rows})
    for found in steps.values():
        translate_step_names(found, reader.bundle())
    for row in rows:
        row["light"] = lights.case(row, steps.get(row["id"], []))
    if exported is not None:  # an export (the API's list): masked unless asked for whole by a role that may
        return contacts.exported(reader, rows, exported)[0], total
    return contacts.shown(reader, rows), total  # reporters' contacts as the actor may read them


def events_page(reader: Reader, *, page: int = 1, per_page: int = 20, **filters: Any) -> Listing:
    """One page of the events matching ``filters`` (those of :func:`matching_events`), with names and lights."""
    rows, total = matching_events(reader, page=page, per_page=per_page, **filters)
    lights = Lights.of(reader, reader.bundle())
    directory = reader.directory()
    for row in rows:
        describe_category(row, lights.categories, reader.process_name)
        row["grid_name"] = unit_name(directory, row["grid"])
    return Listing(rows, total, page, per_page, colours=lights.colours)


def _steps(reader: Reader, bundle: ProcessBundle, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The data entered at each step (the report and every completion), with the form schema it was entered on."""
    schemas: dict[str | None, dict[str, Any]] = {}

    def schema_of(form: str | None) -> dict[str, Any]:
        if form not in schemas:
            schemas[form] = reader.form(bundle, form if form in bundle.forms else None)
        return schemas[form]

    start_id = start_event_id(bundle)
    steps = []
    for entry in history:
        if entry["action"] in ("report", "start"):
            step_id, data = start_id, entry["data"].get(entry["action"], {})
        elif entry["action"] == "complete":
            step_id, data = entry["step"], entry["data"].get("form", {})
        else:
            continue
        info = bundle.user_tasks.get(step_id) if step_id else None
        steps.append(
            {
                "seq": entry["seq"],
                "step": step_id,
                "name": info.name if info else (step_id or entry["action"]),
                "actor": entry["actor"],
                "at": entry["at"],
                "schema": schema_of(info.form if info else None),
                "data": data,
            }
        )
    return steps


def _sheets_of_event(
    session: Session, event_id: int, directory: OrgDirectory, actor: Actor
) -> list[dict[str, Any]]:
    """The event's supervision sheets, oldest first, each with whom it is charged to and whether the actor
    may reply to it (:func:`engine.supervision.rules.may_reply`)."""
    sheets = []
    for sheet, task in session.execute(
        select(SupervisionSheet, Task)
        .outerjoin(Task, Task.id == SupervisionSheet.task_id)
        .where(SupervisionSheet.event_id == event_id)
        .order_by(SupervisionSheet.id)
    ).all():
        row = rules.sheet_row(sheet)
        row.update(rules.charged_to(sheet, task))
        row["department_name"] = department_name(directory, row["department"])
        row["scope_name"] = unit_name(directory, row["scope"]) if row["scope"] else None
        row["can_reply"] = (
            row["status"] == "open" and row["reply"] is None and rules.may_reply(actor, sheet, task)
        )
        sheets.append(row)
    return sheets


def event_detail(reader: Reader, event_id: int) -> dict[str, Any]:
    """:func:`engine.reads.queries.event_detail` with the public reporter's contact as the actor may read it
    (in the columns and the history's data, :mod:`engine.reads.contacts`), and the ``light`` it is shown with
    (:meth:`engine.reads.lights.Lights.case`)."""
    detail = _detail_with_contact(reader, event_id)[0]
    lights = Lights.of(reader, reader.bundle(detail["process_version_id"]))
    detail["light"] = lights.case(detail, [t for t in detail["tasks"] if t["status"] == "open"])
    return detail


def _detail_with_contact(reader: Reader, event_id: int) -> tuple[dict[str, Any], bool]:
    detail = queries.event_detail(reader.session, reader.actor, event_id)
    whole = contacts.sees_whole(reader, event_id, detail["process_version_id"])
    return (detail if whole else contacts.masked(detail)), whole


def level_path(opened: str | None, handled: str | None) -> list[str]:
    """The levels a case went through from the one the routing table gave it to the one that handled it, when
    it was reported up (逐级上报: community, town …); empty when it was handled where it was first put."""
    if opened not in LEVELS_UP or handled not in LEVELS_UP:
        return []
    first, last = LEVELS_UP.index(opened), LEVELS_UP.index(handled)
    return list(LEVELS_UP[first : last + 1]) if first < last else []


def _appeals_of(reader: Reader, sheets: list[dict[str, Any]]) -> None:
    """Each sheet with whether the actor may appeal against its deduction now (``can_appeal``,
    :func:`engine.supervision.rules.appeal_refusal`) and the appeal made (``appeal``: its code and state)."""
    session = reader.session
    points = reader.settings.value("sheet_deductions", session)
    appeals = reader.settings.value("sheet_appeals", session)
    calendar, now = reader.calendar(), reader.now()
    made = {
        r["id"]: r
        for r in queries.events_by_id(session, [s["appeal_event_id"] for s in sheets if s["appeal_event_id"]])
    }
    for sheet in sheets:
        closes = rules.appeal_closes(calendar, sheet["issued_at"], appeals["within"])
        sheet["can_appeal"] = rules.appeal_refusal(reader.actor, sheet, points, closes, now) is None
        appeal = made.get(sheet["appeal_event_id"])
        sheet["appeal"] = {"code": appeal["code"], "state": appeal["state"]} if appeal else None
        sheet["appeal_process"] = appeals["process"]


def event_page(reader: Reader, event_id: int) -> dict[str, Any]:
    """An event as its page shows it: :func:`engine.reads.queries.event_detail` plus names, time light, current
    holders, the steps' data with their schemas, the attachments, the diagram elements done and waiting, and
    the supervision sheets — with whether the actor may issue one (and to which departments) or reply to one.
    The public reporter's contact, in the columns and in every step's data, is masked unless the actor needs it
    (:func:`event_detail`). Out of the actor's scope raises :class:`~engine.errors.NotFound`."""
    session, actor = reader.session, reader.actor
    detail, whole = _detail_with_contact(reader, event_id)
    detail["contact_whole"] = whole  # a tel: link only for those who see the number whole
    bundle = reader.bundle(detail["process_version_id"])
    translate_step_names(detail["tasks"], bundle)
    open_tasks = [t for t in detail["tasks"] if t["status"] == "open"]
    lights = Lights.of(reader, bundle)
    directory = reader.directory()
    steps = _steps(reader, bundle, detail["history"])
    sheets = _sheets_of_event(session, event_id, directory, actor)
    _appeals_of(reader, sheets)
    people = {detail["reporter"]} | {h["actor"] for h in detail["history"]}
    people |= {t["assignee"] for t in detail["tasks"]} | {t["completed_by"] for t in detail["tasks"]}
    people |= {s["issued_by"] for s in sheets} | {s["replied_by"] for s in sheets}
    names = display_names(session, people)
    files = []
    for step in steps:
        for attachment_id in [
            a for ids in forms.photo_ids(step["schema"], step["data"]).values() for a in ids
        ]:
            try:
                files.append({"step": step["name"], "file": attachments.describe(session, attachment_id)})
            except NotFound:
                continue
    describe_category(detail, lights.categories, reader.process_name)
    detail["grid_name"] = unit_name(directory, detail["grid"])
    detail["department_name"] = department_name(directory, detail["department"])
    detail["own_light"] = lights.event(detail)
    detail["light"] = lights.case(detail, open_tasks)
    detail["map"] = geography.around(reader, detail["grid"])  # the event's map: its community and its point
    detail["similar_reports"] = similar_reports(reader, detail, whole)
    detail["dwelling_label"] = _dwelling_label(reader, detail.get("dwelling"))
    detail["holders"] = [
        {
            "task": t["id"],
            "name": t["name"],
            "assignee": names.get(t["assignee"], t["assignee"]),
            "role": t["role"],
            "scope_name": unit_name(directory, t["scope"]),
            "department_name": department_name(directory, t["department"]),
            "due_at": t["due_at"],
            "light": lights.task(t, detail),
        }
        for t in open_tasks
    ]
    step_names = {info.bpmn_id: info.name for info in bundle.user_tasks.values()}
    for entry in detail["history"]:
        entry["step_name"] = step_names.get(entry["step"], entry["step"])
    detail["steps"] = steps
    detail["attachments"] = files
    detail["files"] = {f["file"].id: f["file"] for f in files}
    detail["names"] = names
    start_id = start_event_id(bundle)
    done = [start_id] if start_id else []
    done += [h["step"] for h in detail["history"] if h["action"] == "complete" and h["step"]]
    detail["diagram"] = diagram_marks(
        bundle,
        detail["process_version_id"],
        list(dict.fromkeys(done)),
        sorted({t["step"] for t in open_tasks}),
    )
    detail["sheets"] = sheets
    detail["level_path"] = level_path(detail["opened_level"], detail["handling_level"])
    # the department's report back against its handling limit (the case's verdict follows it)
    handled, due = detail["handled_at"], detail["due_at"]
    detail["handled_on_time"] = None if handled is None or due is None else handled <= due
    # sheets go only to departments inside the issuer's scope: none, and the form is not offered
    detail["sheet_departments"] = (
        [
            {"code": d.code, "name": d.name}
            for d in sorted(directory.departments.values(), key=lambda d: d.code)
            if rules.may_issue_to(actor, d.unit_code)
        ]
        if rules.can_be_supervised(detail["state"]) and rules.may_issue(actor)
        else []
    )
    detail["can_issue_sheet"] = bool(detail["sheet_departments"])
    return detail


def similar_reports(reader: Reader, detail: dict[str, Any], whole: bool) -> list[dict[str, Any]]:
    """The reports linked to the case as similar (相似案件), each with its code, reporter (a public one's contact
    as the actor may read the case's own: ``whole``), channel and time."""
    found = []
    reports = similar.linked_reports(reader.session, detail["id"])
    names = display_names(reader.session, {e.reporter for e in reports})
    for report in reports:
        row = {
            "id": report.id,
            "code": report.code,
            "reporter": names.get(report.reporter, report.reporter),
            "reporter_name": report.reporter_name,
            "reporter_phone": report.reporter_phone,
            "channel": report.channel,
            "channel_ref": report.channel_ref,
            "reported_at": report.reported_at,
            "description": report.description,
        }
        found.append(row if whole else contacts.masked(row))
    return found


def _dwelling_label(reader: Reader, dwelling_id: int | None) -> str | None:
    """The ledger's household an event names, as its building, unit and room (None: it names none)."""
    if dwelling_id is None:
        return None
    found = reader.session.execute(
        select(LedgerBuilding.name, LedgerDwelling.unit, LedgerDwelling.room)
        .join(LedgerDwelling, LedgerDwelling.building_id == LedgerBuilding.id)
        .where(LedgerDwelling.id == dwelling_id)
    ).one_or_none()
    if found is None:
        return None
    name, unit, room = found
    return f"{name} {unit}-{room}" if unit else f"{name} {room}"
