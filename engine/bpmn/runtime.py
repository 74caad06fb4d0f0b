"""Running one event's process instance on SpiffWorkflow.

This module knows SpiffWorkflow and the process conventions (task properties, lanes), and nothing of the
database: it starts a workflow with the report's data, completes a user task with form data, runs the engine
to its next wait state, and describes the ready user tasks so the services can write inbox rows.
Which step follows which is decided by the BPMN alone.
"""

from __future__ import annotations

import random
import secrets
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.definitions import OUTCOME_VARIABLE, UNSET_OUTCOME, ProcessBundle
from engine.bpmn.scripting import RestrictedScriptEngine, ScriptError, find_script_error
from engine.errors import Conflict, ProcessFailure
from engine.time import clock

clock.install_in_spiffworkflow()

# ------------------------------------------------------------------------------------- task ids
# SpiffWorkflow gives every new task a random id (``uuid4`` in its task module), and the inbox and the timers
# refer to tasks by those ids. A command draws a seed, records it in the history, and makes the tasks it
# creates inside :func:`task_ids` take their ids from that seed; a replay of the record with the same seed
# makes the same tasks with the same ids, so an instance rebuilt from its history matches its inbox rows.
_task_ids: ContextVar[random.Random | None] = ContextVar("gridloop_task_ids", default=None)


def _next_task_id() -> UUID:
    source = _task_ids.get()
    if source is None:
        return uuid.uuid4()
    return UUID(int=source.getrandbits(128), version=4)


def _install_task_ids() -> None:
    import SpiffWorkflow.task

    SpiffWorkflow.task.uuid4 = _next_task_id


_install_task_ids()


def new_seed() -> str:
    """A fresh seed for one command's task ids (128 random bits, as hex)."""
    return secrets.token_hex(16)


@contextmanager
def task_ids(seed: str | None) -> Iterator[None]:
    """Inside the block, new SpiffWorkflow tasks take their ids from ``seed`` in creation order (random ids
    when ``seed`` is None, as for records written before seeds were recorded)."""
    token = _task_ids.set(random.Random(seed) if seed is not None else None)
    try:
        yield
    finally:
        _task_ids.reset(token)


def parse_time(value: str | datetime) -> datetime:
    """An aware datetime from an ISO string (or a datetime), as process scripts store them."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"time {value!r} has no timezone")
    return moment


DEFINITE = TaskState.COMPLETED | TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
LEVEL_ABOVE: dict[str, str] = {"grid": "community", "community": "town", "town": "district"}


class ReplayDivergence(Exception):
    """A replay asked the engine's functions for something other than what the record says was asked."""


class Journal:
    """The calls process scripts make to the engine's clock, calendar and organisation during one command.

    Recording them in the history makes a replay exact: played back, each call returns what it returned then,
    even if the organisation or the settings have changed since, and a replay that asks for anything else
    has diverged from the record.
    """

    def __init__(self, recorded: list[list[Any]] | None = None) -> None:
        self.calls: list[list[Any]] = []
        self._playback = list(recorded) if recorded is not None else None

    def call(self, name: str, args: list[Any], compute: Any) -> Any:
        """Return ``compute()`` (recording it), or, when playing back, the recorded result of this same call."""
        if self._playback is not None:
            if not self._playback:
                raise ReplayDivergence(
                    f"the replay called {name}{tuple(args)} but the record holds no further call"
                )
            recorded_name, recorded_args, result = self._playback.pop(0)
            if recorded_name != name or list(recorded_args) != list(args):
                raise ReplayDivergence(
                    f"the replay called {name}{tuple(args)} where the record has {recorded_name}{tuple(recorded_args)}"
                )
        else:
            result = compute()
        self.calls.append([name, list(args), result])
        return result

    def unplayed(self) -> list[list[Any]]:
        """Recorded calls the replay never made (a divergence too)."""
        return list(self._playback or [])


