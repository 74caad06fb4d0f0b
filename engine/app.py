"""The engine's services: every command is one unit of work, every query is scoped to its actor.

A command loads the event, checks the actor's scope and the form, runs the process to its next wait state,
and writes the workflow state, the inbox rows, the event's columns and the history in one transaction. The
event row's ``version`` column makes a concurrent change fail with :class:`~engine.errors.Conflict` instead of
being lost. Callers (the web UI, the JSON API, the CLI, the simulator) go through :class:`Gridloop`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import settings
from engine.audit import history
from engine.bpmn import forms, replay, runtime
from engine.bpmn.definitions import ProcessBundle, build_bundle, collect_files
from engine.bpmn.scripting import RestrictedScriptEngine
from engine.bpmn.state import STATE_FORMAT, LiveCache, dump_state, load_state
from engine.commands import supervising
from engine.errors import Conflict, Forbidden, NotDeployed, NotFound, ProcessFailure, ValidationFailed
from engine.evaluation import metrics
from engine.org import auth, people, scope, tree
from engine.org.people import Actor
from engine.reads import queries
from engine.store import attachments, statements
from engine.store.db import Database, connection_of, is_initialized, migrate
from engine.store.models import Event, ProcessVersion, Task, Timer, User
from engine.supervision import rules
from engine.time import clock as clockmod
from engine.time import timers
from engine.time.calendar import BusinessCalendar

PROCESS_ID = "grid_event"
LANGUAGES = ("zh", "en")
EVALUATION_ROLES = ("evaluator", "supervisor", "shift_leader", "auditor", "admin")
REPORT_FIELDS = ("category", "description", "grid", "address", "location", "photos", "self_handle", "channel")
# the instance's state is stored once this many history records have been written since the last checkpoint;
# the records in between rebuild it when it is not in memory (a few process steps, replayed in milliseconds)
CHECKPOINT_EVERY = 6


@dataclass(frozen=True)
class Deployment:
    """The result of a deploy: the version's id and hash, and whether it is new."""

    id: int
    content_hash: str
    created: bool


@dataclass
class _Runtime:
    bundle: ProcessBundle
    engine: RestrictedScriptEngine


