"""Audit: the keyed chain, the replay and the counted facts catch every kind of tampering, on every backend
(tests/test_tamper.py holds the keys, the checkpoints and the mirroring rows to it)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from engine.audit import history, verification
from tests.conftest import GRID_HB1, Driver
from webui.cli import main


def _closed_with_rework(driver: Driver) -> int:
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    driver.complete("h_dh_hw", event_id, "handle", {"action": "done", "result": "已清运"})
    driver.complete("gw_hb1", event_id, "verify", {"passed": False, "note": "仍有残留"})
    driver.complete("h_dh_hw", event_id, "handle", {"action": "done", "result": "已彻底清运"})
    driver.complete("gw_hb1", event_id, "verify", {"passed": True})
    driver.complete("leader", event_id, "close", {"opinion": "同意"})
    driver.complete("intake", event_id, "follow_up", {"satisfaction": "satisfied"})
    return event_id


def _in_progress(driver: Driver) -> int:
    event_id = driver.report("intake", channel="hotline", grid=GRID_HB1)
    driver.complete("gw_hb1", event_id, "check_exists", {"exists": True})
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    return event_id


def _reasons(gl: Any, event_id: int) -> list[str]:
    result = verification.verify_all(gl)
    return [m["reason"] for m in result["mismatches"] if m["event"] == event_id]


def _sql(gl: Any, statement: str, **params: Any) -> None:
    with gl.db.engine.begin() as connection:
        connection.execute(text(statement), params)


def test_untouched_histories_verify_and_replay_reproduces_each_step(gl, driver):
    closed = _closed_with_rework(driver)
    _in_progress(driver)
    result = verification.verify_all(gl)
    assert result == {"instances": 2, "verified": 2, "mismatches": []}

    replayed = verification.replay_event(gl, closed)
    assert replayed.ok
    steps = [(s.action, s.step) for s in replayed.steps]
    assert steps[0] == ("report", None)
    assert [s for _, s in steps[1:]] == [
        "accept", "dispatch", "handle", "verify", "handle", "verify", "close", "follow_up",
    ]  # fmt: skip
    after_failed_verify = replayed.steps[4]
    assert after_failed_verify.open_steps == ["handle"] and after_failed_verify.data["rework_count"] == 1
    assert replayed.steps[-1].completed and replayed.steps[-1].data["outcome"] == "closed"


def test_edited_history_record_is_caught(gl, driver):
    event_id = _closed_with_rework(driver)
    _sql(
        gl,
        "UPDATE history SET data = :data WHERE event_id = :e AND bpmn_id = 'verify' AND seq = 5",
        data=json.dumps({"form": {"passed": True}, "changes": {}, "calls": [], "offered": []}),
        e=event_id,
    )
    reasons = _reasons(gl, event_id)
    assert any("record 5" in r and "altered" in r for r in reasons)
    assert any(
        "cannot be replayed" in r or "differs from the replay" in r or "rework_count" in r for r in reasons
    )


def test_deleted_history_record_is_caught(gl, driver):
    event_id = _closed_with_rework(driver)
    _sql(gl, "DELETE FROM history WHERE event_id = :e AND seq = 3", e=event_id)
    reasons = _reasons(gl, event_id)
    assert any("record 3 is missing" in r for r in reasons)


def test_inserted_history_record_is_caught(gl, driver):
    event_id = _in_progress(driver)
    _sql(
        gl,
        "INSERT INTO history (event_id, seq, at, actor, action, process_version_id, bpmn_id, task_id, data, prev_hash, hash, key_id)"
        " SELECT event_id, seq + 1, at, 'intruder', 'complete', process_version_id, 'dispatch', task_id,"
        " :data, hash, hash, key_id FROM history WHERE event_id = :e AND seq = (SELECT MAX(seq) FROM history WHERE event_id = :e)",
        data=json.dumps({"form": {"department": "DH-CG"}, "calls": []}),
        e=event_id,
    )
    reasons = _reasons(gl, event_id)
    assert any("altered" in r for r in reasons)
    assert any("counts 3 history records but 4 are stored" in r for r in reasons)


def test_edited_counter_is_caught(gl, driver):
    event_id = _closed_with_rework(driver)
    _sql(gl, "UPDATE events SET rework_count = 0 WHERE id = :e", e=event_id)
    assert _reasons(gl, event_id) == ["rework_count is 0 but the history says 1"]


def test_edited_workflow_state_is_caught(gl, driver):
    event_id = _closed_with_rework(driver)
    with gl.db.engine.connect() as connection:
        stored, state_seq = connection.execute(
            text("SELECT workflow_state, state_seq FROM events WHERE id = :e"), {"e": event_id}
        ).one()
    assert state_seq == 6  # the checkpoint written after six records; three more were written since
    assert '"department":"DH-HW"' in stored
    _sql(
        gl,
        "UPDATE events SET workflow_state = :s WHERE id = :e",
        s=stored.replace('"department":"DH-HW"', '"department":"DH-CG"'),
        e=event_id,
    )
    assert _reasons(gl, event_id) == ["the stored workflow state differs from the replay of the history"]


def test_a_checkpoint_named_as_of_a_missing_record_or_without_a_record_is_caught(gl, driver):
    checkpointed = _closed_with_rework(driver)
    _sql(gl, "UPDATE events SET state_seq = 12 WHERE id = :e", e=checkpointed)
    assert _reasons(gl, checkpointed) == [
        "the stored workflow state is named as of record 12, which the history lacks"
    ]
    young = _in_progress(driver)  # three records: no checkpoint yet
    _sql(gl, "UPDATE events SET workflow_state = '{}' WHERE id = :e", e=young)
    assert _reasons(gl, young) == ["a workflow state is stored but no record is named as its point"]


def test_cli_verify_names_the_damaged_event_and_exits_1(gl, driver, capsys):
    good = _in_progress(driver)
    bad = _closed_with_rework(driver)
    assert main(["--db", gl.db.url, "audit", "verify", "--json"]) == 0
    capsys.readouterr()
    _sql(gl, "UPDATE events SET reopen_count = 2 WHERE id = :e", e=bad)
    assert main(["--db", gl.db.url, "audit", "verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["instances"] == 2 and report["verified"] == 1
    assert report["mismatches"] == [
        {
            "event": bad,
            "code": driver.event(bad)["code"],
            "reason": "reopen_count is 2 but the history says 0",
        }
    ]
    assert main(["--db", gl.db.url, "audit", "replay", str(good), "--json"]) == 0
    replay = json.loads(capsys.readouterr().out)
    assert replay["ok"] and [s["step"] for s in replay["steps"]] == [None, "check_exists", "accept"]


def test_worker_processes_find_the_same_damage(gl, driver):
    events = [_closed_with_rework(driver) for _ in range(3)] + [_in_progress(driver)]
    _sql(gl, "UPDATE events SET reassign_count = 5 WHERE id = :e", e=events[1])
    result = verification.verify_all(gl, workers=2, parallel_from=1)
    assert result["instances"] == 4 and result["verified"] == 3
    assert result["mismatches"] == [
        {
            "event": events[1],
            "code": driver.event(events[1])["code"],
            "reason": "reassign_count is 5 but the history says 0",
        }
    ]


def test_a_record_mac_is_the_hmac_sha256_of_the_whole_records_canonical_encoding():
    at = datetime(2026, 11, 23, 1, 5, tzinfo=UTC)
    key = bytes(range(32))
    for bpmn_id, task_id, prev, actor in (
        (None, None, None, "系统"),
        ("accept", 7, "ab" * 32, 'o"brien\\x,"data":0,"event":'),
    ):
        data = {
            "form": {"备注": "说明\n", "n": 1.5, "at": at},
            "calls": [["now", at]],
            "z": None,
            "a": [True],
        }
        whole = history.canonical(
            {
                "event": 3,
                "seq": 2,
                "at": at.isoformat(),
                "actor": actor,
                "action": "complete",
                "version": 1,
                "bpmn_id": bpmn_id,
                "task": task_id,
                "data": data,
                "prev": prev,
            }
        )
        assert history.record_hash(3, 2, at, actor, "complete", 1, bpmn_id, task_id, data, prev, key=key) == (
            hmac.new(key, whole.encode(), hashlib.sha256).hexdigest()
        )
