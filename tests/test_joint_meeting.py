"""The joint meeting (联席会议, processes/joint_meeting.bpmn, called from the district's dispatch): the meeting is
recorded by the district shift leader; a lead and support departments work in parallel (a multi-instance task,
one per department, each with its own deadline); the case closes only when all have reported back and the
verification passes; each department's lateness shows on its own task row only. The meeting can instead rule
the case a legacy issue (历史遗留) with a review date, which raises a review task when that date has passed and
the timer fires.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from test_loop_paths import ACCEPT, CLOSE, SATISFIED, VERIFY_PASSED, assert_closed, step
from test_requests import audited, data_of, timers_of

from engine.errors import ValidationFailed

MEETING_AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 Shanghai
# 5, 3 and 2 working days from the meeting
LEAD_DUE = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
SUPPORT_CG_DUE = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
SUPPORT_ST_DUE = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
# 0301 施工扰民: two working days from Monday 09:00
CASE_DUE_0301 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
MEETING = {
    "meeting_time": "2026-11-23T10:00:00+08:00",
    "meeting_participants": [
        "区住房和城乡建设局",
        "东湖街道城管执法中队",
        "区生态环境分局",
        "东湖街道办事处",
    ],
    "meeting_summary": "工地夜间施工扰民：住建牵头整改，城管、生态环境配合执法监测",
    "meeting_decision": "resolve",
    "joint_lead": {"department": "QH-ZJ", "limit": 5},
    "joint_supports": {
        "support_1": {"department": "DH-CG", "limit": 3},
        "support_2": {"department": "QH-ST", "limit": 2},
        "support_3": {"department": "QH-ZJ", "limit": 1},  # the lead again: ignored
    },
}
HANDLERS = {"QH-ZJ": "h_qh_zj", "DH-CG": "h_dh_cg", "QH-ST": "h_qh_st"}
REVIEW_AT = datetime(2026, 12, 9, 1, 0, tzinfo=UTC)
SECOND_REVIEW_AT = datetime(2026, 12, 16, 1, 0, tzinfo=UTC)


def to_joint_meeting(driver: Any) -> int:
    """A construction-noise case the town reports up and the district takes to a joint meeting."""
    event_id = driver.report("gw_hb1", category="0301", description="工地夜间施工扰民，多部门处理后仍反复")
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=())
    step(
        driver,
        event_id,
        "dispatch",
        "dispatcher_dh",
        {"dispatch_action": "report_up", "dispatch_reason": "涉及住建、城管、环保多个部门"},
        not_for=("dispatcher_hb", "dispatcher_xsz"),
    )
    step(
        driver,
        event_id,
        "dispatch",
        "dispatcher",
        {"dispatch_action": "joint_meeting", "dispatch_reason": "跨部门疑难案件，提请联席会议"},
        not_for=("dispatcher_dh",),
    )
    meeting = driver.open_task(event_id, "record_meeting")
    assert (meeting["role"], meeting["scope"], meeting["form"]) == ("shift_leader", "330199", "meeting.json")
    return event_id


def convene(driver: Any, event_id: int, record: dict[str, Any] = MEETING) -> None:
    driver.gl.clock.set(MEETING_AT)
    step(
        driver,
        event_id,
        "record_meeting",
        "leader",
        record,
        not_for=("leader_hb", "leader_dh", "dispatcher"),
    )


def joint_tasks(driver: Any, event_id: int, status: str = "open") -> dict[str, dict[str, Any]]:
    """The event's joint handling tasks of a status, by department."""
    rows = [
        t for t in driver.event(event_id)["tasks"] if t["step"] == "joint_handle" and t["status"] == status
    ]
    by_department = {t["department"]: t for t in rows}
    assert len(by_department) == len(rows)
    return by_department


def report_back(driver: Any, event_id: int, department: str, at: datetime) -> None:
    driver.gl.clock.set(at)
    task = joint_tasks(driver, event_id)[department]
    others = [h for d, h in HANDLERS.items() if d != department] + ["h_xs_cg"]
    assert task["id"] in driver.claimable(HANDLERS[department])
    for other in others:
        assert task["id"] not in driver.claimable(other), f"{department}'s task is offered to {other}"
    driver.gl.complete(HANDLERS[department], task["id"], {"joint_result": f"{department} 已按会议分工完成"})