class Gridloop:
    """gridloop's engine: one database, one clock, caches of deployed versions and live instances."""

    def __init__(self, database_url: str, clock: clockmod.Clock | None = None):
        self.db = Database(database_url)
        self.clock: clockmod.Clock = clock or clockmod.SystemClock()
        self._calendar: tuple[float, BusinessCalendar] | None = None
        self._step_limits: tuple[float, dict[str, list]] | None = None
        self.settings_ttl = 30.0
        self.cache = LiveCache()
        self._runtimes: dict[int, _Runtime] = {}
        self._directory: tree.OrgDirectory | None = None
        self._actors: dict[str, tuple[float, Actor]] = {}
        self._validators: dict[tuple[int, str | None], Any] = {}
        self.actor_ttl = 10.0
        self._timer_listeners: list[Callable[[datetime], None]] = []

    # ----------------------------------------------------------------- set-up

    def init_schema(self) -> None:
        """Create or upgrade the schema through the migrations."""
        migrate(self.db.engine)

    def is_initialized(self) -> bool:
        """True when the schema exists."""
        return is_initialized(self.db.engine)

    def now(self) -> datetime:
        """The engine clock's current time."""
        return self.clock.now()

    def deploy(self, root: Path, deployed_by: str = "system") -> Deployment:
        """Deploy the process definitions under ``root`` (processes/ + forms/); a known content hash is reused."""
        bundle = build_bundle(collect_files(root), PROCESS_ID)
        with self.db.unit_of_work() as session:
            existing = session.scalar(
                select(ProcessVersion).where(ProcessVersion.content_hash == bundle.content_hash)
            )
            if existing is not None:
                return Deployment(existing.id, existing.content_hash, created=False)
            version = ProcessVersion(
                process_id=bundle.process_id,
                content_hash=bundle.content_hash,
                files=bundle.files,
                deployed_at=self.now(),
                deployed_by=deployed_by,
            )
            session.add(version)
            session.flush()
            settings.log(
                session,
                self.now(),
                deployed_by,
                "deploy",
                {"process": bundle.process_id, "version": version.id, "hash": bundle.content_hash},
            )
            self._runtimes[version.id] = self._make_runtime(bundle)
            return Deployment(version.id, version.content_hash, created=True)

    def invalidate_org(self) -> None:
        """Forget the cached organisation, staff and form choices (call after changing any of them)."""
        self._directory = None
        self._actors.clear()
        self._validators.clear()

    @property
    def calendar(self) -> BusinessCalendar:
        """The business calendar from the settings and holiday table, re-read after ``settings_ttl`` seconds.

        Changes made through this engine take effect at once (:meth:`invalidate_settings`).
        """
        if self._calendar is None or time.monotonic() - self._calendar[0] > self.settings_ttl:
            with self.db.reading() as session:
                self._calendar = (time.monotonic(), settings.load_calendar(session))
        return self._calendar[1]

    def invalidate_settings(self) -> None:
        """Forget the cached calendar and settings (call after changing them)."""
        self._calendar = None
        self._step_limits = None

    def _step_due(self, bpmn_id: str, now: datetime) -> datetime | None:
        """The due time of a step that has a limit of its own in the ``step_limits`` setting."""
        if self._step_limits is None or time.monotonic() - self._step_limits[0] > self.settings_ttl:
            with self.db.reading() as session:
                self._step_limits = (time.monotonic(), settings.get(session, "step_limits"))
        limit = self._step_limits[1].get(bpmn_id)
        if limit is None:
            return None
        return self.calendar.due_at(now, float(limit[0]), limit[1])

    def get_setting(self, key: str) -> Any:
        """A setting's current value (its default when never set)."""
        with self.db.reading() as session:
            return settings.get(session, key)

    def change_setting(self, username: str, key: str, value: Any) -> Any:
        """Change a district setting (admins only); return the previous value. Logged in the admin log."""
        with self.db.unit_of_work() as session:
            actor = self.actor(session, username)
            if not actor.has_role("admin"):
                raise Forbidden("only administrators change settings")
            previous = settings.put(session, key, value, self.now())
            settings.log(
                session, self.now(), actor.username, "setting", {"key": key, "old": previous, "new": value}
            )
        self.invalidate_settings()
        return previous

    def set_calendar_day(
        self, username: str, day: date, is_workday: bool | None, note: str | None = None
    ) -> None:
        """Enter (or, with ``is_workday`` None, remove) a holiday or make-up working day (admins only)."""
        with self.db.unit_of_work() as session:
            actor = self.actor(session, username)
            if not actor.has_role("admin"):
                raise Forbidden("only administrators edit the holiday calendar")
            previous = settings.set_day(session, day, is_workday, note, actor.username, self.now())
            settings.log(
                session,
                self.now(),
                actor.username,
                "calendar_day",
                {"day": day.isoformat(), "old": previous, "new": is_workday, "note": note},
            )
        self.invalidate_settings()

    def actor(self, session: Session, username: str) -> Actor:
        """The acting user with their roles, cached for ``actor_ttl`` seconds of wall time.

        Role changes made through this engine take effect at once (:meth:`invalidate_org`); changes made by
        another process take effect within ``actor_ttl`` seconds.
        """
        cached = self._actors.get(username)
        if cached is not None and time.monotonic() - cached[0] < self.actor_ttl:
            return cached[1]
        actor = people.load_actor(session, username)
        self._actors[username] = (time.monotonic(), actor)
        return actor

    # --------------------------------------------------------------- internals

    def directory(self, session: Session) -> tree.OrgDirectory:
        """The organisation snapshot used by process scripts and scope resolution."""
        if self._directory is None:
            self._directory = tree.OrgDirectory.load(session)
        return self._directory

    def _make_runtime(self, bundle: ProcessBundle) -> _Runtime:
        engine = RestrictedScriptEngine(runtime.script_functions(_LazyCalendar(self), _LazyDirectory(self)))
        return _Runtime(bundle, engine)

    def _runtime(self, session: Session, version_id: int) -> _Runtime:
        rt = self._runtimes.get(version_id)
        if rt is None:
            version = session.get(ProcessVersion, version_id)
            if version is None:
                raise NotDeployed(f"process version {version_id} does not exist")
            rt = self._make_runtime(build_bundle(dict(version.files), version.process_id))
            self._runtimes[version_id] = rt
        return rt

    def runtime_for(self, session: Session) -> replay.RuntimeFor:
        """Version id → (bundle, script engine), for replaying records (the audit, rebuilding an instance)."""

        def runtime_for(version_id: int) -> tuple[ProcessBundle, RestrictedScriptEngine]:
            rt = self._runtime(session, version_id)
            return rt.bundle, rt.engine

        return runtime_for

    def _latest_version_id(self, session: Session) -> int:
        version_id = statements.latest_version_id(connection_of(session), PROCESS_ID)
        if version_id is None:
            raise NotDeployed("no process is deployed: run `gridloop deploy` (or `gridloop init`) first")
        return version_id

    def bundle(self, version_id: int | None = None) -> ProcessBundle:
        """The definitions of a deployed version (the latest when ``version_id`` is None)."""
        with self.db.reading() as session:
            vid = version_id if version_id is not None else self._latest_version_id(session)
            return self._runtime(session, vid).bundle

    def _options(self, session: Session, bundle: ProcessBundle) -> dict[str, forms.OptionSource]:
        directory = self.directory(session)

        def departments() -> list[tuple[str, str]]:
            return [(d.code, d.name) for d in sorted(directory.departments.values(), key=lambda d: d.code)]

        def grids() -> list[tuple[str, str]]:
            return [(g.code, g.name) for g in directory.grids()]

        def categories() -> list[tuple[str, str]]:
            return [(c.code, f"{c.class_name} / {c.name}") for c in bundle.categories]

        return {"departments": departments, "grids": grids, "categories": categories}

    def resolved_form(self, session: Session, bundle: ProcessBundle, form: str | None) -> dict[str, Any]:
        """A form's JSON Schema with its live choices filled in (an empty object schema for no form)."""
        if not form:
            return {"type": "object", "properties": {}, "additionalProperties": False}
        return forms.resolve_schema(bundle.forms[form], self._options(session, bundle))

    def _form_validator(
        self, session: Session, version_id: int, bundle: ProcessBundle, form: str | None
    ) -> Any:
        """The compiled validator of a form of a version, with its choices as they stand (cached)."""
        key = (version_id, form)
        validator = self._validators.get(key)
        if validator is None:
            validator = forms.compile_schema(self.resolved_form(session, bundle, form))
            self._validators[key] = validator
        return validator

    @staticmethod
    def _attachment_errors(
        session: Session, schema: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, list[str]]:
        """Photo fields must reference stored attachments."""
        errors: dict[str, list[str]] = {}
        for name, prop in schema.get("properties", {}).items():
            if prop.get("x-gridloop-widget") == "photos" and isinstance(data.get(name), list):
                unknown = attachments.missing(session, [str(v) for v in data[name]])
                if unknown:
                    errors[name] = [f"附件不存在：{', '.join(unknown)}"]
        return errors

    def _load_workflow(self, session: Session, event: Any, rt: _Runtime):  # noqa: ANN202
        workflow = self.cache.take(event.id, event.version)
        if workflow is None:
            workflow = self._restore(session, event, rt)
        return runtime.attach(workflow, rt.engine)

    def _restore(self, session: Session, event: Any, rt: _Runtime):  # noqa: ANN202
        """The instance as it stands: its stored checkpoint, with the history records written since played
        onto it (each with its recorded time, engine answers and task-id seed, so the tasks come out with the
        ids the inbox holds)."""
        conn = connection_of(session)
        workflow = None
        if event.state_seq:
            text = statements.load_state_text(conn, event.id)
            workflow = runtime.attach(load_state(text, rt.bundle.spec, rt.bundle.subprocess_specs), rt.engine)
        if event.state_seq < event.history_length:
            records = statements.history_since(conn, event.id, event.state_seq)
            try:
                workflow = replay.play(records, self.runtime_for(session), workflow)
            except runtime.ReplayDivergence as exc:
                raise ProcessFailure(
                    f"event {event.id}'s instance cannot be rebuilt from its history ({exc}); run `gridloop audit`"
                ) from exc
        if workflow is None:
            raise ProcessFailure(
                f"event {event.id} has neither a stored state nor a report to rebuild it from"
            )
        return workflow

    @staticmethod
    def _save(session: Session, event: Any, workflow: Any = None, checkpoint: bool = False) -> None:
        """Write the event, and flush what the ORM holds (timer rows, sheets), inside the unit of work, so that
        a lost race surfaces before the caller's result is built.

        The instance's state (``workflow``) is stored as a checkpoint only every :data:`CHECKPOINT_EVERY`
        history records, or when ``checkpoint`` says so: in between, the history records hold everything needed
        to rebuild it (:meth:`_restore`), and the live cache holds the object itself.
        """
        state = None
        if workflow is not None and (
            checkpoint or event.history_length - event.state_seq >= CHECKPOINT_EVERY
        ):
            state = dump_state(workflow)
            event.state_seq = event.history_length
        statements.save_event(connection_of(session), event, state)
        session.flush()

    def _sync_inbox(
        self,
        session: Session,
        event: statements.Row,
        workflow: Any,
        rt: _Runtime,
        now: datetime,
        open_rows: dict[str, statements.Row],
        waiting: list[Any] | None = None,
    ) -> list[statements.Row]:
        """Create rows for newly waiting user tasks and cancel rows whose task is no longer waiting.

        ``open_rows`` are the event's inbox rows that were open before the command, by SpiffWorkflow task id
        (a row the command has closed already is not cancelled); ``waiting`` is
        :func:`runtime.waiting_user_tasks` when the command has it already.
        """
        directory = self.directory(session)
        created = []
        ready_ids = set()
        for ready in runtime.ready_tasks(workflow, rt.bundle, waiting):
            ready_ids.add(ready.spiff_task_id)
            if ready.spiff_task_id in open_rows:
                continue
            if ready.department_code is not None:
                department = directory.departments.get(ready.department_code)
                if department is None:
                    raise ValidationFailed(
                        f"department {ready.department_code!r} does not exist",
                        {"department": [f"部门 {ready.department_code} 不存在"]},
                    )
                scope_code = department.unit_code
            else:
                scope_code = directory.unit_at_level(event.grid_code, ready.scope_level).code
            row = statements.insert_task(
                connection_of(session),
                {
                    "event_id": event.id,
                    "spiff_task_id": ready.spiff_task_id,
                    "bpmn_id": ready.bpmn_id,
                    "name": ready.name,
                    "lane": ready.lane,
                    "role": ready.role,
                    "scope_code": scope_code,
                    "department_code": ready.department_code,
                    "form": ready.form,
                    "status": "open",
                    "due_at": ready.due_at or self._step_due(ready.bpmn_id, now),
                    "created_at": now,
                },
            )
            created.append(row)
        for spiff_id, row in open_rows.items():
            if spiff_id not in ready_ids and row.status == "open":
                row.status = "cancelled"
                row.completed_at = now
                statements.save_task(connection_of(session), row)
        return created

    @staticmethod
    def _update_event(event: Any, workflow: Any, data: dict[str, Any], now: datetime) -> None:
        """Copy what the process decided (outcome, department, deadlines, counters) onto the event row."""
        for column, value in runtime.event_facts(workflow, data).items():
            setattr(event, column, value)
        event.updated_at = now

    # ---------------------------------------------------------------- commands

    def report(self, username: str, data: dict[str, Any]) -> dict[str, Any]:
        """Report a new event (上报): validate, start an instance on the latest version, offer its first task.

        Returns the event's id, code and state, and in ``next`` the ids of the inbox rows it created.
        """
        now = self.now()
        # one command, one instant: the process reads the command's time throughout, as a replay of its
        # history record (which carries that time) will
        with clockmod.using(clockmod.ManualClock(now)), self.db.unit_of_work() as session:
            actor = self.actor(session, username)
            version_id = self._latest_version_id(session)
            rt = self._runtime(session, version_id)
            data = dict(data)
            own_grids = [a.scope_code for a in actor.assignments if a.role == "grid_worker"]
            if not data.get("grid") and len(own_grids) == 1:
                data["grid"] = own_grids[0]
            data.setdefault("channel", "grid" if own_grids else "web")
            data.setdefault("self_handle", False)
            errors = forms.validate(
                self._form_validator(session, version_id, rt.bundle, rt.bundle.start_form), data
            )
            if not data.get("grid") and "grid" not in errors:
                errors["grid"] = ["此项为必填项"]
            errors.update(self._attachment_errors(session, rt.bundle.forms[rt.bundle.start_form], data))
            if errors:
                raise ValidationFailed("the report is incomplete or invalid", errors)
            grid = data["grid"]
            if not any(
                a.department_code is None and grid.startswith(a.scope_code) for a in actor.assignments
            ):
                raise Forbidden(f"grid {grid} is outside your scope")
            is_grid_worker_here = any(grid.startswith(code) for code in own_grids)
            if data["channel"] == "grid" and not is_grid_worker_here:
                raise ValidationFailed(
                    "only the grid's own worker reports by patrol",
                    {"channel": ["只有本网格网格员可以巡查上报"]},
                )
            if data["self_handle"] and data["channel"] != "grid":
                raise ValidationFailed(
                    "only a grid worker's own report can be self-handled",
                    {"self_handle": ["只有网格员本人巡查上报的事件可以自处理"]},
                )
            start_data = {key: data[key] for key in REPORT_FIELDS if key in data}
            start_data["reporter"] = actor.username
            ids = runtime.new_seed()
            with runtime.journaling(runtime.Journal()) as journal, runtime.task_ids(ids):
                workflow = runtime.start(rt.bundle, rt.engine, start_data)
            event = statements.insert_event(
                connection_of(session),
                {
                    "process_version_id": version_id,
                    "category": data["category"],
                    "grid_code": grid,
                    "channel": data["channel"],
                    "description": data["description"],
                    "address": data.get("address"),
                    "location": data.get("location"),
                    "reporter": actor.username,
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
                },
            )
            event.code = f"E{now:%Y%m%d}{event.id:06d}"
            self._update_event(event, workflow, runtime.current_data(workflow), now)
            created = self._sync_inbox(session, event, workflow, rt, now, {})
            new_timers = timers.sync(session, event.id, workflow, now)
            history.append(
                connection_of(session),
                event,
                now,
                actor.username,
                "report",
                {"report": start_data, "calls": journal.calls, "ids": ids, "offered": _offered(created)},
            )
            self._save(session, event, workflow)
            result = {
                "id": event.id,
                "code": event.code,
                "state": event.state,
                "next": [r.id for r in created],
            }
            version = event.version
        self.cache.put(result["id"], version, workflow)
        self._announce_timers(new_timers)
        return result

    def _task_for_action(
        self, session: Session, actor: Actor, task_id: int
    ) -> tuple[statements.Row, statements.Row]:
        """The task and its event, if the actor may act on it now; the named error otherwise."""
        # One statement reads both, so the event's version (checked when the command writes) is the version
        # of the moment the task was read: a change in between is a conflict, never a lost update.
        found = statements.task_and_event(connection_of(session), task_id)
        if found is None:
            raise NotFound(f"no task {task_id}")
        task, event = found
        if not (
            scope.is_candidate(actor, task)
            or task.assignee == actor.username
            or task.completed_by == actor.username
        ):
            visible = session.scalar(select(Event.id).where(Event.id == event.id, scope.event_filter(actor)))
            if visible is None:
                raise NotFound(f"no task {task_id}")
            raise Forbidden(f"task {task_id} ({task.name}) is not offered to you")
        if task.status != "open":
            who = f" by {task.completed_by}" if task.completed_by else ""
            raise Conflict(
                f"task {task_id} ({task.name}) was already {task.status}{who}; nothing was changed"
            )
        return task, event

    def claim(self, username: str, task_id: int) -> dict[str, Any]:
        """Claim a task offered to the actor (认领), so that nobody else works on it."""
        return self._set_claim(username, task_id, claim=True)

    def unclaim(self, username: str, task_id: int) -> dict[str, Any]:
        """Give a claimed task back to everybody it is offered to."""
        return self._set_claim(username, task_id, claim=False)

    def _set_claim(self, username: str, task_id: int, claim: bool) -> dict[str, Any]:
        now = self.now()
        with self.db.unit_of_work() as session:
            actor = self.actor(session, username)
            task, event = self._task_for_action(session, actor, task_id)
            if claim:
                if task.assignee == actor.username:
                    raise Conflict(f"task {task_id} is already claimed by you")
                if task.assignee is not None:
                    raise Conflict(f"task {task_id} is claimed by {task.assignee}")
                if not scope.is_candidate(actor, task):
                    raise Forbidden(f"task {task_id} ({task.name}) is not offered to you")
                task.assignee, task.claimed_at = actor.username, now
            else:
                if task.assignee != actor.username:
                    raise Conflict(f"task {task_id} is not claimed by you")
                task.assignee, task.claimed_at = None, None
            statements.save_task(connection_of(session), task)
            old_version = event.version
            event.updated_at = now
            history.append(
                connection_of(session),
                event,
                now,
                actor.username,
                "claim" if claim else "unclaim",
                {},
                task.bpmn_id,
                task.id,
            )
            self._save(session, event)
            new_version = event.version
        workflow = self.cache.take(event.id, old_version)
        if workflow is not None:
            self.cache.put(event.id, new_version, workflow)
        return {"task": task_id, "assignee": task.assignee}

    def complete(
        self, username: str, task_id: int, data: dict[str, Any], language: str = "zh"
    ) -> dict[str, Any]:
        """Complete a task with its form's data: validated, run to the next wait state, saved — or nothing at all."""
        now = self.now()
        workflow = None
        try:
            with clockmod.using(clockmod.ManualClock(now)), self.db.unit_of_work() as session:
                actor = self.actor(session, username)
                task, event = self._task_for_action(session, actor, task_id)
                if task.assignee not in (None, actor.username):
                    raise Conflict(f"task {task_id} is claimed by {task.assignee}")
                if not (task.assignee == actor.username or scope.is_candidate(actor, task)):
                    raise Forbidden(f"task {task_id} ({task.name}) is not offered to you")
                rt = self._runtime(session, event.process_version_id)
                if task.form:
                    data = forms.apply_defaults(rt.bundle.forms[task.form], data)
                validator = self._form_validator(session, event.process_version_id, rt.bundle, task.form)
                errors = forms.validate(validator, data, language)
                if task.form:
                    errors.update(self._attachment_errors(session, rt.bundle.forms[task.form], data))
                if errors:
                    raise ValidationFailed(f"the form of task {task_id} has errors", errors)
                workflow = self._load_workflow(session, event, rt)
                # the inbox mirrors the waiting tasks (every command that moves the instance syncs it), so when
                # this task is the only one waiting, its row is the only open one and need not be read
                waiting_before = runtime.waiting_user_tasks(workflow)
                if len(waiting_before) == 1 and str(waiting_before[0].id) == task.spiff_task_id:
                    open_rows, instance = {task.spiff_task_id: task}, 0
                else:
                    open_rows = {
                        t.spiff_task_id: t for t in statements.open_tasks(connection_of(session), event.id)
                    }
                    open_rows[task.spiff_task_id] = task
                    # which of several waiting instances of the step this is (a joint meeting's departments)
                    instance = runtime.instance_index(workflow, task.spiff_task_id)
                had_timers = bool(workflow.event_manager.tasks)
                ids = runtime.new_seed()
                with runtime.journaling(runtime.Journal()) as journal, runtime.task_ids(ids):
                    before = runtime.complete(workflow, task.spiff_task_id, data)
                waiting = runtime.waiting_user_tasks(workflow)
                after = runtime.current_data(workflow, waiting)
                task.status, task.completed_at, task.completed_by = "completed", now, actor.username
                if task.assignee is None:
                    task.assignee = actor.username
                statements.save_task(connection_of(session), task)
                self._update_event(event, workflow, after, now)
                created = self._sync_inbox(session, event, workflow, rt, now, open_rows, waiting)
                # the timers table mirrors the waiting timer events after every command, so an instance that had none
                # before and has none now has no rows to update
                new_timers = (
                    timers.sync(session, event.id, workflow, now)
                    if had_timers or workflow.event_manager.tasks
                    else []
                )
                cleared = rules.clear_for_closed_event(session, event, now, actor.username)
                history.append(
                    connection_of(session),
                    event,
                    now,
                    actor.username,
                    "complete",
                    {
                        "form": data,
                        "changes": history.data_changes(before, after),
                        "calls": journal.calls,
                        "ids": ids,
                        "offered": _offered(created),
                        "instance": instance,
                    },
                    task.bpmn_id,
                    task.id,
                )
                for sheet in cleared:
                    supervising.record(session, event, now, actor.username, "sheet_cleared", sheet)
                self._save(session, event, workflow)
                result = {
                    "task": task_id,
                    "event": event.id,
                    "state": event.state,
                    "next": [r.id for r in created],
                }
                version = event.version
        except BaseException:
            workflow = None
            raise
        self.cache.put(result["event"], version, workflow)
        self._announce_timers(new_timers)
        return result

    # ------------------------------------------------------------------ timers

    def add_timer_listener(self, listener: Callable[[datetime], None]) -> None:
        """Be told the due time of every timer a command creates (the scheduler arms itself with it)."""
        self._timer_listeners.append(listener)

    def _announce_timers(self, created: list[statements.Row]) -> None:
        if created and self._timer_listeners:
            earliest = min(t.due_at for t in created)
            for listener in self._timer_listeners:
                listener(earliest)

    def next_timer_due(self) -> datetime | None:
        """When the scheduler must next wake: a BPMN timer falls due, or a sheet is to be issued or escalated."""
        with self.db.reading() as session:
            moments = [timers.next_due(session), supervising.next_due(self)]
        moments = [m for m in moments if m is not None]
        return min(moments) if moments else None

    def supervise(self, fired_by: str = "supervision") -> dict[str, int]:
        """Issue sheets for what has gone red and escalate overdue sheets, as of the engine clock's now."""
        return supervising.scan(self, fired_by)

    def tick(self, fired_by: str = "tick", limit: int = 1000) -> int:
        """Fire every timer due by the engine clock's now; return how many this call fired."""
        with self.db.reading() as session:
            due = timers.due(session, self.now(), limit)
        fired = 0
        for timer_id in due:
            try:
                fired += self.fire_timer(timer_id, fired_by)
            except Conflict:
                continue  # another scheduler fired it, or changed the event meanwhile
        return fired

    def fire_timer(self, timer_id: int, fired_by: str = "scheduler") -> bool:
        """Fire one due timer in one transaction; False when it is not (or no longer) pending and due."""
        now = self.now()
        workflow = None
        try:
            with clockmod.using(clockmod.ManualClock(now)), self.db.unit_of_work() as session:
                query = select(Timer).where(Timer.id == timer_id)
                if self.db.dialect == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                timer = session.scalar(query)
                if timer is None or timer.status != "pending" or timer.due_at >= now:
                    return False
                event = statements.event(connection_of(session), timer.event_id)
                rt = self._runtime(session, event.process_version_id)
                open_rows = {
                    t.spiff_task_id: t for t in statements.open_tasks(connection_of(session), event.id)
                }
                workflow = self._load_workflow(session, event, rt)
                before = dict(runtime.current_data(workflow))
                ids = runtime.new_seed()
                with runtime.journaling(runtime.Journal()) as journal, runtime.task_ids(ids):
                    runtime.fire_timers(workflow)
                if any(w.spiff_task_id == timer.spiff_task_id for w in timers.waiting(workflow)):
                    raise _NothingFired
                after = runtime.current_data(workflow)
                self._update_event(event, workflow, after, now)
                created = self._sync_inbox(session, event, workflow, rt, now, open_rows)
                new_timers = timers.sync(session, event.id, workflow, now, fired_by=fired_by)
                history.append(
                    connection_of(session),
                    event,
                    now,
                    "timer",
                    "timer",
                    {
                        "timer": timer.bpmn_id,
                        "due_at": timer.due_at.isoformat(),
                        "fired_by": fired_by,
                        "changes": history.data_changes(before, after),
                        "calls": journal.calls,
                        "ids": ids,
                        "offered": _offered(created),
                    },
                    timer.bpmn_id,
                )
                self._save(session, event, workflow)
                event_id, version = event.id, event.version
        except _NothingFired:
            return False
        except BaseException:
            workflow = None
            raise
        self.cache.put(event_id, version, workflow)
        self._announce_timers(new_timers)
        return True

    # ------------------------------------------------------- staff and files

    def sign_in(self, username: str, password: str) -> Actor:
        """Check a sign-in; a failure is counted (and may lock the account) even though it raises."""
        failure: auth.AuthenticationFailed | None = None
        with self.db.unit_of_work() as session:
            try:
                actor = auth.authenticate(session, username, password, self.now())
            except auth.AuthenticationFailed as exc:
                failure = exc
        if failure is not None:
            raise failure
        return actor

    def load_actor(self, username: str) -> Actor:
        """The user with their roles (fresh from the database)."""
        with self.db.reading() as session:
            return people.load_actor(session, username)

    def user_language(self, username: str) -> str:
        """The user's interface language (``zh`` or ``en``)."""
        with self.db.reading() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound(f"no user {username!r}")
            return user.language or "zh"

    def set_user_language(self, username: str, language: str) -> None:
        """Choose the user's interface language."""
        if language not in LANGUAGES:
            raise ValidationFailed("unknown language", {"language": [f"可选语言：{', '.join(LANGUAGES)}"]})
        with self.db.unit_of_work() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFound(f"no user {username!r}")
            user.language = language

    def upload(self, username: str, filename: str, content: bytes) -> attachments.StoredAttachment:
        """Store an uploaded photo or document and return its id for use in form data."""
        with self.db.unit_of_work() as session:
            actor = self.actor(session, username)
            return attachments.store(session, filename, content, actor.username, self.now())

    def attachment(self, username: str, attachment_id: str) -> tuple[attachments.StoredAttachment, bytes]:
        """An attachment's metadata and bytes, for a signed-in user (ids are unguessable UUIDs)."""
        with self.db.reading() as session:
            self.actor(session, username)
            return attachments.content(session, attachment_id)

    # ----------------------------------------------------------------- queries

    def task_detail(self, username: str, task_id: int, language: str = "zh") -> dict[str, Any]:
        """A task the actor may see, with its event, its form (choices filled in) and the data so far."""
        with self.db.reading() as session:
            actor = people.load_actor(session, username)
            task = session.get(Task, task_id)
            if task is None:
                raise NotFound(f"no task {task_id}")
            if scope.is_candidate(actor, task) or task.assignee == actor.username:
                event = session.get(Event, task.event_id)
            else:
                try:
                    event = queries.visible_event(session, actor, task.event_id)
                except NotFound:
                    raise NotFound(f"no task {task_id}") from None
            rt = self._runtime(session, event.process_version_id)
            workflow = self.cache.take(event.id, event.version)
            if workflow is None:
                workflow = runtime.attach(self._restore(session, event, rt), rt.engine)
            spiff_task = workflow.get_task_from_id(UUID(task.spiff_task_id))
            data = dict(spiff_task.data) if spiff_task is not None else {}
            self.cache.put(event.id, event.version, workflow)
            return {
                "task": queries.task_row(task, event),
                "event": queries.event_row(event),
                "form": self.resolved_form(session, rt.bundle, task.form),
                "data": data,
                "can_complete": task.status == "open"
                and (
                    task.assignee == actor.username
                    or (task.assignee is None and scope.is_candidate(actor, task))
                ),
            }

    def evaluate(
        self,
        username: str,
        start: datetime,
        end: datetime,
        by: str = "department",
        as_of: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The evaluation (考核评价) of a period for the events in the user's scope, as it stands ``as_of``
        (default: the engine clock's now); see :mod:`engine.evaluation.metrics`."""
        with self.db.reading() as session:
            actor = self.actor(session, username)
            if not any(r in actor.roles for r in EVALUATION_ROLES):
                raise Forbidden(
                    "evaluation is for evaluators, supervisors, shift leaders, auditors and admins"
                )
            return metrics.evaluate(session, start, end, by, actor, now=as_of or self.now())

    def inbox(self, username: str, view: str = "mine", **filters: Any) -> tuple[list[dict[str, Any]], int]:
        """One page of the user's inbox; see :func:`engine.reads.queries.inbox`."""
        with self.db.reading() as session:
            return queries.inbox(session, people.load_actor(session, username), view, **filters)

    def event_detail(self, username: str, event_id: int) -> dict[str, Any]:
        """An event with its tasks and history, if the user may see it."""
        with self.db.reading() as session:
            return queries.event_detail(session, people.load_actor(session, username), event_id)

    def list_events(self, username: str, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        """Events in the user's scope; see :func:`engine.reads.queries.list_events`."""
        with self.db.reading() as session:
            return queries.list_events(session, people.load_actor(session, username), **filters)


class _NothingFired(Exception):
    """Raised inside a timer command whose timer the process did not fire: the transaction is dropped."""


def _offered(rows: list[statements.Row]) -> list[dict[str, Any]]:
    """What a command put into inboxes, for its history record: step, role, scope, department, due time."""
    return [
        {
            "step": r.bpmn_id,
            "role": r.role,
            "scope": r.scope_code,
            "department": r.department_code,
            "due_at": r.due_at.isoformat() if r.due_at else None,
        }
        for r in rows
    ]


class _LazyCalendar:
    """Computes due times with the engine's current business calendar, so cached script engines see changes."""

    def __init__(self, gridloop: Gridloop) -> None:
        self._gridloop = gridloop

    def due_at(self, start: datetime, limit: float, unit: str) -> datetime:
        return self._gridloop.calendar.due_at(start, limit, unit)

    def shift_due(self, due: datetime, held_at: datetime, resumed_at: datetime, unit: str) -> datetime:
        return self._gridloop.calendar.shift_due(due, held_at, resumed_at, unit)


class _LazyDirectory:
    """Looks the organisation up through the engine at call time, so cached script engines see changes."""

    def __init__(self, gridloop: Gridloop) -> None:
        self._gridloop = gridloop

    def find_department(self, kind: str, grid: str) -> str:
        directory = self._gridloop._directory
        if directory is None:
            with self._gridloop.db.reading() as session:
                directory = self._gridloop.directory(session)
        return directory.find_department(kind, grid)
