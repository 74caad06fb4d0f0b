"""The process pages: the process models with their versions (life-cycle status, the number of events pinned to
each, who deployed and activated it), what the actor may start, a version's diagram, and which elements of a
diagram a page marks as done and as waiting."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.bpmn.definitions import ModelInfo, ProcessBundle
from engine.bpmn.labels import SOURCE_LANGUAGE, localize_bpmn
from engine.errors import Forbidden, NotFound
from engine.reads.reader import Reader
from engine.settings import starters as starters_of
from engine.store.models import Event, ProcessVersion

VERSION_COLUMNS = (
    "id",
    "process_id",
    "content_hash",
    "status",
    "deployed_at",
    "deployed_by",
    "activated_at",
    "activated_by",
    "retired_at",
    "retired_by",
    "previous_id",
)


def process_versions(session: Session) -> list[dict[str, Any]]:
    """Every deployed version, by process and newest first, with its life cycle and the number of event
    instances pinned to it (running and finished)."""
    counts = {
        (version_id, completed): count
        for version_id, completed, count in session.execute(
            select(Event.process_version_id, Event.completed, func.count()).group_by(
                Event.process_version_id, Event.completed
            )
        ).all()
    }
    versions = session.execute(
        select(*(getattr(ProcessVersion, c) for c in VERSION_COLUMNS)).order_by(
            ProcessVersion.process_id, ProcessVersion.id.desc()
        )
    ).all()
    return [
        {
            **{column: getattr(v, column) for column in VERSION_COLUMNS},
            "running": counts.get((v.id, False), 0),
            "instances": counts.get((v.id, False), 0) + counts.get((v.id, True), 0),
        }
        for v in versions
    ]


def process_models(reader: Reader) -> list[dict[str, Any]]:
    """The process models, by id: name and description in the reader's language (from the version shown:
    the active one, else the newest), whether grid reports start it, its active version, whether the actor
    may start it, and its versions (:func:`process_versions`)."""
    rows = process_versions(reader.session)
    starters = reader.settings.value("process_starters", reader.session)
    reporters = reader.settings.value("report_roles", reader.session)
    models = []
    for process_id, found in groupby(rows, key=lambda v: v["process_id"]):
        versions = list(found)
        bundle = reader.versions.shown(reader.session, process_id).bundle
        model = bundle.model or ModelInfo(process_id, process_id)
        name, description = model.named(reader.language)
        active = next((v["id"] for v in versions if v["status"] == "active"), None)
        roles = reporters if model.takes_reports else starters_of(starters, process_id, model.start_roles)[0]
        models.append(
            {
                "id": process_id,
                "name": name,
                "description": description,
                "takes_reports": model.takes_reports,
                "active": active,
                "may_start": active is not None
                and bundle.start_form is not None
                and any(reader.actor.has_role(role) for role in roles),
                "instances": sum(v["instances"] for v in versions),
                "versions": versions,
            }
        )
    return models


def diagram_xml(session: Session, version_id: int, language: str = SOURCE_LANGUAGE) -> str:
    """The BPMN file (with its diagram) of a deployed version that defines the version's process, its names in
    ``language`` where the file labels them (:func:`engine.bpmn.labels.localize_bpmn`; the file as deployed in
    the source language)."""
    version = session.get(ProcessVersion, version_id)
    if version is None:
        raise NotFound("no process version {version}", code="version.not_found", version=version_id)
    files, process_id = dict(version.files), version.process_id
    bpmn = [text for name, text in sorted(files.items()) if name.endswith(".bpmn")]
    if not bpmn:
        raise NotFound(
            "process version {version} has no BPMN file", code="version.no_bpmn", version=version_id
        )
    return localize_bpmn(next((text for text in bpmn if f'id="{process_id}"' in text), bpmn[0]), language)


def start_event_id(bundle: ProcessBundle) -> str | None:
    """The BPMN id of the start event that carries the report form (None when none does)."""
    for info in bundle.user_tasks.values():
        if isinstance(bundle.spec.task_specs.get(info.bpmn_id), StartEvent):
            return info.bpmn_id
    return None


def _callers(bundle: ProcessBundle) -> dict[str, str]:
    """Element id inside a called or embedded process → the element of the main diagram that runs it."""
    outer: dict[str, str] = {}

    def walk(spec: Any, caller: str | None) -> None:
        for task_spec in spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id and caller is not None:
                outer.setdefault(bpmn_id, caller)
            called = bundle.subprocess_specs.get(getattr(task_spec, "spec", None) or "")
            if called is not None and bpmn_id:
                walk(called, caller or bpmn_id)

    walk(bundle.spec, None)
    return outer


def diagram_marks(
    bundle: ProcessBundle, version_id: int, done: list[str], current: list[str]
) -> dict[str, Any]:
    """What the diagram of ``version_id`` marks: the elements ``done`` and ``current`` (waiting), each list
    with, for steps inside a call activity (the joint meeting), the call activity they run in, so that the main
    diagram shows where the case stands."""
    callers = _callers(bundle)

    def with_callers(ids: list[str]) -> list[str]:
        return list(dict.fromkeys([*ids, *(callers[i] for i in ids if i in callers)]))

    return {"version": version_id, "done": with_callers(done), "current": with_callers(current)}


def start_page(reader: Reader, process_id: str) -> dict[str, Any]:
    """What the start page of a process needs: its name and description, its active version's start form
    (live choices filled in), and the org units the actor may start it in (a ``grid`` field of the form offers
    those, else the instance runs in the starter's one scope). :class:`~engine.errors.Forbidden` when the
    actor's roles do not start it (the command refuses them too); a process that takes grid reports is
    reported on the report page instead (``takes_reports``)."""
    deployed = reader.versions.startable(reader.session, process_id)
    bundle = deployed.bundle.in_language(reader.language)
    model = bundle.model or ModelInfo(process_id, process_id)
    name, description = model.named(reader.language)
    if model.takes_reports:
        return {"id": process_id, "name": name, "takes_reports": True}
    roles, allowed = starters_of(
        reader.settings.value("process_starters", reader.session), process_id, model.start_roles
    )
    scopes = sorted({a.scope_code for a in reader.actor.assignments if a.role in roles})
    if not scopes or bundle.start_form is None:
        raise Forbidden(
            "your roles do not start process {process}", code="start.role_not_allowed", process=process_id
        )
    directory = reader.directory()
    units = [
        {"code": unit.code, "name": unit.name}
        for unit in sorted(directory.units.values(), key=lambda u: u.code)
        if any(unit.code.startswith(s) for s in scopes)
        and (not allowed or any(unit.code.startswith(a) for a in allowed))
    ]
    schema = reader.form(bundle, bundle.start_form)
    grid = schema.get("properties", {}).get("grid")
    if isinstance(grid, dict) and isinstance(grid.get("oneOf"), list):  # only the grids one may start it in
        codes = {unit["code"] for unit in units}
        grid["oneOf"] = [choice for choice in grid["oneOf"] if choice.get("const") in codes]
    return {
        "id": process_id,
        "name": name,
        "description": description,
        "takes_reports": False,
        "version": deployed.version_id,
        "schema": schema,
        "units": units,
        "default_unit": scopes[0] if len(scopes) == 1 else None,
    }
