"""The department's and the dispatcher's requests, each a path of processes/grid_event.bpmn with its approval:
send back (回退) and reassign (改派), extension (延期), hold (挂账) and resume (挂账恢复), void (作废).

The clock is the injected ManualClock; timers fire only when ``gl.tick()`` runs. Every scenario ends with the
audit replaying the whole history into exactly the stored state.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import START
from test_loop_paths import (
    ACCEPT,
    CLOSE,
    DUE_0101,
    SATISFIED,
    VERIFY_PASSED,
    accept_and_dispatch,
    assert_closed,
    completed_steps,
    handle_done,
    step,
)

from engine.audit import verification
from engine.errors import ValidationFailed
from engine.evaluation import metrics
from engine.store.models import Timer

# 0101 dispatched Monday 09:15 Shanghai is due 15:15 (DUE_0101); one more working day: Tuesday 15:15.
DUE_EXTENDED = datetime(2026, 11, 24, 7, 15, tzinfo=UTC)
# A hold from Monday 10:00 (3¼ working hours left) resumed on Wednesday 2026-12-23 10:00: due 15:15 that day.
HELD_AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
REVIEW_AT = datetime(2026, 12, 23, 1, 0, tzinfo=UTC)
RESUMED_AT = datetime(2026, 12, 23, 2, 0, tzinfo=UTC)
DUE_AFTER_HOLD = datetime(2026, 12, 23, 7, 15, tzinfo=UTC)


def audited(gl: Any) -> None:
    """The whole history replays into exactly the stored state of every event."""
    assert verification.verify_all(gl)["mismatches"] == []


def task_at(driver: Any, event_id: int, step_id: str) -> dict[str, Any]:
    """The event's single open task at ``step_id`` (other steps may be open beside it)."""
    tasks = [t for t in driver.open_tasks(event_id) if t["step"] == step_id]
    assert len(tasks) == 1, (
        f"expected one open {step_id}, found {[t['step'] for t in driver.open_tasks(event_id)]}"
    )
    return tasks[0]


def act(
    driver: Any, event_id: int, step_id: str, who: str, data: dict[str, Any], not_for: tuple[str, ...]
) -> dict[str, Any]:
    """Like ``step``, for a task that may be open beside others: offered to ``who`` only, completed by them."""
    task = task_at(driver, event_id, step_id)
    assert task["id"] in driver.claimable(who), f"{step_id} is not in {who}'s claimable inbox"
    for other in not_for:
        assert task["id"] not in driver.claimable(other), f"{step_id} is offered to {other} too"
    driver.gl.complete(who, task["id"], data)
    driver.gl.clock.advance(timedelta(minutes=15))
    return task


def data_of(driver: Any, event_id: int) -> dict[str, Any]:
    """The process data after the last recorded step, as the audit's replay rebuilds it."""
    return verification.replay_event(driver.gl, event_id).steps[-1].data


def finish(driver: Any, event_id: int, handler: str = "h_dh_hw") -> None:
    """From the open handle task: done, verified on site, closed by the district, followed up satisfied."""
    step(driver, event_id, "handle", handler, handle_done(driver), not_for=("h_xs_hw",))
    step(driver, event_id, "verify", "gw_hb1", VERIFY_PASSED, not_for=("gw_hb2",))
    step(driver, event_id, "close", "leader_hb", CLOSE, not_for=("leader_la",))
    step(driver, event_id, "follow_up", "intake", SATISFIED, not_for=())


# ------------------------------------------------------------------ send back (回退) and reassign (改派)


