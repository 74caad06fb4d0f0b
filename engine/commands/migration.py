"""Moving running instances to a newer process version: explicit, checked, logged, replayable.

An instance stays on the version it started on (DESIGN rule 3) until an administrator migrates it. A
migration is refused when any step the instance has been through or is waiting in has no element in the new
version. A migrated instance keeps its inbox rows (and their claims) for the steps still waiting, is recorded
in its history (so a replay switches versions at the same point) and in the admin log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine import settings
from engine.audit import history
from engine.bpmn import runtime
from engine.errors import Conflict, Forbidden, NotFound
from engine.store import statements
from engine.store.db import connection_of
from engine.store.models import Event, ProcessVersion
from engine.time import clock as clockmod
from engine.time import timers


def _target(session: Any, event: Any, to_version: int) -> ProcessVersion:
    target = session.get(ProcessVersion, to_version)
    current = session.get(ProcessVersion, event.process_version_id)
    if target is None:
        raise NotFound(f"no process version {to_version}")
    if target.process_id != current.process_id:
        raise Conflict(f"version {to_version} is of process {target.process_id}, not {current.process_id}")
    if target.id == event.process_version_id:
        raise Conflict(f"event {event.code} already runs on version {to_version}")
    return target


def plan(gl: Any, event_id: int, to_version: int) -> dict[str, Any]:
    """What migrating one event would do: its current version, the target, and the problems (none = possible)."""
    with gl.db.reading() as session:
        event = statements.event(connection_of(session), event_id)
        if event is None:
            raise NotFound(f"no event {event_id}")
        _target(session, event, to_version)
        workflow = gl._load_workflow(session, event, gl._runtime(session, event.process_version_id))
        problems = runtime.migration_problems(workflow, gl._runtime(session, to_version).bundle)
        gl.cache.put(event.id, event.version, workflow)
        return {
            "event": event.id,
            "code": event.code,
            "from": event.process_version_id,
            "to": to_version,
            "problems": problems,
        }


def migrate_event(gl: Any, username: str, event_id: int, to_version: int) -> dict[str, Any]:
    """Migrate one event to ``to_version`` (administrators only), in one transaction."""
    now = gl.now()
    workflow = None
    try:
        with clockmod.using(clockmod.ManualClock(now)), gl.db.unit_of_work() as session:
            actor = gl.actor(session, username)
            if not actor.has_role("admin"):
                raise Forbidden("only administrators migrate running instances")
            event = statements.event(connection_of(session), event_id)
            if event is None:
                raise NotFound(f"no event {event_id}")
            _target(session, event, to_version)
            old_version = event.process_version_id
            new_rt = gl._runtime(session, to_version)
            workflow = gl._load_workflow(session, event, gl._runtime(session, old_version))
            before = dict(runtime.current_data(workflow))
            ids = runtime.new_seed()
            with runtime.journaling(runtime.Journal()) as journal, runtime.task_ids(ids):
                runtime.migrate(workflow, new_rt.bundle, new_rt.engine)
            after = runtime.current_data(workflow)
            event.process_version_id = to_version
            gl._update_event(event, workflow, after, now)
            open_rows = statements.open_tasks(connection_of(session), event.id)
            ready = {r.spiff_task_id: r for r in runtime.ready_tasks(workflow, new_rt.bundle)}
            bound: dict[str, statements.Row] = {}
            for row in open_rows:
                if row.spiff_task_id in ready:
                    bound[row.spiff_task_id] = row
                    continue
                match = next(
                    (r for sid, r in ready.items() if r.bpmn_id == row.bpmn_id and sid not in bound), None
                )
                if match is not None:
                    row.spiff_task_id = match.spiff_task_id
                    statements.save_task(connection_of(session), row)
                    bound[match.spiff_task_id] = row
            created = gl._sync_inbox(
                session, event, workflow, new_rt, now, {r.spiff_task_id: r for r in open_rows}
            )
            timers.sync(session, event.id, workflow, now)
            history.append(
                connection_of(session),
                event,
                now,
                actor.username,
                "migrate",
                {
                    "from": old_version,
                    "to": to_version,
                    "changes": history.data_changes(before, after),
                    "calls": journal.calls,
                    "ids": ids,
                    "offered": [{"step": r.bpmn_id, "role": r.role, "scope": r.scope_code} for r in created],
                },
            )
            settings.log(
                session,
                now,
                actor.username,
                "migrate",
                {"event": event.id, "from": old_version, "to": to_version},
            )
            gl._save(
                session, event, workflow, checkpoint=True
            )  # a checkpoint belongs to the version it is of
            result = {"event": event.id, "code": event.code, "from": old_version, "to": to_version}
            version = event.version
    except BaseException:
        workflow = None
        raise
    gl.cache.put(event_id, version, workflow)
    return result


def migrate_version(gl: Any, username: str, from_version: int, to_version: int) -> dict[str, Any]:
    """Migrate every unfinished event on ``from_version``; events that cannot move are listed with why."""
    with gl.db.reading() as session:
        ids = list(
            session.scalars(
                select(Event.id).where(Event.process_version_id == from_version, Event.completed.is_(False))
            )
        )
    migrated, refused = [], []
    for event_id in ids:
        found = plan(gl, event_id, to_version)
        if found["problems"]:
            refused.append({"event": event_id, "code": found["code"], "problems": found["problems"]})
            continue
        migrated.append(migrate_event(gl, username, event_id, to_version)["event"])
    return {"migrated": migrated, "refused": refused}