_journal: ContextVar[Journal | None] = ContextVar("gridloop_journal", default=None)


@contextmanager
def journaling(journal: Journal) -> Iterator[Journal]:
    """Record (or play back) the engine-function calls made inside the block."""
    token = _journal.set(journal)
    try:
        yield journal
    finally:
        _journal.reset(token)


def _journaled(name: str, args: list[Any], compute: Any) -> Any:
    journal = _journal.get()
    return compute() if journal is None else journal.call(name, args, compute)


class DueTimes(Protocol):
    """What the script functions ask of the business calendar."""

    def due_at(self, start: datetime, limit: float, unit: str) -> datetime: ...

    def shift_due(self, due: datetime, held_at: datetime, resumed_at: datetime, unit: str) -> datetime: ...


class Departments(Protocol):
    """What the script functions ask of the organisation."""

    def find_department(self, kind: str, grid: str) -> str: ...


def script_functions(calendar: DueTimes, directory: Departments) -> dict[str, Any]:
    """The functions BPMN scripts and expressions may call, documented for process designers.

    - ``now_iso()``: the engine clock's current time, ISO 8601 in UTC.
    - ``due_at(start_iso, limit, unit)``: when a limit of ``limit`` ``unit`` (work_hours, work_days,
      natural_hours, natural_days or 工作时 …) started at ``start_iso`` runs out, by the business calendar.
    - ``find_department(kind, grid)``: the code of the department of ``kind`` nearest to ``grid``.
    - ``not_later(a_iso, b_iso)``: True when time ``a`` is not after time ``b``.
    - ``shift_due(due_iso, held_at_iso, resumed_at_iso, unit)``: a deadline moved past a hold (挂账): the limit
      left when the hold began is counted again from the resumption (working time for work units).
    - ``next_level(level)``: the platform one level up (grid → community → town → district), for 上报.
    """

    def now_iso() -> str:
        return _journaled("now_iso", [], lambda: clock.now().isoformat())

    def due_at(start_iso: str, limit: float, unit: str) -> str:
        return _journaled(
            "due_at",
            [start_iso, limit, unit],
            lambda: calendar.due_at(parse_time(start_iso), float(limit), unit).isoformat(),
        )

    def find_department(kind: str, grid: str) -> str:
        return _journaled("find_department", [kind, grid], lambda: directory.find_department(kind, grid))

    def not_later(a_iso: str, b_iso: str) -> bool:
        return parse_time(a_iso) <= parse_time(b_iso)

    def shift_due(due_iso: str, held_at_iso: str, resumed_at_iso: str, unit: str) -> str:
        return _journaled(
            "shift_due",
            [due_iso, held_at_iso, resumed_at_iso, unit],
            lambda: calendar.shift_due(
                parse_time(due_iso), parse_time(held_at_iso), parse_time(resumed_at_iso), unit
            ).isoformat(),
        )

    def next_level(level: str) -> str:
        return LEVEL_ABOVE[level]

    return {
        "now_iso": now_iso,
        "due_at": due_at,
        "find_department": find_department,
        "not_later": not_later,
        "shift_due": shift_due,
        "next_level": next_level,
    }


@dataclass(frozen=True)
class ReadyTask:
    """A user task waiting for a person, described for the inbox."""

    spiff_task_id: str
    bpmn_id: str
    name: str
    lane: str | None
    role: str
    form: str | None
    scope_level: str
    department_code: str | None
    due_at: datetime | None
    assignee: str | None = None  # the task goes straight to this user (camunda:assignee)


def _run(action: str, func: Any, *args: Any) -> None:
    try:
        func(*args)
    except ScriptError as exc:
        raise ProcessFailure("{problem}", code="process.script_refused", problem=str(exc)) from exc
    except WorkflowException as exc:
        script_error = find_script_error(exc)
        if script_error is not None:
            raise ProcessFailure(
                "{problem}", code="process.script_refused", problem=str(script_error)
            ) from exc
        raise ProcessFailure(
            "the process failed while {action}: {problem}",
            code="process.failed",
            action=action,
            problem=str(exc),
        ) from exc