def test_send_back_closes_the_first_department_row_and_the_reassigned_department_gets_its_own_due_time(
    driver,
):
    event_id = driver.report("gw_hb1")
    first = accept_and_dispatch(driver, event_id, department="DH-CG")
    assert (first["department"], first["due_at"]) == ("DH-CG", DUE_0101)
    driver.gl.clock.set(START + timedelta(hours=1))  # 10:00 Shanghai, well inside the limit
    step(
        driver,
        event_id,
        "handle",
        "h_dh_cg",
        {"action": "send_back", "send_back_reason": "非本部门职责，应由环卫所处置"},
        not_for=("h_dh_hw", "h_xs_cg"),
    )
    step(
        driver,
        event_id,
        "reassign",
        "dispatcher_hb",
        {"department": "DH-HW", "reason": "按职责改派"},
        not_for=("dispatcher_la", "dispatcher_xsz", "intake"),
    )
    second = driver.open_task(event_id, "handle")
    # reassigned at 10:15: four working hours of its own, 16:15 Shanghai; the case's handling limit (处置时限)
    # is now that department's: the first one, which sent it back, answers for none of it
    reassigned_due = datetime(2026, 11, 23, 8, 15, tzinfo=UTC)
    assert (second["department"], second["due_at"]) == ("DH-HW", reassigned_due)
    assert driver.event(event_id)["due_at"] == reassigned_due
    assert driver.event(event_id)["handling_started_at"] == START + timedelta(hours=1, minutes=15)

    driver.gl.clock.set(datetime(2026, 11, 23, 7, 30, tzinfo=UTC))  # 15:30: after the first dispatch's limit
    finish(driver, event_id)

    event = driver.event(event_id)
    assert_closed(event)
    assert (event["department"], event["reassign_count"], event["due_at"]) == ("DH-HW", 1, reassigned_due)
    assert event["closed_on_time"] is True, "reported back inside the reassigned department's own limit"
    rows = [t for t in event["tasks"] if t["step"] == "handle"]
    assert [(t["department"], t["status"]) for t in rows] == [("DH-CG", "completed"), ("DH-HW", "completed")]
    for row in rows:
        assert row["completed_at"] <= row["due_at"], f"{row['department']} is charged with lateness"
    history = data_of(driver, event_id)["departments_history"]
    assert [(h["department"], h["by"]) for h in history] == [("DH-CG", "dispatch"), ("DH-HW", "reassign")]
    assert history[1]["due_at"] == "2026-11-23T08:15:00+00:00"
    audited(driver.gl)


# ------------------------------------------------------------------ extension (延期)


def request_extension(driver: Any, event_id: int, limit: float = 1, unit: str = "work_days") -> None:
    step(
        driver,
        event_id,
        "handle",
        "h_dh_hw",
        {
            "action": "extension",
            "extension_limit": limit,
            "extension_unit": unit,
            "extension_reason": "需协调清运车辆，今日无法完成",
        },
        not_for=("h_xs_hw",),
    )


def test_extension_approved_before_the_deadline_moves_it_and_the_case_closes_on_time(driver):
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    driver.gl.clock.set(datetime(2026, 11, 23, 6, 0, tzinfo=UTC))  # 14:00 Shanghai, before 15:00
    request_extension(driver, event_id)

    approval = driver.open_task(event_id, "approve_extension")
    assert approval["scope"] == "330199001001", "the community's platform decides on its own case"
    step(
        driver,
        event_id,
        "approve_extension",
        "dispatcher_hb",
        {"extension_approved": True, "extension_opinion": "同意延期一个工作日"},
        not_for=("dispatcher_la", "dispatcher_xsz", "leader_hb", "h_dh_hw"),
    )
    extended = driver.open_task(event_id, "handle")
    assert (extended["department"], extended["due_at"]) == ("DH-HW", DUE_EXTENDED)
    assert driver.event(event_id)["due_at"] == DUE_EXTENDED

    driver.gl.clock.set(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))  # Tuesday 10:00: after the old deadline
    finish(driver, event_id)

    event = driver.event(event_id)
    assert_closed(event)
    assert DUE_0101 < event["closed_at"] < DUE_EXTENDED
    assert (event["due_at"], event["closed_on_time"]) == (DUE_EXTENDED, True)
    assert data_of(driver, event_id)["extension_count"] == 1
    assert [s for s, _ in completed_steps(driver, event_id)] == [
        "accept",
        "dispatch",
        "handle",
        "approve_extension",
        "handle",
        "verify",
        "close",
        "follow_up",
    ]
    audited(driver.gl)


def test_extension_refused_by_the_dispatcher_keeps_the_deadline(driver):
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    request_extension(driver, event_id, 4, "work_hours")
    with pytest.raises(ValidationFailed) as refused:
        driver.complete("dispatcher", event_id, "approve_extension", {"extension_approved": False})
    assert "extension_opinion" in refused.value.errors
    step(
        driver,
        event_id,
        "approve_extension",
        "dispatcher",
        {"extension_approved": False, "extension_opinion": "工作量不大，请按期完成"},
        not_for=("dispatcher_la",),
    )
    handle = driver.open_task(event_id, "handle")
    assert handle["due_at"] == DUE_0101
    assert driver.event(event_id)["due_at"] == DUE_0101
    finish(driver, event_id)
    event = driver.event(event_id)
    assert_closed(event)
    assert (event["due_at"], event["closed_on_time"]) == (DUE_0101, True)
    assert data_of(driver, event_id)["extension_count"] == 0
    audited(driver.gl)