def all_report_back(driver: Any, event_id: int) -> None:
    """Lead and first support in time, the second support (QH-ST) an hour after its deadline."""
    report_back(driver, event_id, "QH-ZJ", datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    assert [t["step"] for t in driver.open_tasks(event_id)] == ["joint_handle", "joint_handle"]
    report_back(driver, event_id, "DH-CG", datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    assert [t["step"] for t in driver.open_tasks(event_id)] == ["joint_handle"]
    assert driver.event(event_id)["state"] == "open"
    report_back(driver, event_id, "QH-ST", SUPPORT_ST_DUE + timedelta(hours=1))


def close_and_follow_up(driver: Any, event_id: int, satisfaction: dict[str, Any] = SATISFIED) -> None:
    step(driver, event_id, "verify", "gw_hb1", VERIFY_PASSED, not_for=("gw_hb2",))
    step(driver, event_id, "close", "leader", CLOSE, not_for=("leader_hb",))
    step(driver, event_id, "follow_up", "intake", satisfaction, not_for=())


def test_lead_and_two_supports_work_in_parallel_and_only_the_late_support_is_late(driver):
    event_id = to_joint_meeting(driver)
    convene(driver, event_id)

    tasks = joint_tasks(driver, event_id)
    assert sorted(tasks) == ["DH-CG", "QH-ST", "QH-ZJ"], "one task per department, the repeated lead ignored"
    assert {d: t["due_at"] for d, t in tasks.items()} == {
        "QH-ZJ": LEAD_DUE,
        "DH-CG": SUPPORT_CG_DUE,
        "QH-ST": SUPPORT_ST_DUE,
    }
    assert len({t["due_at"] for t in tasks.values()}) == 3
    assert {d: t["scope"] for d, t in tasks.items()} == {
        "QH-ZJ": "330199",
        "DH-CG": "330199001",
        "QH-ST": "330199",
    }
    assert all(t["role"] == "handler" and t["form"] == "joint_handle.json" for t in tasks.values())
    assert driver.claimable("h_xs_cg") == [] and driver.claimable("h_dh_hw") == []
    event = driver.event(event_id)
    assert (event["state"], event["handling_level"], event["department"]) == ("open", "district", "QH-ZJ")
    assert event["due_at"] == LEAD_DUE, "the meeting's latest deadline becomes the case's"

    all_report_back(driver, event_id)
    verify = driver.open_task(event_id, "verify")
    assert verify["scope"] == "330199001001001"
    close_and_follow_up(driver, event_id)

    event = driver.event(event_id)
    assert_closed(event)
    assert (event["closed_on_time"], event["rework_count"]) == (True, 0)
    done = joint_tasks(driver, event_id, "completed")
    late = sorted(d for d, t in done.items() if t["completed_at"] > t["due_at"])
    assert late == ["QH-ST"]
    assert {d: t["completed_by"] for d, t in done.items()} == HANDLERS
    data = data_of(driver, event_id)
    assert data["joint_late_departments"] == ["QH-ST"]
    assert [(r["department"], r["role"], r["on_time"]) for r in data["joint_reports"]] == [
        ("QH-ZJ", "lead", True),
        ("DH-CG", "support", True),
        ("QH-ST", "support", False),
    ]
    assert data["level_history"] == ["grid", "town", "district"]
    assert data["meeting_participants"] == MEETING["meeting_participants"]
    # evaluated (考核): each department carries its own lateness — the late support alone is charged, the
    # lead's case closed within its limit
    period = (datetime(2026, 11, 22, 16, 0, tzinfo=UTC), datetime(2026, 12, 31, 16, 0, tzinfo=UTC))
    rows = {r["group"]: r for r in driver.gl.evaluate("evaluator", *period, by="department")}
    assert {d: (rows[d]["tasks_due"], rows[d]["tasks_late"]) for d in HANDLERS} == {
        "QH-ZJ": (1, 0),
        "DH-CG": (1, 0),
        "QH-ST": (1, 1),
    }
    assert (rows["QH-ZJ"]["due"], rows["QH-ZJ"]["closed_on_time"], rows["QH-ZJ"]["task_on_time_rate"]) == (
        1,
        1,
        1.0,
    )
    assert (rows["QH-ST"]["due"], rows["QH-ST"]["task_on_time_rate"]) == (0, 0.0), "a support holds no case"
    audited(driver.gl)


def test_the_case_does_not_reach_verification_before_every_department_reports_back(driver):
    event_id = to_joint_meeting(driver)
    convene(driver, event_id)
    report_back(driver, event_id, "QH-ZJ", datetime(2026, 11, 23, 6, 0, tzinfo=UTC))
    report_back(driver, event_id, "DH-CG", datetime(2026, 11, 23, 7, 0, tzinfo=UTC))
    assert "verify" not in [t["step"] for t in driver.event(event_id)["tasks"]]
    assert list(joint_tasks(driver, event_id)) == ["QH-ST"]
    audited(driver.gl)


def test_a_failed_verification_reworks_the_named_department_against_its_original_deadline(driver):
    event_id = to_joint_meeting(driver)
    convene(driver, event_id)
    all_report_back(driver, event_id)
    step(
        driver,
        event_id,
        "verify",
        "gw_hb1",
        {"passed": False, "note": "夜间仍有噪声", "rework_departments": ["DH-CG"]},
        not_for=(),
    )
    rework = joint_tasks(driver, event_id)
    assert list(rework) == ["DH-CG"]
    assert rework["DH-CG"]["due_at"] == SUPPORT_CG_DUE
    assert driver.event(event_id)["rework_count"] == 1
    report_back(driver, event_id, "DH-CG", datetime(2026, 11, 25, 6, 0, tzinfo=UTC))
    close_and_follow_up(driver, event_id)
    event = driver.event(event_id)
    assert_closed(event)
    assert event["rework_count"] == 1
    reports = data_of(driver, event_id)["joint_reports"]
    assert [(r["department"], r["round"]) for r in reports] == [
        ("QH-ZJ", 1),
        ("DH-CG", 1),
        ("QH-ST", 1),
        ("DH-CG", 2),
    ]
    audited(driver.gl)


def test_rework_and_reopening_without_named_departments_go_to_the_lead(driver):
    event_id = to_joint_meeting(driver)
    convene(driver, event_id)
    all_report_back(driver, event_id)
    step(driver, event_id, "verify", "gw_hb1", {"passed": False, "note": "整改不到位"}, not_for=())
    assert list(joint_tasks(driver, event_id)) == ["QH-ZJ"]
    report_back(driver, event_id, "QH-ZJ", datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    close_and_follow_up(driver, event_id, {"satisfaction": "dissatisfied", "note": "仍有夜间施工"})
    reopened = driver.event(event_id)
    assert (reopened["state"], reopened["reopen_count"]) == ("open", 1)
    assert list(joint_tasks(driver, event_id)) == ["QH-ZJ"]
    report_back(driver, event_id, "QH-ZJ", datetime(2026, 11, 27, 2, 0, tzinfo=UTC))
    close_and_follow_up(driver, event_id)
    event = driver.event(event_id)
    assert_closed(event)
    assert (event["rework_count"], event["reopen_count"]) == (1, 1)
    audited(driver.gl)


def test_a_legacy_ruling_raises_its_review_task_only_once_the_review_date_has_passed_and_the_timer_fired(
    driver,
):
    gl = driver.gl
    event_id = to_joint_meeting(driver)
    convene(
        driver,
        event_id,
        {
            "meeting_time": "2026-11-23T10:00:00+08:00",
            "meeting_participants": ["区住房和城乡建设局", "东湖街道办事处"],
            "meeting_decision": "hold_legacy",
            "legacy_reason": "历史遗留的违建问题，待片区改造统一解决",
            "legacy_review_date": REVIEW_AT.isoformat(),
        },
    )
    held = driver.event(event_id)
    assert (held["state"], held["completed"]) == ("legacy", False)
    assert driver.open_tasks(event_id) == []
    assert timers_of(driver, event_id) == [("legacy_review_timer", "pending", REVIEW_AT)]

    gl.clock.set(REVIEW_AT - timedelta(minutes=1))
    assert gl.tick() == 0
    gl.clock.set(REVIEW_AT + timedelta(minutes=1))
    assert driver.open_tasks(event_id) == [], "nothing appears before the timer fires"
    assert gl.tick() == 1
    review = driver.open_task(event_id, "review_legacy")
    assert (review["role"], review["scope"]) == ("shift_leader", "330199")
    with pytest.raises(ValidationFailed) as missing:
        gl.complete("leader", review["id"], {"legacy_review_decision": "keep"})
    assert "legacy_review_date" in missing.value.errors
    step(
        driver,
        event_id,
        "review_legacy",
        "leader",
        {"legacy_review_decision": "keep", "legacy_review_date": SECOND_REVIEW_AT.isoformat()},
        not_for=("leader_hb", "leader_dh"),
    )
    assert driver.event(event_id)["state"] == "legacy"
    assert timers_of(driver, event_id)[-1] == ("legacy_review_timer", "pending", SECOND_REVIEW_AT)
    assert gl.tick() == 0

    reconvened_at = SECOND_REVIEW_AT + timedelta(minutes=5)
    gl.clock.set(reconvened_at)
    assert gl.tick() == 1
    step(driver, event_id, "review_legacy", "leader", {"legacy_review_decision": "reconvene"}, not_for=())
    reopened = driver.event(event_id)
    assert reopened["state"] == "open"
    # two working days counted from Monday 09:00, the hold began at 10:00 with 15 working hours left: they
    # run again from Wednesday 2026-12-16 09:05 Shanghai, to Friday 08:05
    assert reopened["due_at"] == datetime(2026, 12, 18, 0, 5, tzinfo=UTC)
    assert driver.open_task(event_id, "record_meeting")["scope"] == "330199"

    gl.clock.set(reconvened_at + timedelta(hours=1))
    step(
        driver,
        event_id,
        "record_meeting",
        "leader",
        {**MEETING, "meeting_time": "2026-12-16T10:00:00+08:00", "joint_supports": {}},
        not_for=(),
    )
    assert list(joint_tasks(driver, event_id)) == ["QH-ZJ"]
    report_back(driver, event_id, "QH-ZJ", reconvened_at + timedelta(days=1))
    close_and_follow_up(driver, event_id)
    event = driver.event(event_id)
    assert_closed(event)
    assert event["closed_on_time"] is True
    audited(gl)


def test_the_meeting_record_is_checked_before_anything_changes(driver):
    event_id = to_joint_meeting(driver)
    meeting = driver.open_task(event_id, "record_meeting")
    recorded = driver.event(event_id)["version"]
    cases = [
        ({**MEETING, "joint_lead": None}, "joint_lead"),
        ({k: v for k, v in MEETING.items() if k != "joint_lead"}, "joint_lead"),
        ({**MEETING, "meeting_time": "2026-11-23T10:00:00"}, "meeting_time"),
        ({**MEETING, "meeting_participants": []}, "meeting_participants"),
        (
            {**MEETING, "joint_supports": {"support_1": {"department": "DH-CG"}}},
            "joint_supports.support_1.limit",
        ),
        ({**MEETING, "meeting_decision": "hold_legacy"}, "legacy_review_date"),
    ]
    for record, field in cases:
        with pytest.raises(ValidationFailed) as refused:
            driver.gl.complete("leader", meeting["id"], record)
        assert field in refused.value.errors, (field, refused.value.errors)
    assert driver.open_task(event_id, "record_meeting")["id"] == meeting["id"]
    assert driver.event(event_id)["version"] == recorded, "a refused record changes nothing"
    audited(driver.gl)


def test_department_reports_may_come_back_in_any_order_and_the_history_still_replays(driver):
    """The support whose deadline is nearest reports first, the lead last: the audit must replay each report
    onto the department that made it (the instances share one BPMN step)."""
    event_id = to_joint_meeting(driver)
    convene(driver, event_id)
    report_back(driver, event_id, "QH-ST", datetime(2026, 11, 23, 6, 0, tzinfo=UTC))
    report_back(driver, event_id, "DH-CG", datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    report_back(driver, event_id, "QH-ZJ", datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    assert [(r["department"]) for r in data_of_stored(driver, event_id)] == ["QH-ST", "DH-CG", "QH-ZJ"]
    audited(driver.gl)


def data_of_stored(driver: Any, event_id: int) -> list[dict[str, Any]]:
    """The joint reports in the data of the stored instance (not a replay), as the verify task sees them."""
    verify = driver.open_task(event_id, "verify")
    return driver.gl.task_detail("gw_hb1", verify["id"])["data"]["joint_reports"]


def test_the_event_diagram_marks_the_joint_meeting_while_departments_work_in_it(driver):
    from engine.reads.events import event_page

    event_id = to_joint_meeting(driver)
    convene(driver, event_id)
    with driver.gl.reading("admin") as reader:
        diagram = event_page(reader, event_id)["diagram"]
    assert "joint_handle" in diagram["current"] and "joint_meeting_call" in diagram["current"]
    assert "record_meeting" in diagram["done"] and "dispatch" in diagram["done"]
