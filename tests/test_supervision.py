"""Supervision sheets: issued when a department's task goes red, escalated by the settings, cleared at closure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.audit import verification
from engine.errors import Forbidden, NotFound, ValidationFailed
from tests.conftest import Driver

# 0101 暴露垃圾: 4 working hours from Monday 09:00 Shanghai → 15:00 Shanghai = 07:00 UTC
CASE_DUE = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def _at_handle(driver: Driver) -> int:
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    assert driver.open_task(event_id, "handle")["due_at"] == CASE_DUE
    return event_id


def reassigned_to_hw(driver: Driver) -> int:
    """A case dispatched to 城管 (DH-CG), sent back as not its duty and reassigned to 环卫所 (DH-HW)."""
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-CG"})
    driver.complete(
        "h_dh_cg", event_id, "handle", {"action": "send_back", "send_back_reason": "非本部门职责"}
    )
    driver.complete("dispatcher", event_id, "reassign", {"department": "DH-HW", "reason": "改派环卫所"})
    return event_id


def _sheet_counts(gl) -> tuple[int, int]:
    counts = gl.supervise()
    return counts["issued"], counts["escalated"]


def _sheets(gl, username="supervisor", status="open"):
    return gl.sheets(username, status)


def _history_actions(driver, event_id):
    return [h["action"] for h in driver.event(event_id)["history"] if h["action"].startswith("sheet_")]


def test_a_department_task_gone_red_gets_one_sheet_that_escalates_and_is_cleared_at_closure(gl, driver):
    event_id = _at_handle(driver)
    gl.clock.set(CASE_DUE)
    assert _sheet_counts(gl) == (0, 0), "a sheet only once past the due time"
    gl.clock.set(CASE_DUE + timedelta(seconds=1))
    assert _sheet_counts(gl) == (1, 0)
    assert _sheet_counts(gl) == (0, 0), "one sheet per red task"
    [sheet] = _sheets(gl)
    assert (sheet["event_id"], sheet["department"], sheet["kind"], sheet["card"]) == (
        event_id,
        "DH-HW",
        "auto",
        "notice",
    )

    # yellow card one working day after issue (Tuesday 15:00:01), red card after three (Thursday 15:00:01)
    yellow_at = datetime(2026, 11, 24, 7, 0, 1, tzinfo=UTC)
    assert gl.next_timer_due() == yellow_at
    gl.clock.set(yellow_at + timedelta(seconds=1))
    assert _sheet_counts(gl) == (0, 1)
    assert _sheets(gl)[0]["card"] == "yellow"
    gl.clock.set(datetime(2026, 11, 26, 7, 0, 2, tzinfo=UTC))
    assert _sheet_counts(gl) == (0, 1)
    assert _sheets(gl)[0]["card"] == "red"
    assert _sheet_counts(gl) == (0, 0)

    driver.complete("h_dh_hw", event_id, "handle", {"action": "done", "result": "已清运"})
    assert _sheets(gl)[0]["status"] == "open", "a sheet is cleared only after closure and verification"
    driver.complete("gw_hb1", event_id, "verify", {"passed": True})
    assert len(_sheets(gl)) == 1
    driver.complete("leader", event_id, "close", {"opinion": "同意"})
    assert _sheets(gl) == []
    [cleared] = _sheets(gl, status="cleared")
    assert cleared["card"] == "red" and cleared["cleared_at"] is not None
    assert _history_actions(driver, event_id) == [
        "sheet_issued",
        "sheet_escalated",
        "sheet_escalated",
        "sheet_cleared",
    ]
    assert verification.verify_all(gl)["mismatches"] == []


def test_only_the_late_department_is_charged_after_a_reassignment(gl, driver):
    reassigned_to_hw(driver)
    gl.clock.set(CASE_DUE + timedelta(minutes=5))
    assert gl.supervise()["issued"] == 1
    assert [s["department"] for s in _sheets(gl)] == ["DH-HW"]


def test_a_leader_sheet_needs_the_departments_reply_before_it_is_cleared(gl, driver):
    event_id = _at_handle(driver)
    with pytest.raises(Forbidden):
        gl.issue_sheet("gw_hb1", event_id, "DH-HW", "请加快处置")
    with pytest.raises(ValidationFailed):
        gl.issue_sheet("supervisor", event_id, "DH-HW", "  ")
    sheet = gl.issue_sheet("supervisor", event_id, "DH-HW", "领导批示：请今日处置完毕")
    assert (sheet["kind"], sheet["status"]) == ("leader", "open")

    driver.complete("h_dh_hw", event_id, "handle", {"action": "done", "result": "已清运"})
    driver.complete("gw_hb1", event_id, "verify", {"passed": True})
    driver.complete("leader", event_id, "close", {"opinion": "同意"})
    assert [s["id"] for s in _sheets(gl)] == [sheet["id"]], "unreplied: still open after closure"

    with pytest.raises(NotFound):  # another department never worked on it: out of scope looks absent
        gl.reply_to_sheet("h_dh_cg", sheet["id"], "不是我们的")
    gl.reply_to_sheet("h_dh_hw", sheet["id"], "已按要求处置完毕")
    assert _sheets(gl) == []
    assert _history_actions(driver, event_id) == ["sheet_issued", "sheet_replied", "sheet_cleared"]


def test_the_board_shows_only_sheets_in_scope(gl, driver):
    _at_handle(driver)
    gl.clock.set(CASE_DUE + timedelta(seconds=1))
    gl.supervise()
    assert len(_sheets(gl, "supervisor")) == 1
    assert len(_sheets(gl, "h_dh_hw")) == 1
    assert _sheets(gl, "gw_la1") == []
    assert _sheets(gl, "h_xs_hw") == []


def test_two_engines_scanning_at_once_issue_each_sheet_once(gl, driver, make_gridloop):
    for _ in range(3):
        _at_handle(driver)
    other = make_gridloop()
    gl.clock.set(CASE_DUE + timedelta(seconds=1))
    first, second = gl.supervise(), other.supervise()
    assert first["issued"] + second["issued"] == 3
    assert len(_sheets(gl)) == 3


def test_colour_changes_are_recorded_when_they_happen(gl, driver):
    event_id = _at_handle(driver)
    # yellow at 80 % of 4 working hours from 09:00: 3.2 h → 14:12 Shanghai = 06:12 UTC
    yellow = datetime(2026, 11, 23, 6, 12, tzinfo=UTC)
    assert gl.next_timer_due() == yellow
    gl.clock.set(yellow - timedelta(seconds=1))
    assert gl.supervise()["lights"] == 0
    gl.clock.set(yellow + timedelta(seconds=1))
    assert gl.supervise()["lights"] == 2, "the handle task and the case both turn yellow"
    assert gl.supervise()["lights"] == 0
    assert gl.next_timer_due() == CASE_DUE
    gl.clock.set(CASE_DUE + timedelta(seconds=1))
    counts = gl.supervise()
    assert (counts["lights"], counts["issued"]) == (2, 1)
    lights = [h for h in driver.event(event_id)["history"] if h["action"] == "light"]
    assert [(h["data"]["from"], h["data"]["to"], h["data"]["task"] is None) for h in lights] == [
        ("green", "yellow", False),
        ("green", "yellow", True),
        ("yellow", "red", False),
        ("yellow", "red", True),
    ]
    assert verification.verify_all(gl)["mismatches"] == []


def test_in_a_joint_meeting_only_the_late_support_department_gets_a_sheet(gl, driver):
    from test_joint_meeting import (
        SUPPORT_ST_DUE,
        close_and_follow_up,
        convene,
        report_back,
        to_joint_meeting,
    )

    event_id = to_joint_meeting(driver)
    convene(driver, event_id)
    report_back(driver, event_id, "QH-ZJ", datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    report_back(driver, event_id, "DH-CG", datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    gl.clock.set(SUPPORT_ST_DUE + timedelta(minutes=30))
    assert gl.supervise()["issued"] == 1
    [sheet] = _sheets(gl)
    assert (sheet["department"], sheet["task_id"] is not None) == ("QH-ST", True)

    report_back(driver, event_id, "QH-ST", SUPPORT_ST_DUE + timedelta(hours=1))
    assert gl.supervise()["issued"] == 0, "the case itself is inside the meeting's latest deadline"
    close_and_follow_up(driver, event_id)
    assert _sheets(gl) == [] and [s["department"] for s in _sheets(gl, status="cleared")] == ["QH-ST"]
    assert verification.verify_all(gl)["mismatches"] == []


def test_an_instruction_unanswered_past_its_reply_deadline_escalates_until_it_is_answered(gl, driver):
    """领导批示 issued Monday 09:00 (Shanghai) is answered within one working day: by Tuesday 09:00. Unanswered,
    it takes the yellow card then, and the red card one working day later; an answer stops it."""
    answered_case, silent_case = _at_handle(driver), _at_handle(driver)
    answered = gl.issue_sheet("supervisor", answered_case, "DH-HW", "领导批示：请今日处置完毕")
    silent = gl.issue_sheet("supervisor", silent_case, "DH-HW", "领导批示：请今日处置完毕")
    reply_due = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    assert answered["reply_due_at"] == reply_due

    def cards() -> dict[int, str]:
        return {s["id"]: s["card"] for s in _sheets(gl) if s["kind"] == "leader"}

    gl.clock.set(reply_due)
    assert _sheet_counts(gl)[1] == 0, (
        "not before the deadline has passed"
    )  # (the late tasks' own sheets aside)
    gl.clock.set(reply_due + timedelta(seconds=1))
    assert _sheet_counts(gl)[1] == 2
    assert cards() == {answered["id"]: "yellow", silent["id"]: "yellow"}
    kinds = [n["kind"] for n in gl.notices("h_dh_hw").rows if n["event_id"] == silent_case]
    assert "sheet_escalated" in kinds, "the department hears that its instruction went unanswered"

    gl.reply_to_sheet("h_dh_hw", answered["id"], "已按批示处置")
    gl.clock.set(datetime(2026, 11, 25, 1, 0, 1, tzinfo=UTC))
    gl.supervise()
    assert cards() == {answered["id"]: "yellow", silent["id"]: "red"}, "an answer stops the escalation"
    records = [h for h in driver.event(silent_case)["history"] if h["data"].get("sheet") == silent["id"]]
    assert [h["action"] for h in records] == ["sheet_issued", "sheet_escalated", "sheet_escalated"]
    assert verification.verify_all(gl)["mismatches"] == []


def test_a_case_under_a_leaders_instruction_leads_the_inbox_until_the_instruction_is_cleared(gl, driver):
    first = _at_handle(driver)
    gl.clock.advance(timedelta(minutes=10))
    second = driver.report("gw_hb1")  # due ten minutes later: behind the first, by the limit
    driver.complete("intake", second, "accept", {"decision": "accept"})
    driver.complete("dispatcher", second, "dispatch", {"department": "DH-HW"})
    rows, _total = gl.inbox("h_dh_hw", "claimable")
    assert [(r["event_id"], r["priority"]) for r in rows] == [(first, False), (second, False)]
    sheet = gl.issue_sheet("supervisor", second, "DH-HW", "领导批示：请今日处置完毕")
    rows, _total = gl.inbox("h_dh_hw", "claimable")
    assert [(r["event_id"], r["priority"]) for r in rows] == [(second, True), (first, False)]
    driver.complete("h_dh_hw", second, "handle", {"action": "done", "result": "已清运"})
    driver.complete("gw_hb1", second, "verify", {"passed": True})
    driver.complete("leader", second, "close", {"opinion": "同意"})
    follow_up = driver.open_task(second, "follow_up")
    assert [r["priority"] for r in gl.inbox("intake", "claimable")[0] if r["id"] == follow_up["id"]] == [True]
    gl.reply_to_sheet("h_dh_hw", sheet["id"], "已按批示处置")  # answered after closing: cleared (销号)
    assert [r["priority"] for r in gl.inbox("intake", "claimable")[0] if r["id"] == follow_up["id"]] == [
        False
    ]