def test_extension_requested_after_the_deadline_is_refused_by_rule_without_asking_anyone(driver):
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    driver.gl.clock.set(DUE_0101 + timedelta(minutes=1))
    request_extension(driver, event_id)

    back = driver.open_task(event_id, "handle")
    assert (back["department"], back["due_at"]) == ("DH-HW", DUE_0101)
    assert "approve_extension" not in [t["step"] for t in driver.event(event_id)["tasks"]]
    assert driver.event(event_id)["due_at"] == DUE_0101
    refusal = driver.completions(event_id)[-1]["data"]["changes"]
    assert refusal["extension_decision"] == [None, "refused_late"]
    data = driver.gl.task_detail("h_dh_hw", back["id"])["data"]
    assert data["extension_refusal"] == "延期申请晚于处置时限，按规则不予延期"
    audited(driver.gl)


def test_a_reassigned_department_may_ask_for_an_extension_inside_its_own_limit(driver):
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id, department="DH-CG")
    driver.gl.clock.set(START + timedelta(hours=1))
    step(
        driver,
        event_id,
        "handle",
        "h_dh_cg",
        {"action": "send_back", "send_back_reason": "非本部门职责"},
        not_for=(),
    )
    step(driver, event_id, "reassign", "dispatcher", {"department": "DH-HW"}, not_for=())
    own_due = datetime(2026, 11, 23, 8, 15, tzinfo=UTC)  # 16:15 Shanghai
    assert driver.open_task(event_id, "handle")["due_at"] == own_due
    driver.gl.clock.set(DUE_0101 + timedelta(minutes=30))  # the case is overdue, the department is not
    request_extension(driver, event_id, 2, "work_hours")
    step(driver, event_id, "approve_extension", "dispatcher_hb", {"extension_approved": True}, not_for=())
    # the department's 16:15 plus two working hours runs past 18:00 into Tuesday 08:15: the case's handling
    # limit is that department's
    assert driver.open_task(event_id, "handle")["due_at"] == datetime(2026, 11, 24, 0, 15, tzinfo=UTC)
    assert driver.event(event_id)["due_at"] == datetime(2026, 11, 24, 0, 15, tzinfo=UTC)
    finish(driver, event_id)
    event = driver.event(event_id)
    assert_closed(event)
    assert event["closed_on_time"] is True
    audited(driver.gl)


# ------------------------------------------------------------------ hold (挂账) and resume (挂账恢复)


def request_hold(driver: Any, event_id: int, review_at: datetime = REVIEW_AT) -> None:
    step(
        driver,
        event_id,
        "handle",
        "h_dh_hw",
        {
            "action": "hold",
            "hold_reason": "垃圾堆放点涉及产权纠纷，待法院判决",
            "review_date": review_at.astimezone(UTC).isoformat(),
        },
        not_for=(),
    )


def timers_of(driver: Any, event_id: int) -> list[tuple[str, str, datetime]]:
    with driver.gl.db.reading() as session:
        rows = session.query(Timer).filter(Timer.event_id == event_id).order_by(Timer.id).all()
        return [(t.bpmn_id, t.status, t.due_at) for t in rows]


