"""Replaying an event's recorded commands on its process instance.

Every command that moves an instance (report, completion, timer firing, migration) records in the event's
history what it was given — the report's or the form's data, which waiting instance of a step it completed —
what the engine's functions answered (:class:`engine.bpmn.runtime.Journal`), when it ran, and the seed its new
tasks took their ids from (:func:`engine.bpmn.runtime.task_ids`). Played back in order under the recorded clock,
the records drive a process instance through exactly the same steps, to the same tasks with the same ids.

Two users: the audit replays a whole history from the report to prove the stored facts, and the engine
rebuilds an instance from its last stored checkpoint by playing the records written since (see
``Gridloop._restore`` in :mod:`engine.app`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import runtime
from engine.bpmn.definitions import ProcessBundle
from engine.bpmn.scripting import RestrictedScriptEngine
from engine.time import clock as clockmod

# the records that move an instance; an instance's first is its report, or the start of a process grid reports
# do not start (its data under the same key as the action)
START_ACTIONS = ("report", "start")
WORKFLOW_ACTIONS = (*START_ACTIONS, "complete", "timer", "migrate")

RuntimeFor = Callable[[int], tuple[ProcessBundle, RestrictedScriptEngine]]
# a history record: a HistoryEntry model or a store.Row of the history table (seq, at, action, bpmn_id,
# process_version_id, data)
Record = Any


def apply(record: Record, workflow: BpmnWorkflow | None, runtime_for: RuntimeFor) -> BpmnWorkflow:
    """Apply one recorded input (report, completion, timer firing, migration) to the instance, under the
    journal and task-id seed the caller has set."""
    if record.action in START_ACTIONS:
        if workflow is not None:
            raise runtime.ReplayDivergence(f"record {record.seq} starts an event that already exists")
        bundle, engine = runtime_for(record.process_version_id)
        return runtime.start(bundle, engine, dict(record.data[record.action]))
    if workflow is None:
        raise runtime.ReplayDivergence(
            f"record {record.seq} ({record.action}) comes before the report or start"
        )
    if record.action == "timer":
        runtime.fire_timers(workflow)
        return workflow
    if record.action == "migrate":
        bundle, engine = runtime_for(int(record.data["to"]))
        return runtime.migrate(workflow, bundle, engine, record.data.get("mapping"))
    ready = [
        t
        for t in workflow.get_tasks(state=TaskState.READY, manual=True)
        if t.task_spec.bpmn_id == record.bpmn_id
    ]
    if not ready:
        raise runtime.ReplayDivergence(
            f"record {record.seq} completes step {record.bpmn_id!r}, which is not waiting in the replay"
        )
    instance = int(record.data.get("instance", 0))
    if instance >= len(ready):
        raise runtime.ReplayDivergence(
            f"record {record.seq} completes instance {instance} of step {record.bpmn_id!r}, but only {len(ready)} wait"
        )
    runtime.complete(workflow, str(ready[instance].id), dict(record.data.get("form", {})))
    return workflow


def play(
    records: Iterable[Record],
    runtime_for: RuntimeFor,
    workflow: BpmnWorkflow | None = None,
    after: Callable[[Record, BpmnWorkflow | None], None] | None = None,
) -> BpmnWorkflow | None:
    """Play ``records`` in order on ``workflow`` (None: from before the report), each under its recorded time,
    journal and task-id seed; records of other actions (claims, sheets …) leave the instance as it is.
    ``after(record, workflow)`` is called after each record. Raises
    :class:`~engine.bpmn.runtime.ReplayDivergence` when the instance cannot follow the record."""
    replay_clock: clockmod.ManualClock | None = None
    for record in records:
        if record.action in WORKFLOW_ACTIONS:
            if replay_clock is None:
                replay_clock = clockmod.ManualClock(record.at)
            replay_clock.set(record.at)
            journal = runtime.Journal(record.data.get("calls", []))
            with (
                clockmod.using(replay_clock),
                runtime.journaling(journal),
                runtime.task_ids(record.data.get("ids")),
            ):
                workflow = apply(record, workflow, runtime_for)
            if journal.unplayed():
                raise runtime.ReplayDivergence(f"record {record.seq} holds calls the replay never made")
        if after is not None:
            after(record, workflow)
    return workflow
