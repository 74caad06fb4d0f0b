"""The stored state is a checkpoint; the history records since rebuild the instance exactly.

A command stores the instance's state only every ``CHECKPOINT_EVERY`` history records. An instance that is not
in the engine's memory (another process, a restart, an evicted cache entry) is rebuilt from its checkpoint and
the records written since; these tests hold the rebuilt instance equal to the live one after every command —
task ids included, which the inbox and the timers refer to — and run whole simulations with no memory at all.
"""

from __future__ import annotations

import json
from typing import Any

from conftest import REPO, START
from sqlalchemy import text
from test_joint_meeting import all_report_back, close_and_follow_up, convene, to_joint_meeting

from engine.app import Gridloop
from engine.audit import verification
from engine.bpmn import instances
from engine.bpmn.state import LiveCache, dump_state
from engine.commands import pipeline
from engine.demo.district import create_demo_district
from engine.demo.simulate import simulate
from engine.errors import ProcessFailure
from engine.store import statements
from engine.time.clock import ManualClock


def _without_times(state_text: str) -> dict[str, Any]:
    """A dump with the tasks' last-state-change times left out (wall-clock moments of the run, not state), and
    deleted data names as a set (a replay's data comes from the record's canonical JSON, keys sorted)."""

    def strip(workflow: dict[str, Any]) -> dict[str, Any]:
        for task in workflow["tasks"].values():
            del task["last_state_change"]
            if task["delta"]:
                task["delta"]["deletions"] = sorted(task["delta"]["deletions"])
        for sub in workflow.get("subprocesses", {}).values():
            strip(sub)
        return workflow

    return strip(json.loads(state_text)["workflow"])


def _event(gl: Any, event_id: int) -> Any:
    with gl.db.reading() as session:
        return statements.event(session.connection(), event_id)


def test_the_state_is_stored_every_few_records_and_the_rest_is_history(driver: Any) -> None:
    gl = driver.gl
    event_id = driver.report("gw_hb1")
    assert (_event(gl, event_id).state_seq, _event(gl, event_id).history_length) == (0, 1)
    steps = [
        ("intake", "accept", {"decision": "accept"}),
        ("dispatcher", "dispatch", {"department": "DH-HW"}),
        ("h_dh_hw", "handle", {"action": "done", "result": "已清运"}),
        ("gw_hb1", "verify", {"passed": False, "note": "仍有残留"}),
        ("h_dh_hw", "handle", {"action": "done", "result": "已彻底清运"}),
        ("gw_hb1", "verify", {"passed": True}),
    ]
    seen = []
    for username, step, data in steps:
        driver.complete(username, event_id, step, data)
        event = _event(gl, event_id)
        seen.append((event.history_length, event.state_seq))
    every = instances.CHECKPOINT_EVERY
    assert seen == [(n, every if n >= every else 0) for n in range(2, 8)]
    with gl.db.reading() as session:
        assert statements.load_state_text(session.connection(), event_id).startswith('{"format":1,')


def test_a_rebuilt_instance_equals_the_live_one_after_every_command(driver: Any, monkeypatch) -> None:
    """Inside each command's transaction, right after it is saved, the instance is rebuilt from the database
    (checkpoint + records since) and compared with the live object: same tasks, same ids, same data."""
    gl = driver.gl
    save = pipeline.Step._save
    counts = {"compared": 0, "replayed": 0}

    def compared(step: pipeline.Step) -> None:
        save(step)
        session = step.session
        for event, workflow in step.instances_held():
            rebuilt = gl.parts.instances.rebuild(
                session, event, gl.parts.versions.get(session, event.process_version_id)
            )
            assert rebuilt is not workflow
            assert _without_times(dump_state(rebuilt)) == _without_times(dump_state(workflow))
            counts["compared"] += 1
            counts["replayed"] += event.state_seq < event.history_length

    monkeypatch.setattr(pipeline.Step, "_save", compared)
    result = simulate(gl, 30, seed=11)
    assert result["reworked"] and result["reassigned"] and result["reopened"]
    event_id = to_joint_meeting(driver)
    convene(driver, event_id)  # a subprocess, its parallel tasks and their timers
    all_report_back(driver, event_id)
    close_and_follow_up(driver, event_id)
    assert counts["compared"] > 200 and counts["replayed"] > 150


def test_an_engine_without_memory_runs_the_same_simulation_and_passes_the_audit(tmp_path: Any) -> None:
    """Two engines on two fresh databases run the same simulation; one keeps no instance in memory, so every
    command rebuilds its instance from the checkpoint and the records. Same outcome, and the audit finds every
    stored checkpoint on the path the history replays."""
    outcomes = []
    for capacity in (2000, 0):
        gl = Gridloop(f"sqlite:///{tmp_path}/memory{capacity}.sqlite3", clock=ManualClock(START))
        gl.init_schema()
        with gl.db.unit_of_work() as session:
            create_demo_district(session, password=None)
        gl.deploy(REPO, activate=True)
        gl.cache = LiveCache(capacity)
        result = simulate(gl, 25, seed=4)
        verdict = verification.verify_all(gl, workers=1)
        assert verdict["mismatches"] == [] and verdict["verified"] == 25
        with gl.db.reading() as session:
            checkpoints = session.scalar(text("SELECT count(*) FROM events WHERE state_seq > 0"))
        assert checkpoints > 5
        outcomes.append(
            {key: result[key] for key in ("events", "steps", "by_outcome", "reworked", "reopened")}
        )
        gl.db.dispose()
    assert outcomes[0] == outcomes[1]


def test_a_history_the_instance_cannot_follow_fails_the_command_and_changes_nothing(driver: Any) -> None:
    gl = driver.gl
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    task = driver.open_task(event_id, "dispatch")
    with gl.db.unit_of_work() as session:  # the accept record now names a step the report never reached
        session.connection().exec_driver_sql(
            f"UPDATE history SET bpmn_id = 'verify' WHERE event_id = {event_id} AND seq = 2"
        )
    gl.cache.clear()
    before = _event(gl, event_id)
    try:
        gl.complete("dispatcher", task["id"], {"department": "DH-HW"})
    except ProcessFailure as exc:
        assert "cannot be rebuilt from its history" in str(exc) and "record 2 completes step 'verify'" in str(
            exc
        )
    else:
        raise AssertionError("the command ran on an instance its history does not lead to")
    after = _event(gl, event_id)
    assert (after.version, after.history_length) == (before.version, before.history_length)
    assert driver.open_task(event_id, "dispatch")["id"] == task["id"]