def test_a_thirty_day_hold_stops_the_clock_reminds_at_the_review_date_and_closes_on_time(driver):
    gl = driver.gl
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    gl.clock.set(HELD_AT - timedelta(minutes=15))
    request_hold(driver, event_id)
    step(
        driver,
        event_id,
        "approve_hold",
        "dispatcher_hb",
        {"hold_approved": True},
        not_for=("dispatcher_la", "dispatcher_xsz", "leader_hb"),
    )
    held = driver.event(event_id)
    assert (held["state"], held["due_at"]) == ("on_hold", DUE_0101)
    gl.clock.set(
        DUE_0101 + timedelta(days=3)
    )  # long past its deadline while held: it shows its hold, not red
    [listed], _ = gl.list_events("admin", code=held["code"])
    assert listed["light"].colour == "hold"
    gl.clock.set(HELD_AT)
    resume = driver.open_task(event_id, "resume_hold")
    assert (resume["role"], resume["scope"], resume["due_at"]) == ("dispatcher", "330199001001", REVIEW_AT)
    assert resume["id"] in driver.claimable("dispatcher_hb")
    assert resume["id"] not in driver.claimable("dispatcher_la")
    assert timers_of(driver, event_id) == [("hold_review_timer", "pending", REVIEW_AT)]

    # past the review date nothing happens until the timer is fired
    gl.clock.set(REVIEW_AT + timedelta(minutes=1))
    assert [t["step"] for t in driver.open_tasks(event_id)] == ["resume_hold"]
    assert gl.tick() == 1
    assert gl.tick() == 0, "a timer fires once"
    reminder = task_at(driver, event_id, "hold_reminder")
    assert (reminder["role"], reminder["scope"], reminder["due_at"]) == (
        "shift_leader",
        "330199001001",
        REVIEW_AT,
    )
    assert reminder["id"] in driver.claimable("leader_hb")
    assert reminder["id"] in driver.claimable("leader")
    assert reminder["id"] not in driver.claimable("leader_la")
    assert reminder["id"] not in driver.claimable("dispatcher_hb")
    assert timers_of(driver, event_id) == [("hold_review_timer", "fired", REVIEW_AT)]
    assert driver.event(event_id)["state"] == "on_hold"

    gl.clock.set(RESUMED_AT)
    act(
        driver,
        event_id,
        "resume_hold",
        "dispatcher_hb",
        {"resume_note": "产权纠纷已判决，恢复处置"},
        not_for=(),
    )
    resumed = driver.event(event_id)
    assert (resumed["state"], resumed["due_at"]) == ("open", DUE_AFTER_HOLD)
    assert [t["step"] for t in resumed["tasks"] if t["status"] == "open"] == ["handle"]
    cancelled = next(t for t in resumed["tasks"] if t["step"] == "hold_reminder")
    assert cancelled["status"] == "cancelled", "resuming withdraws the reminder"
    handle = driver.open_task(event_id, "handle")
    assert handle["due_at"] == DUE_AFTER_HOLD

    finish(driver, event_id)
    event = driver.event(event_id)
    assert_closed(event)
    assert event["closed_at"] > DUE_0101 + timedelta(days=29)
    assert (event["due_at"], event["closed_on_time"]) == (DUE_AFTER_HOLD, True)
    data = data_of(driver, event_id)
    assert (data["held_at"], data["resumed_at"], data["hold_count"]) == (
        HELD_AT.isoformat(),
        RESUMED_AT.isoformat(),
        1,
    )
    # 挂账时长: the hold's own span, from its start to its resumption, counted in the period it ended in
    with gl.db.reading() as session:
        [held_month] = metrics.evaluate(session, HELD_AT, RESUMED_AT + timedelta(days=1), by="district")
        [before] = metrics.evaluate(session, HELD_AT, RESUMED_AT - timedelta(days=1), by="district")
    assert held_month["hold_hours"] == round((RESUMED_AT - HELD_AT).total_seconds() / 3600, 2) == 720.0
    assert before["hold_hours"] == 0, "a hold not yet ended is not counted"
    # ... but it is a hold still running at that period's end: 29 days of it so far
    assert (before["running_hold_hours"], held_month["running_hold_hours"]) == (696.0, 0)
    audited(gl)


def test_resuming_before_the_review_date_cancels_the_timer_and_no_reminder_comes(driver):
    gl = driver.gl
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    request_hold(driver, event_id)
    step(driver, event_id, "approve_hold", "dispatcher", {"hold_approved": True}, not_for=())
    step(driver, event_id, "resume_hold", "dispatcher", {"resume_note": "情况有变，提前恢复"}, not_for=())
    assert timers_of(driver, event_id)[0][1] == "cancelled"
    gl.clock.set(REVIEW_AT + timedelta(hours=1))
    assert gl.tick() == 0
    assert [t["step"] for t in driver.open_tasks(event_id)] == ["handle"]
    assert driver.event(event_id)["state"] == "open"
    audited(gl)


def test_hold_refused_goes_back_to_the_department_with_the_clock_running(driver):
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    request_hold(driver, event_id)
    step(
        driver,
        event_id,
        "approve_hold",
        "dispatcher",
        {"hold_approved": False, "hold_opinion": "不符合挂账条件"},
        not_for=(),
    )
    event = driver.event(event_id)
    assert (event["state"], event["due_at"]) == ("open", DUE_0101)
    assert driver.open_task(event_id, "handle")["due_at"] == DUE_0101
    assert timers_of(driver, event_id) == []
    audited(driver.gl)


def test_the_hold_reminder_can_be_acknowledged_and_the_case_still_resumes(driver):
    gl = driver.gl
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    request_hold(driver, event_id)
    step(driver, event_id, "approve_hold", "dispatcher", {"hold_approved": True}, not_for=())
    gl.clock.set(REVIEW_AT + timedelta(minutes=5))
    assert gl.tick() == 1
    act(
        driver,
        event_id,
        "hold_reminder",
        "leader_hb",
        {"reminder_note": "请尽快复核"},
        not_for=("leader_la",),
    )
    assert [t["step"] for t in driver.open_tasks(event_id)] == ["resume_hold"]
    act(driver, event_id, "resume_hold", "dispatcher_hb", {"resume_note": "已复核，恢复处置"}, not_for=())
    finish(driver, event_id)
    assert_closed(driver.event(event_id))
    audited(gl)


