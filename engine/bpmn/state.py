"""Workflow state in gridloop's own versioned format.

SpiffWorkflow's serializer embeds the whole process spec in every instance (about half the bytes) and its
own upgrade path for old payloads is unreliable, so gridloop stores only the instance part — task tree,
data, subprocesses, pending events — under a format number of its own, and restores the spec from the
process version the instance is pinned to (built once per version and cached).

:class:`LiveCache` keeps recently used workflow objects in memory, keyed by event id and the row version
they correspond to, so a command on an event whose row has not changed since this process last wrote it
skips deserialization; a command takes its object out of the cache while it works and puts it back only
after a successful commit, so a failed or concurrent command never sees a half-changed object.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any
from uuid import UUID

import orjson
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnSubWorkflowConverter, BpmnWorkflowConverter
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.spiff.serializer import DEFAULT_CONFIG

STATE_FORMAT = 1
# marks a state written by the standard encoder because orjson refused it (an integer beyond 64 bits)
_EXACT = "exact_numbers"


def _tasks_to_dict(registry: Any, tasks: dict[UUID, Any]) -> dict[str, dict[str, Any]]:
    """A workflow's tasks as SpiffWorkflow's task converter writes them (data as a delta against the parent's),
    built directly: each id is turned into text once, and empty internal data skips the converter registry.
    ``tests/test_state.py`` holds it equal to SpiffWorkflow's own output."""
    text = {uid: str(uid) for uid in tasks}
    typenames = registry.typenames
    result = {}
    delta: dict[str, Any]
    for uid, task in tasks.items():
        parent = tasks.get(task._parent)
        if parent is None:
            data, delta, parent_id = task.data, {}, None
        else:
            before, after = parent.data, task.data
            data = {}
            if after == before:  # most tasks pass their parent's data on unchanged
                delta = {"updates": {}, "deletions": []}
            else:
                delta = {
                    "updates": {k: v for k, v in after.items() if k not in before or v != before[k]},
                    "deletions": [k for k in before if k not in after],
                }
            parent_id = text[task._parent]
        internal = task.internal_data
        result[text[uid]] = {
            "id": text[uid],
            "parent": parent_id,
            "children": [text.get(child) or str(child) for child in task._children],
            "last_state_change": task.last_state_change,
            "state": task.state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            "internal_data": registry.convert(internal) if internal else {},
            "data": data,
            "delta": delta,
            "typename": typenames[task.__class__],
        }
    return result


def _workflow_to_dict(registry: Any, workflow: Any) -> dict[str, Any]:
    """What SpiffWorkflow's ``WorkflowConverter.to_dict`` writes, with the tasks built by :func:`_tasks_to_dict`."""
    return {
        "data": registry.convert(registry.clean(workflow.data)),
        "correlations": workflow.correlations,
        "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "tasks": _tasks_to_dict(registry, workflow.tasks),
        "root": str(workflow.task_tree.id),
    }


class _PinnedWorkflowConverter(BpmnWorkflowConverter):
    """Converts a top-level workflow without its specs; the specs come from the pinned process version."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = _workflow_to_dict(self.registry, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> BpmnWorkflow:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class _SubWorkflowConverter(BpmnSubWorkflowConverter):
    """A subprocess (a joint meeting's call activity), its tasks built by :func:`_tasks_to_dict`."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct = _workflow_to_dict(self.registry, workflow)
        dct["parent_task_id"] = str(workflow.parent_task_id)
        dct["spec"] = workflow.spec.name
        return dct


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(DEFAULT_CONFIG)
    config[BpmnWorkflow] = _PinnedWorkflowConverter
    config[BpmnSubWorkflow] = _SubWorkflowConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


_SERIALIZER = _make_serializer()


def registry() -> Any:
    """The serializer's converter registry (SpiffWorkflow's spec diff compares specs through it)."""
    return _SERIALIZER.registry


def dump_state(workflow: BpmnWorkflow) -> str:
    """Serialize an instance (without its spec) to gridloop's JSON state format.

    The converted instance is plain JSON data, encoded with orjson (UTF-8, no spaces); what orjson refuses
    (an integer beyond 64 bits in the process data) goes through SpiffWorkflow's own encoder instead.
    """
    registry = _SERIALIZER.registry
    registry._encoder_mode = True
    try:
        body = registry.convert(workflow)
    finally:
        registry._encoder_mode = False
    payload = {"format": STATE_FORMAT, "workflow": body}
    try:
        return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        payload[_EXACT] = True
        return json.dumps(payload, cls=_SERIALIZER._encoder_cls, separators=(",", ":"), ensure_ascii=False)


def load_state(text: str, spec: Any, subprocess_specs: dict[str, Any]) -> BpmnWorkflow:
    """Restore an instance from its stored state and the specs of its pinned process version."""
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN or Infinity, as the standard encoder writes them
        payload = json.loads(text)
    if payload.get(_EXACT):  # orjson reads an integer beyond 64 bits as a float: read such a state exactly
        payload = json.loads(text)
    fmt = payload.get("format")
    if fmt != STATE_FORMAT:
        raise ValueError(
            f"workflow state format {fmt!r} is not supported (this engine reads format {STATE_FORMAT})"
        )
    return _SERIALIZER.registry.restore(payload["workflow"], spec=spec, subprocess_specs=subprocess_specs)


class LiveCache:
    """A bounded, thread-safe map event id → (row version, workflow object)."""

    def __init__(self, capacity: int = 2000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[int, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, event_id: int, version: int) -> BpmnWorkflow | None:
        """Remove and return the cached object when it matches ``version``; otherwise drop it and return None."""
        with self._lock:
            item = self._items.pop(event_id, None)
        if item is None or item[0] != version:
            return None
        return item[1]

    def put(self, event_id: int, version: int, workflow: BpmnWorkflow) -> None:
        """Remember ``workflow`` as the state of ``event_id`` at row version ``version`` (an instance that has
        completed takes no more commands, so it is forgotten instead)."""
        if workflow.completed:
            with self._lock:
                self._items.pop(event_id, None)
            return
        with self._lock:
            self._items[event_id] = (version, workflow)
            self._items.move_to_end(event_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
