"""Moving running instances to another process version: explicit, checked, logged, replayable.

An instance stays on the version it started on (DESIGN rule 3) until an administrator migrates it. A
migration is refused when any step the instance has been through or is waiting in has no element in the new
version. A migrated instance keeps its inbox rows (and their claims) for the steps still waiting, is recorded
in its history (so a replay switches versions at the same point) and in the admin log, and its state is
stored as a checkpoint of the new version.
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


def plan(gl: Gridloop, event_id: int, to_version: int) -> dict[str, Any]:
    """What migrating one event would do: its current version, the target, and the problems (none = possible)."""
    versions, instances = gl.parts.versions, gl.parts.instances
    with gl.db.reading() as session:
        event = statements.event(connection_of(session), event_id)
        if event is None:
            raise NotFound("no event {event}", code="event.not_found", event=event_id)
        _target(session, event, to_version)
        workflow = instances.peek(session, event, versions.get(session, event.process_version_id))
        target = versions.get(session, to_version).bundle
        problems = runtime.migration_problems(workflow, target)
        conn = connection_of(session)
        return {
            "event": event.id,
            "code": event.code,
            "from": event.process_version_id,
            "to": to_version,
            "problems": problems,
            # what a move does to the instance's waiting steps (their claims are kept) and timers (re-armed
            # from the new diagram: a timer whose element the new version drops is gone)
            "waiting": [
                {
                    "step": row.bpmn_id,
                    "name": row.name,
                    "assignee": row.assignee,
                    "kept": _has_step(target, row.bpmn_id),
                }
                for row in statements.open_tasks(conn, event.id)
            ],
            "timers": len(statements.pending_timers(conn, event.id)),
        }


def migrate_event(step: Step, event_id: int, to_version: int) -> dict[str, Any]:
    """Migrate one event to ``to_version`` (administrators and process designers)."""
    step.require_role(
        "admin",
        "designer",
        message="only administrators and process designers migrate running instances",
        code="migration.admin_only",
    )
    event = step.event(event_id)
    _target(step.session, event, to_version)
    old_version = event.process_version_id
    new = step.parts.versions.get(step.session, to_version)
    workflow = step.instance(event)
    open_rows = statements.open_tasks(step.conn, event.id)

    def run() -> None:
        runtime.migrate(workflow, new.bundle, new.engine)
        event.process_version_id = to_version
        # a row still waiting keeps its claim: it is bound to the new task of its step
        ready = {r.spiff_task_id: r for r in runtime.ready_tasks(workflow, new.bundle)}
        bound: set[str] = set()
        for row in open_rows:
            if row.spiff_task_id in ready:
                bound.add(row.spiff_task_id)
                continue
            match = next(
                (r for sid, r in ready.items() if r.bpmn_id == row.bpmn_id and sid not in bound), None
            )
            if match is not None:
                row.spiff_task_id = match.spiff_task_id
                statements.save_task(step.conn, row)
                bound.add(match.spiff_task_id)

    moved = step.move(event, new, run, open_rows=lambda: {r.spiff_task_id: r for r in open_rows})
    step.record(event, "migrate", {"from": old_version, "to": to_version, **moved.record})
    step.log("migrate", {"event": event.id, "from": old_version, "to": to_version})
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


def dry_run(gl: Gridloop, from_version: int, to_version: int) -> list[dict[str, Any]]:
    """:func:`plan` for every unfinished event on ``from_version``: nothing moves."""
    return [plan(gl, event_id, to_version) for event_id in unfinished(gl, from_version)]


def migrate_version(gl: Gridloop, username: str, from_version: int, to_version: int) -> dict[str, Any]:
    """Migrate every unfinished event on ``from_version``, each its own command; events that cannot move are
    listed with why."""
    migrated, refused = [], []
    for event_id in unfinished(gl, from_version):
        found = plan(gl, event_id, to_version)
        if found["problems"]:
            refused.append({"event": event_id, "code": found["code"], "problems": found["problems"]})
            continue
        migrated.append(gl.pipeline.run(username, migrate_event, event_id, to_version)["event"])
    return {"migrated": migrated, "refused": refused}
