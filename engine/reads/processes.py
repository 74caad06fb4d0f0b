"""The process pages: every deployed version with the number of events pinned to it, a version's diagram,
and which elements of a diagram a page marks as done and as waiting."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.bpmn.definitions import ProcessBundle
from engine.bpmn.labels import SOURCE_LANGUAGE, localize_bpmn
from engine.errors import NotFound
from engine.store.models import Event, ProcessVersion


def process_versions(session: Session) -> list[dict[str, Any]]:
    """Every deployed version, newest first, with the number of event instances pinned to it."""
    counts = dict(
        session.execute(
            select(Event.process_version_id, func.count()).group_by(Event.process_version_id)
        ).all()
    )
    versions = session.execute(
        select(
            ProcessVersion.id,
            ProcessVersion.process_id,
            ProcessVersion.content_hash,
            ProcessVersion.deployed_at,
            ProcessVersion.deployed_by,
        ).order_by(ProcessVersion.process_id, ProcessVersion.id.desc())
    ).all()
    return [
        {
            "id": v.id,
            "process_id": v.process_id,
            "content_hash": v.content_hash,
            "deployed_at": v.deployed_at,
            "deployed_by": v.deployed_by,
            "instances": counts.get(v.id, 0),
        }
        for v in versions
    ]


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