def start(bundle: ProcessBundle, engine: RestrictedScriptEngine, data: dict[str, Any]) -> BpmnWorkflow:
    """Create an instance with the report's ``data`` and run it to its first wait state."""
    workflow = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=engine)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(data)
    _run("starting", workflow.do_engine_steps)
    return workflow


def attach(workflow: BpmnWorkflow, engine: RestrictedScriptEngine) -> BpmnWorkflow:
    """Give a loaded instance its script engine (it is not part of the stored state)."""
    workflow.script_engine = engine
    return workflow


def instance_index(workflow: BpmnWorkflow, spiff_task_id: str) -> int:
    """Which of the waiting tasks of the same step this one is (0 unless the step runs several instances, as a
    joint meeting's parallel department tasks do); recorded so a replay completes the same instance."""
    task = workflow.get_task_from_id(UUID(spiff_task_id))
    if task is None:
        return 0
    same = [
        t.id
        for t in workflow.get_tasks(state=TaskState.READY, manual=True)
        if t.task_spec.bpmn_id == task.task_spec.bpmn_id
    ]
    return same.index(task.id) if task.id in same else 0


def complete(workflow: BpmnWorkflow, spiff_task_id: str, form_data: dict[str, Any]) -> dict[str, Any]:
    """Complete the ready user task with ``form_data`` and run on; return the task's data before completion."""
    task = workflow.get_task_from_id(UUID(spiff_task_id))
    if task is None or task.state != TaskState.READY:
        raise Conflict(
            "this task is no longer waiting; reload to see the event's current state",
            code="task.no_longer_waiting",
        )
    before = dict(task.data)
    task.data.update(form_data)
    _run(f"completing {task.task_spec.bpmn_id}", task.run)
    _run(f"continuing after {task.task_spec.bpmn_id}", workflow.do_engine_steps)
    return before


def fire_timers(workflow: BpmnWorkflow) -> None:
    """Fire the instance's timers that are due by the engine clock, and run on to the next wait state."""
    _run("firing timers", workflow.refresh_timers)
    _run("continuing after a timer", workflow.do_engine_steps)


def waiting_user_tasks(workflow: BpmnWorkflow) -> list[Any]:
    """The instance's user tasks that wait for somebody, in tree order (pass it on to save walking the tree again).

    SpiffWorkflow finds them by walking the task tree through a filtering iterator, which costs more than the
    process step itself; the instance (and each running subprocess) also keeps its tasks in a flat map, so
    they are picked from there, and the tree is walked only to order several of them.
    """
    found = [
        task
        for tasks in (workflow.tasks, *(sub.tasks for sub in workflow.subprocesses.values()))
        for task in tasks.values()
        if task._state == TaskState.READY and task.task_spec.manual
    ]
    if len(found) > 1:
        return workflow.get_tasks(state=TaskState.READY, manual=True)
    return found


def is_completed(workflow: BpmnWorkflow) -> bool:
    """Whether the instance has run to its end. SpiffWorkflow answers by walking the task tree up to the first
    unfinished task, which is most of the tree; the flat task map answers "no" at a glance, and SpiffWorkflow
    is asked (and remembers the answer) only when no task is left unfinished."""
    if workflow.completed:
        return True
    if any(task._state & TaskState.NOT_FINISHED_MASK for task in workflow.tasks.values()):
        return False
    return workflow.is_completed()


def current_data(workflow: BpmnWorkflow, ready: list[Any] | None = None) -> dict[str, Any]:
    """The instance's data as it stands: that of a waiting user task, or the final data once complete.

    ``ready`` is :func:`waiting_user_tasks` when the caller has it already.
    """
    ready = waiting_user_tasks(workflow) if ready is None else ready
    if ready:
        return ready[0].data
    if is_completed(workflow):
        return workflow.data if workflow.data else (workflow.last_task.data if workflow.last_task else {})
    waiting = workflow.get_tasks(state=TaskState.WAITING)
    if waiting:
        return waiting[0].data
    return workflow.last_task.data if workflow.last_task else {}


