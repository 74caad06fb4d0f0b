"""Moving running instances to another process version: explicit, checked, logged, replayable.

An instance stays on the version it started on (DESIGN rule 3) until an administrator or a process designer
migrates it. A migration is refused when any step the instance has been through or is waiting in has no element
in the new version: by its id, or by the *step mapping* (old id → new id) the migration is given for a step the
designer renamed. A migrated instance keeps its inbox rows (and their claims) for the steps still waiting under
the same id; a waiting step that is renamed is offered afresh under its new id. The move is recorded in the
history with its mapping (so a replay switches versions at the same point, the same way) and in the admin log,
and its state is stored as a checkpoint of the new version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn import runtime
from engine.commands.pipeline import Step
from engine.errors import Conflict, NotFound
from engine.store import statements
from engine.store.db import connection_of
from engine.store.models import Event, ProcessVersion

if TYPE_CHECKING:
    from engine.app import Gridloop


def _target(session: Session, event: Any, to_version: int) -> ProcessVersion:
    target = session.get(ProcessVersion, to_version)
    current = session.get(ProcessVersion, event.process_version_id)
    if target is None:
        raise NotFound("no process version {version}", code="version.not_found", version=to_version)
    assert current is not None
    if target.process_id != current.process_id:
        raise Conflict(
            "version {version} is of process {target}, not {current}",
            code="migration.other_process",
            version=to_version,
            target=target.process_id,
            current=current.process_id,
        )
    if target.id == event.process_version_id:
        raise Conflict(
            "event {event} already runs on version {version}",
            code="migration.same_version",
            event=event.code,
            version=to_version,
        )
    return target


Mapping = dict[str, str]


def step_mapping(session: Session, versions: Any, from_version: int, to_version: int) -> dict[str, Any]:
    """The steps of ``from_version`` with no element of the same id in ``to_version`` (``gone``: id, name, type)
    and the elements only ``to_version`` has (``new``), each gone step with the new element of the same name and
    type proposed for it (``proposed``: a step renamed keeps its name on the canvas more often than its id)."""
    source = _elements(versions.get(session, from_version).bundle)
    target = _elements(versions.get(session, to_version).bundle)
    gone: list[dict[str, str | None]] = [dict(e, id=key) for key, e in source.items() if key not in target]
    new = [dict(e, id=key) for key, e in target.items() if key not in source]
    for step in gone:
        step["proposed"] = next(
            (n["id"] for n in new if n["name"] and n["name"] == step["name"] and n["type"] == step["type"]),
            None,
        )
    return {"from": from_version, "to": to_version, "gone": gone, "new": new}


def _elements(bundle: Any) -> dict[str, dict[str, str]]:
    """The BPMN elements of a version (its process and the processes it calls), by id: name and type."""
    specs = [bundle.spec, *(s for s in bundle.subprocess_specs.values() if s is not None)]
    return {
        spec_of.bpmn_id: {"name": spec_of.bpmn_name or "", "type": type(spec_of).__name__}
        for spec in specs
        for spec_of in spec.task_specs.values()
        if getattr(spec_of, "bpmn_id", None)
    }


def check_mapping(
    session: Session, versions: Any, from_version: int, to_version: int, mapping: Mapping
) -> None:
    """Refuse a mapping that names a step ``from_version`` lacks or an element ``to_version`` lacks."""
    source = _elements(versions.get(session, from_version).bundle)
    target = _elements(versions.get(session, to_version).bundle)
    steps = sorted(old for old in mapping if old not in source)
    if steps:
        raise Conflict(
            "the step mapping names steps version {version} does not have: {steps}",
            code="migration.unknown_step",
            version=from_version,
            steps=", ".join(steps),
        )
    elements = sorted(new for new in mapping.values() if new not in target)
    if elements:
        raise Conflict(
            "the step mapping names elements version {version} does not have: {elements}",
            code="migration.unknown_element",
            version=to_version,
            elements=", ".join(elements),
        )


def plan(gl: Gridloop, event_id: int, to_version: int, mapping: Mapping | None = None) -> dict[str, Any]:
    """What migrating one event would do (with ``mapping``, old step id → new, for renamed steps): its current
    version, the target, and the problems (none = possible)."""
    mapping = mapping or {}
    versions, instances = gl.parts.versions, gl.parts.instances
    with gl.db.reading() as session:
        event = statements.event(connection_of(session), event_id)
        if event is None:
            raise NotFound("no event {event}", code="event.not_found", event=event_id)
        _target(session, event, to_version)
        check_mapping(session, versions, event.process_version_id, to_version, mapping)
        workflow = instances.peek(session, event, versions.get(session, event.process_version_id))
        target = versions.get(session, to_version).bundle
        problems = runtime.migration_problems(workflow, target, mapping)
        aligned = runtime.migration_alignment(workflow, target, mapping) if not problems else {}
        conn = connection_of(session)
        return {
            "event": event.id,
            "code": event.code,
            "from": event.process_version_id,
            "to": to_version,
            "problems": problems,
            # the steps it has been through or waits in that land on an element of another id
            "aligned": aligned,
            # what a move does to the instance's waiting steps (their claims are kept; a renamed one takes the
            # id it ``becomes``) and timers (re-armed from the new diagram: a timer whose element the new version
            # drops is gone)
            "waiting": [
                {
                    "step": row.bpmn_id,
                    "name": row.name,
                    "assignee": row.assignee,
                    "kept": _has_step(target, aligned.get(row.bpmn_id, row.bpmn_id)),
                    "becomes": aligned.get(row.bpmn_id),
                }
                for row in statements.open_tasks(conn, event.id)
            ],
            "timers": len(statements.pending_timers(conn, event.id)),
        }


def migrate_event(
    step: Step, event_id: int, to_version: int, mapping: Mapping | None = None
) -> dict[str, Any]:
    """Migrate one event to ``to_version`` (administrators and process designers), the steps of ``mapping``
    (old id → new id) onto their renamed elements."""
    mapping = dict(mapping or {})
    step.require_role(
        "admin",
        "designer",
        message="only administrators and process designers migrate running instances",
        code="migration.admin_only",
    )
    event = step.event(event_id)
    _target(step.session, event, to_version)
    check_mapping(step.session, step.parts.versions, event.process_version_id, to_version, mapping)
    old_version = event.process_version_id
    new = step.parts.versions.get(step.session, to_version)
    workflow = step.instance(event)
    open_rows = statements.open_tasks(step.conn, event.id)

    renamed: dict[str, str] = {}

    def run() -> None:
        runtime.migrate(workflow, new.bundle, new.engine, mapping)
        event.process_version_id = to_version
        # a row still waiting keeps its claim: it is bound to the new task of its step, and takes the step's new
        # id, name and form where the step was renamed (by the mapping, or as SpiffWorkflow aligned it)
        ready = {r.spiff_task_id: r for r in runtime.ready_tasks(workflow, new.bundle)}
        bound: set[str] = set()
        for row in open_rows:
            task = ready.get(row.spiff_task_id)
            if task is None:
                wanted = mapping.get(row.bpmn_id, row.bpmn_id)
                task = next((r for sid, r in ready.items() if r.bpmn_id == wanted and sid not in bound), None)
            if task is None:
                continue
            bound.add(task.spiff_task_id)
            if (row.spiff_task_id, row.bpmn_id) != (task.spiff_task_id, task.bpmn_id):
                if task.bpmn_id != row.bpmn_id:
                    renamed[str(row.id)] = task.bpmn_id
                    row.bpmn_id, row.name, row.form = task.bpmn_id, task.name, task.form
                row.spiff_task_id = task.spiff_task_id
                statements.save_task(step.conn, row)

    moved = step.move(event, new, run, open_rows=lambda: {r.spiff_task_id: r for r in open_rows})
    mapped = {"mapping": mapping} if mapping else {}
    # ``renamed``: the inbox rows (by id) that took a renamed step's new id, which the audit reads them by
    kept = {"renamed": renamed} if renamed else {}
    step.record(event, "migrate", {"from": old_version, "to": to_version, **mapped, **kept, **moved.record})
    step.log("migrate", {"event": event.id, "from": old_version, "to": to_version, **mapped})
    step.checkpoint(event)  # a checkpoint belongs to the version it is of
    return {"event": event.id, "code": event.code, "from": old_version, "to": to_version}


def _has_step(bundle: Any, bpmn_id: str) -> bool:
    """Whether the version of ``bundle`` has the step ``bpmn_id`` (in its process or a process it calls)."""
    specs = [bundle.spec, *(s for s in bundle.subprocess_specs.values() if s is not None)]
    return any(bpmn_id in spec.task_specs for spec in specs)


def unfinished(gl: Gridloop, from_version: int) -> list[int]:
    """The ids of the unfinished events on ``from_version``, oldest first: what a migration of it moves."""
    with gl.db.reading() as session:
        return list(
            session.scalars(
                select(Event.id)
                .where(Event.process_version_id == from_version, Event.completed.is_(False))
                .order_by(Event.id)
            )
        )


def dry_run(
    gl: Gridloop, from_version: int, to_version: int, mapping: Mapping | None = None
) -> list[dict[str, Any]]:
    """:func:`plan` for every unfinished event on ``from_version``: nothing moves."""
    return [plan(gl, event_id, to_version, mapping) for event_id in unfinished(gl, from_version)]


def migrate_version(
    gl: Gridloop, username: str, from_version: int, to_version: int, mapping: Mapping | None = None
) -> dict[str, Any]:
    """Migrate every unfinished event on ``from_version``, each its own command; events that cannot move are
    listed with why."""
    migrated, refused = [], []
    for event_id in unfinished(gl, from_version):
        found = plan(gl, event_id, to_version, mapping)
        if found["problems"]:
            refused.append({"event": event_id, "code": found["code"], "problems": found["problems"]})
            continue
        migrated.append(gl.pipeline.run(username, migrate_event, event_id, to_version, mapping)["event"])
    return {"migrated": migrated, "refused": refused}
