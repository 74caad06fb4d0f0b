"""gridloop's state format (engine/state.py): SpiffWorkflow's own task format without the spec, built fast.

The dump builds the task dictionaries itself instead of going through SpiffWorkflow's converter registry; these
tests hold its output equal to what SpiffWorkflow's own serializer writes for the same instance — with a joint
meeting's subprocess running, and once the case is closed — and check that a loaded instance dumps the same.
"""

from __future__ import annotations

import json
from typing import Any

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer import DEFAULT_CONFIG
from test_joint_meeting import all_report_back, close_and_follow_up, convene, to_joint_meeting

from engine.bpmn.state import dump_state, load_state
from engine.errors import FieldError, ValidationFailed
from engine.store import statements

WORKFLOW_KEYS = ("data", "correlations", "last_task", "success", "completed", "root", "tasks", "bpmn_events")


def stored_instance(gl: Any, event_id: int) -> Any:
    """The instance as stored — its checkpoint and the records since — loaded afresh (not the live cache's)."""
    with gl.db.reading() as session:
        event = statements.event(session.connection(), event_id)
        return gl.parts.instances.rebuild(
            session, event, gl.parts.versions.get(session, event.process_version_id)
        )


def spiffworkflow_dict(workflow: Any) -> dict[str, Any]:
    """What SpiffWorkflow's stock serializer writes for ``workflow`` (spec included), as plain JSON."""
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(DEFAULT_CONFIG))
    registry = serializer.registry
    registry._encoder_mode = True
    try:
        body = registry.convert(workflow)
    finally:
        registry._encoder_mode = False
    return json.loads(json.dumps(body, cls=serializer._encoder_cls))


def assert_same_as_spiffworkflow(workflow: Any) -> dict[str, Any]:
    ours = json.loads(dump_state(workflow))
    assert ours["format"] == 1
    body, stock = ours["workflow"], spiffworkflow_dict(workflow)
    assert "spec" not in body and "subprocess_specs" not in body
    for key in WORKFLOW_KEYS:
        assert body[key] == stock[key], key
    assert body["subprocesses"] == stock["subprocesses"]
    assert body["typename"] == stock["typename"]
    return body


def test_the_dump_is_spiffworkflows_task_format_with_a_subprocess_running(driver: Any) -> None:
    event_id = to_joint_meeting(driver)
    convene(driver, event_id)
    workflow = stored_instance(driver.gl, event_id)
    body = assert_same_as_spiffworkflow(workflow)
    assert "joint_meeting" in {sp["spec"] for sp in body["subprocesses"].values()}
    # data is stored as a delta against the parent task's, and the report's data sits on the root
    root = body["tasks"][body["root"]]
    assert root["parent"] is None and root["delta"] == {}
    assert any(t["delta"].get("updates") for t in body["tasks"].values())


def test_a_loaded_checkpoint_dumps_what_was_stored(driver: Any) -> None:
    event_id = to_joint_meeting(driver)
    convene(driver, event_id)
    all_report_back(driver, event_id)
    with driver.gl.db.reading() as session:
        stored = statements.load_state_text(session.connection(), event_id)
        event = statements.event(session.connection(), event_id)
    assert event.state_seq > 0
    bundle = driver.gl.bundle(event.process_version_id)
    # the same content (a restored task's data keys may come in another order than the live object's)
    assert json.loads(dump_state(load_state(stored, bundle.spec, bundle.subprocess_specs))) == json.loads(
        stored
    )


def test_the_dump_matches_after_the_case_is_closed(driver: Any) -> None:
    event_id = to_joint_meeting(driver)
    convene(driver, event_id)
    all_report_back(driver, event_id)
    close_and_follow_up(driver, event_id)
    assert driver.event(event_id)["state"] == "closed"
    workflow = stored_instance(driver.gl, event_id)
    assert workflow.is_completed()
    assert_same_as_spiffworkflow(workflow)


def test_numbers_json_cannot_carry_are_refused_at_the_form(driver: Any) -> None:
    event_id = driver.report("gw_hb1")
    task = driver.open_task(event_id, "accept")
    for odd in (float("nan"), float("inf"), 2**64):
        try:
            driver.gl.complete("intake", task["id"], {"decision": "accept", "note_count": odd})
        except ValidationFailed as exc:
            assert exc.errors == {"note_count": [FieldError("bad_number")]}
        else:
            raise AssertionError(f"{odd!r} was accepted")
    assert driver.open_task(event_id, "accept")["id"] == task["id"]


def test_a_state_with_an_integer_beyond_64_bits_reads_back_exactly(driver: Any) -> None:
    event_id = driver.report("gw_hb1")
    workflow = stored_instance(driver.gl, event_id)
    workflow.data["big"] = 2**70  # as a script could compute it
    text = dump_state(workflow)
    bundle = driver.gl.bundle()
    assert load_state(text, bundle.spec, bundle.subprocess_specs).data["big"] == 2**70
    del workflow.data["big"]
    assert "exact_numbers" not in dump_state(workflow)