def lookup(data: dict[str, Any], path: str | None) -> Any:
    """The value at a variable name or dotted path in task data (None when absent or no path is given)."""
    if not path:
        return None
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def ready_tasks(
    workflow: BpmnWorkflow, bundle: ProcessBundle, ready: list[Any] | None = None
) -> list[ReadyTask]:
    """The user tasks now waiting, with their role, scope level, department and due time.

    ``ready`` is :func:`waiting_user_tasks` when the caller has it already.
    """
    result = []
    for task in waiting_user_tasks(workflow) if ready is None else ready:
        info = bundle.user_tasks[task.task_spec.bpmn_id]
        department = lookup(task.data, info.department_variable)
        due_raw = lookup(task.data, info.due_at_variable)
        scope_level = lookup(task.data, info.scope_level_variable) or info.scope_level
        assignee = info.assignee or lookup(task.data, info.assignee_variable)
        result.append(
            ReadyTask(
                spiff_task_id=str(task.id),
                bpmn_id=info.bpmn_id,
                name=info.name,
                lane=info.lane,
                role=info.role or "",
                form=info.form,
                scope_level=scope_level,
                department_code=department,
                due_at=parse_time(due_raw) if due_raw else None,
                assignee=assignee if isinstance(assignee, str) and assignee else None,
            )
        )
    return result


EVENT_FACTS: tuple[str, ...] = (
    "state",
    "department_code",
    "handling_level",
    "opened_at",
    "due_at",
    "handling_started_at",
    "handled_at",
    "opened_level",
    "closed_at",
    "closed_on_time",
    "satisfaction",
    "rework_count",
    "reassign_count",
    "reopen_count",
    "completed",
)


def event_state(data: dict[str, Any]) -> str:
    """The event's state in the process data: what the diagram last set (one of the bundle's ``outcomes``)."""
    return data.get(OUTCOME_VARIABLE) or UNSET_OUTCOME


def event_facts(workflow: BpmnWorkflow, data: dict[str, Any]) -> dict[str, Any]:
    """The event columns the process decides, read from its data by the variable names the BPMN uses.

    Evaluation counts these (on time, reworked, reassigned, reopened …); the audit recomputes them from a
    replay and compares.
    """
    state = event_state(data)
    closed = state == "closed"
    return {
        "state": state,
        "department_code": data.get("department"),
        "handling_level": data.get("level") or data.get("handling_level"),
        "opened_at": parse_time(data["case_opened_at"]) if data.get("case_opened_at") else None,
        # the department's handling limit where the diagram keeps one apart (处置时限), else the case's
        "due_at": _moment(data.get("handle_due_at") or data.get("case_due_at")),
        "handling_started_at": _moment(data.get("handling_started_at")),
        "handled_at": _moment(data.get("handled_at")),
        "opened_level": data.get("handling_level"),
        "closed_at": parse_time(data["case_closed_at"]) if closed and data.get("case_closed_at") else None,
        "closed_on_time": data.get("closed_on_time") if closed else None,
        "satisfaction": data.get("satisfaction"),
        "rework_count": int(data.get("rework_count") or 0),
        "reassign_count": int(data.get("reassign_count") or 0),
        "reopen_count": int(data.get("reopen_count") or 0),
        "completed": is_completed(workflow),
    }


def _moment(value: Any) -> datetime | None:
    return parse_time(value) if value else None


