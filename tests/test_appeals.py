"""Appeals (申诉) against a supervision sheet's deduction: the department applies through the appeal process, the
district's evaluator decides, and the score honours the decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.audit import verification
from engine.errors import Conflict, Forbidden, ValidationFailed
from tests.conftest import Driver
from tests.test_supervision import reassigned_to_hw

# the week the cases run in (Shanghai), as the evaluation's period
WEEK = (datetime(2026, 11, 22, 16, 0, tzinfo=UTC), datetime(2026, 11, 29, 16, 0, tzinfo=UTC))
TOWN = "330199001"  # 和平街道: the town DH-HW's handlers work in


def _at_handle(driver: Driver) -> int:
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    return event_id


def _department(gl, code: str = "DH-HW") -> dict:
    return next(r for r in gl.evaluate("evaluator", *WEEK, by="department") if r["group"] == code)


def _appeal(gl, sheet_id: int, user: str = "h_dh_hw") -> dict:
    return gl.start(user, "sheet_appeal", {"sheet": sheet_id, "reason": "超时系物业未开门，非本部门原因"})


def _field_code(exc: pytest.ExceptionInfo[ValidationFailed]) -> str:
    return exc.value.errors["sheet"][0].code


def test_an_upheld_appeal_lifts_the_deduction_and_a_dismissed_one_keeps_it(gl, driver):
    first, second = _at_handle(driver), _at_handle(driver)
    one = gl.issue_sheet("supervisor", first, "DH-HW", "领导批示：请今日处置完毕")
    two = gl.issue_sheet("supervisor", second, "DH-HW", "领导批示：请今日处置完毕")
    before = _department(gl)
    assert (before["sheets"], before["deductions"], before["upheld_appeals"]) == (2, 1.0, 0)

    upheld, dismissed = _appeal(gl, one["id"]), _appeal(gl, two["id"])
    assert _department(gl)["deductions"] == 1.0, "an appeal waiting for its decision changes nothing"
    decide = driver.open_task(upheld["id"], "decide_appeal")
    assert (decide["role"], decide["scope"]) == ("evaluator", "330199")
    facts = gl.event_detail("evaluator", upheld["id"])
    assert facts["state"] == "open"
    with pytest.raises(Forbidden):  # the department does not decide its own appeal
        gl.complete("h_dh_hw", decide["id"], {"appeal_granted": True, "decision_reason": "同意"})
    driver.complete(
        "evaluator", upheld["id"], "decide_appeal", {"appeal_granted": True, "decision_reason": "属实"}
    )
    driver.complete(
        "evaluator",
        dismissed["id"],
        "decide_appeal",
        {"appeal_granted": False, "decision_reason": "理由不足"},
    )
    assert driver.event(upheld["id"])["state"] == "appeal_upheld"
    assert driver.event(dismissed["id"])["state"] == "appeal_dismissed"

    after = _department(gl)
    # both sheets were issued (督办数 2); only the dismissed one's 0.5 points stay off the score
    assert (after["sheets"], after["leader_sheets"], after["deductions"], after["upheld_appeals"]) == (
        2,
        2,
        0.5,
        1,
    )
    assert after["score"] == round(before["score"] + 0.5, 2)
    actions = [h["action"] for h in driver.event(first)["history"] if h["action"].startswith("sheet_")]
    assert actions == ["sheet_issued", "sheet_appealed"]
    [sheet] = [s for s in gl.sheets("supervisor", "open") if s["id"] == one["id"]]
    assert sheet["appeal_event_id"] == upheld["id"]
    assert verification.verify_all(gl)["mismatches"] == []


def test_the_applicant_hears_the_decision(gl, driver):
    sheet = gl.issue_sheet("supervisor", _at_handle(driver), "DH-HW", "领导批示：请今日处置完毕")
    appeal = _appeal(gl, sheet["id"])
    driver.complete(
        "evaluator", appeal["id"], "decide_appeal", {"appeal_granted": False, "decision_reason": "理由不足"}
    )
    kinds = [n["kind"] for n in gl.notices("h_dh_hw").rows if n["event_id"] == appeal["id"]]
    assert kinds == ["request_refused"]
    offered = [n["kind"] for n in gl.notices("evaluator").rows if n["event_id"] == appeal["id"]]
    assert offered == ["task_offered"]


def test_an_appeal_is_refused_on_its_field_and_changes_nothing(gl, driver):
    event_id = _at_handle(driver)
    sheet = gl.issue_sheet("supervisor", event_id, "DH-HW", "领导批示：请今日处置完毕")
    events_before = gl.list_events("admin")[1]
    with pytest.raises(ValidationFailed) as unknown:
        _appeal(gl, 99999)
    assert _field_code(unknown) == "appeal.sheet_unknown"
    with pytest.raises(ValidationFailed) as outside:  # another town's department cannot see the case
        _appeal(gl, sheet["id"], user="h_xs_hw")
    assert _field_code(outside) == "appeal.sheet_unknown"
    with pytest.raises(ValidationFailed) as other:  # a department of the same town that never worked on it
        _appeal(gl, sheet["id"], user="h_dh_cg")
    assert _field_code(other) == "appeal.sheet_unknown"
    with pytest.raises(Forbidden):  # only a department's handlers appeal
        _appeal(gl, sheet["id"], user="gw_hb1")

    gl.change_setting("admin", "sheet_deductions", {"notice": 0, "yellow": 1, "red": 2})
    with pytest.raises(ValidationFailed) as free:
        _appeal(gl, sheet["id"])
    assert _field_code(free) == "appeal.no_deduction"
    gl.change_setting("admin", "sheet_deductions", {"notice": 0.5, "yellow": 1, "red": 2})

    gl.clock.set(gl.now() + timedelta(days=20))  # ten working days after the issue have passed
    with pytest.raises(ValidationFailed) as late:
        _appeal(gl, sheet["id"])
    assert _field_code(late) == "appeal.too_late"
    assert gl.list_events("admin")[1] == events_before, "no appeal instance was started"
    assert [h["action"] for h in driver.event(event_id)["history"] if h["action"] == "sheet_appealed"] == []


def test_a_sheet_is_appealed_once(gl, driver):
    sheet = gl.issue_sheet("supervisor", _at_handle(driver), "DH-HW", "领导批示：请今日处置完毕")
    _appeal(gl, sheet["id"])
    before = gl.list_events("admin")[1]
    with pytest.raises(Conflict):
        _appeal(gl, sheet["id"])
    assert gl.list_events("admin")[1] == before


def test_a_department_that_sees_the_case_appeals_only_its_own_sheets(gl, driver):
    """城管 sent the case back and sees it still; the sheet is 环卫's, so only 环卫 appeals against it."""
    event_id = reassigned_to_hw(driver)
    sheet = gl.issue_sheet("supervisor", event_id, "DH-HW", "领导批示：请今日处置完毕")
    with pytest.raises(ValidationFailed) as other:
        _appeal(gl, sheet["id"], user="h_dh_cg")
    assert _field_code(other) == "appeal.not_your_department"
    assert _appeal(gl, sheet["id"])["state"] == "open"