# ------------------------------------------------------------------ void (作废)


def request_void(driver: Any, event_id: int) -> None:
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=())
    with pytest.raises(ValidationFailed) as missing:
        driver.complete("dispatcher_hb", event_id, "dispatch", {"dispatch_action": "void"})
    assert "dispatch_reason" in missing.value.errors
    step(
        driver,
        event_id,
        "dispatch",
        "dispatcher_hb",
        {"dispatch_action": "void", "dispatch_reason": "与已立案事件重复"},
        not_for=("dispatcher_la",),
    )


def test_void_approved_by_the_shift_leader_ends_the_event(driver):
    event_id = driver.report("gw_hb1")
    request_void(driver, event_id)
    approval = driver.open_task(event_id, "approve_void")
    assert (approval["role"], approval["scope"]) == ("shift_leader", "330199001001")
    step(
        driver,
        event_id,
        "approve_void",
        "leader_hb",
        {"void_approved": True},
        not_for=("leader_la", "leader_xsz", "dispatcher_hb", "dispatcher"),
    )
    event = driver.event(event_id)
    assert (event["state"], event["completed"], event["closed_at"]) == ("voided", True, None)
    assert [t for t in event["tasks"] if t["status"] == "open"] == []
    assert [s for s, _ in completed_steps(driver, event_id)] == ["accept", "dispatch", "approve_void"]
    audited(driver.gl)


def test_void_refused_returns_the_case_to_dispatch(driver):
    event_id = driver.report("gw_hb1")
    request_void(driver, event_id)
    step(
        driver,
        event_id,
        "approve_void",
        "leader",
        {"void_approved": False, "void_opinion": "并非重复事件，请派遣处置"},
        not_for=("leader_la",),
    )
    assert driver.event(event_id)["state"] == "open"
    step(driver, event_id, "dispatch", "dispatcher_hb", {"department": "DH-HW"}, not_for=("dispatcher_la",))
    finish(driver, event_id)
    event = driver.event(event_id)
    assert_closed(event)
    assert [s for s, _ in completed_steps(driver, event_id)][:4] == [
        "accept",
        "dispatch",
        "approve_void",
        "dispatch",
    ]
    audited(driver.gl)


def test_a_refused_late_extension_keeps_the_sheet_and_its_escalation_clock(driver):
    """The department's task went red and got its sheet; a late request for more time is refused and the task
    comes back: the same sheet follows it (no second sheet, no second deduction), and it takes its yellow card a
    working day after it was first issued, not after the task came back."""
    gl = driver.gl
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    gl.clock.set(DUE_0101 + timedelta(minutes=1))
    assert gl.supervise()["issued"] == 1
    [sheet] = [s for s in gl.sheets("supervisor") if s["event_id"] == event_id and s["department"]]
    first_task = sheet["task_id"]
    gl.clock.advance(timedelta(hours=2))
    request_extension(driver, event_id)  # after the deadline: refused by rule, the task back
    back = driver.open_task(event_id, "handle")
    assert back["id"] != first_task
    assert gl.supervise()["issued"] == 0, "the sheet is carried on, not issued again"
    [carried] = [s for s in gl.sheets("supervisor") if s["event_id"] == event_id and s["department"]]
    assert (carried["id"], carried["task_id"], carried["card"]) == (sheet["id"], back["id"], "notice")
    assert carried["issued_at"] == sheet["issued_at"]
    gl.clock.set(sheet["issued_at"] + timedelta(days=1, minutes=1))  # a working day after the first issue
    assert gl.supervise()["escalated"] == 1
    [yellow] = [s for s in gl.sheets("supervisor") if s["event_id"] == event_id and s["department"]]
    assert (yellow["id"], yellow["card"]) == (sheet["id"], "yellow")
    actions = [r["action"] for r in driver.gl.event_detail("admin", event_id)["history"]]
    assert actions.count("sheet_issued") == 1 and actions.count("sheet_carried") == 1
    week = (gl.now() - timedelta(days=7), gl.now() + timedelta(days=1))
    [hw] = [r for r in gl.evaluate("evaluator", *week, by="department") if r["group"] == "DH-HW"]
    assert (hw["sheets"], hw["auto_sheets"], hw["yellow_cards"]) == (1, 1, 1), "charged once, at its card"
    audited(gl)