def _diffs(
    workflow: BpmnWorkflow, bundle: ProcessBundle, mapping: Mapping[str, str] | None
) -> tuple[Any, dict[str, Any]]:
    """SpiffWorkflow's diff of the instance against ``bundle`` (steps aligned by id, and by structure where an
    id is gone), with ``mapping``'s steps (old id → new id, a step the designer renamed) aligned as it says."""
    from engine.bpmn.state import registry

    top, subprocess_diffs = diff_workflow(registry(), workflow, bundle.spec, bundle.subprocess_specs)
    if mapping:
        _map_steps(top, workflow, bundle.spec, mapping)
        for sp_id, diff in subprocess_diffs.items():
            if diff is not None:
                subprocess = workflow.subprocesses[sp_id]
                _map_steps(diff, subprocess, bundle.subprocess_specs[subprocess.spec.name], mapping)
    return top, subprocess_diffs


def _map_steps(diff: Any, workflow: Any, spec: Any, mapping: Mapping[str, str]) -> None:
    for task in workflow.get_tasks(skip_subprocesses=True):
        target = spec.task_specs.get(mapping.get(task.task_spec.name, ""))
        if target is not None:
            diff.alignment[task] = target
            if task in diff.removed:
                diff.removed.remove(task)


def migration_problems(
    workflow: BpmnWorkflow, bundle: ProcessBundle, mapping: Mapping[str, str] | None = None
) -> list[str]:
    """Why this instance cannot move to ``bundle``'s version (empty when it can).

    Every step the instance has been through or is waiting in must find its element in the new version — by its
    id, by ``mapping`` (old id → new id) for a step renamed, or by SpiffWorkflow's alignment by structure — and
    every subprocess its process; otherwise its past could no longer be read against its spec. Predicted steps
    do not count: the migration predicts them afresh from the new diagram.
    """
    top, subprocess_diffs = _diffs(workflow, bundle, mapping)
    removed = [t for t in top.removed if t.state & DEFINITE]
    for sp_id, diff in subprocess_diffs.items():
        if diff is None:
            return [f"the subprocess {workflow.subprocesses[sp_id].spec.name} is not in the new version"]
        removed.extend(t for t in diff.removed if t.state & DEFINITE)
    return sorted(
        {f"step {t.task_spec.bpmn_id or t.task_spec.name} is not in the new version" for t in removed}
    )


def migration_alignment(
    workflow: BpmnWorkflow, bundle: ProcessBundle, mapping: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The steps the instance has been through or waits in that move to an element of another id (old id → new
    id): by ``mapping``, or as SpiffWorkflow aligns them by the diagram's structure when an id is gone — what a
    designer checks before a move, and corrects with a mapping where the guess is wrong."""
    top, subprocess_diffs = _diffs(workflow, bundle, mapping)
    moved: dict[str, str] = {}
    for diff in (top, *(d for d in subprocess_diffs.values() if d is not None)):
        for task, spec in diff.alignment.items():
            if spec is not None and task.state & DEFINITE and spec.name != task.task_spec.name:
                moved[task.task_spec.name] = spec.name
    return dict(sorted(moved.items()))


def migrate(
    workflow: BpmnWorkflow,
    bundle: ProcessBundle,
    engine: RestrictedScriptEngine,
    mapping: Mapping[str, str] | None = None,
) -> BpmnWorkflow:
    """Move an instance onto ``bundle``'s version, the steps of ``mapping`` (old id → new id) onto their new
    elements: waiting steps are re-predicted on the new diagram."""
    problems = migration_problems(workflow, bundle, mapping)
    if problems:
        raise ProcessFailure(
            "the instance cannot be migrated: {problems}",
            code="migration.impossible",
            problems="; ".join(problems),
        )
    top, subprocess_diffs = _diffs(workflow, bundle, mapping)
    migrate_workflow(top, workflow, bundle.spec)
    for sp_id, diff in subprocess_diffs.items():
        subprocess = workflow.subprocesses[sp_id]
        migrate_workflow(diff, subprocess, bundle.subprocess_specs[subprocess.spec.name])
    workflow.subprocess_specs = bundle.subprocess_specs
    workflow.script_engine = engine
    _run("continuing after the migration", workflow.do_engine_steps)
    return workflow
