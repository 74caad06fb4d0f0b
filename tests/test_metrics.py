"""Evaluation (考核评价): the standard counts and rates, per district, department and worker, by the definitions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event as _events
from sqlalchemy import select, update

from engine.audit import verification
from engine.errors import Forbidden
from engine.evaluation import metrics, positions
from engine.store.models import Event, Task
from tests.conftest import GRID_HB2, START, Driver
from webui.cli import main

SH_WEEK = (
    datetime(2026, 11, 22, 16, 0, tzinfo=UTC),
    datetime(2026, 11, 29, 16, 0, tzinfo=UTC),
)  # Mon–Sun, Shanghai


def _closed(driver: Driver, satisfaction: str = "satisfied") -> int:
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    driver.complete("h_dh_hw", event_id, "handle", {"action": "done", "result": "已清运"})
    driver.complete("gw_hb1", event_id, "verify", {"passed": True})
    driver.complete("leader", event_id, "close", {"opinion": "同意"})
    driver.complete("intake", event_id, "follow_up", {"satisfaction": satisfaction})
    return event_id


@pytest.fixture
def week(gl, driver):
    """A week: two cases closed on time (one after a reassignment), one reworked and closed late, one still
    inside its limit, one rejected."""
    _closed(driver)
    reassigned = driver.report("gw_hb1")
    driver.complete("intake", reassigned, "accept", {"decision": "accept"})
    driver.complete("dispatcher", reassigned, "dispatch", {"department": "DH-CG"})
    driver.complete(
        "h_dh_cg", reassigned, "handle", {"action": "send_back", "send_back_reason": "非本部门职责"}
    )
    driver.complete("dispatcher", reassigned, "reassign", {"department": "DH-HW", "reason": "改派"})
    driver.complete("h_dh_hw", reassigned, "handle", {"action": "done", "result": "已清运"})
    driver.complete("gw_hb1", reassigned, "verify", {"passed": True})
    driver.complete("leader", reassigned, "close", {"opinion": "同意"})
    driver.complete("intake", reassigned, "follow_up", {"satisfaction": "satisfied"})

    inside_limit = driver.report(
        "gw_hb2", category="1102", grid=GRID_HB2, description="工资被拖欠三个月，请求协调"
    )
    driver.complete("intake", inside_limit, "accept", {"decision": "accept"})
    rejected = driver.report("gw_hb1")
    driver.complete("intake", rejected, "accept", {"decision": "reject", "reason": "重复上报"})

    late = driver.report("gw_hb1")
    driver.complete("intake", late, "accept", {"decision": "accept"})
    driver.complete("dispatcher", late, "dispatch", {"department": "DH-HW"})
    driver.complete("h_dh_hw", late, "handle", {"action": "done", "result": "已清运"})
    driver.complete("gw_hb1", late, "verify", {"passed": False, "note": "仍有残留"})
    gl.clock.set(START + timedelta(days=1))  # Tuesday 09:00: past Monday 15:00, the case's deadline
    driver.complete("h_dh_hw", late, "handle", {"action": "done", "result": "已彻底清运"})
    driver.complete("gw_hb1", late, "verify", {"passed": True})
    driver.complete("leader", late, "close", {"opinion": "同意"})
    driver.complete("intake", late, "follow_up", {"satisfaction": "basically_satisfied"})
    return gl


def _row(rows, group):
    return next(r for r in rows if r["group"] == group)


def test_the_district_counts_follow_the_standard_definitions(week):
    [district] = week.evaluate("evaluator", *SH_WEEK, by="district")
    counts = {
        k: district[k] for k in ("opened", "due", "closed", "closed_on_time", "followed_up", "satisfied")
    }
    assert counts == {
        "opened": 4,
        "due": 3,
        "closed": 3,
        "closed_on_time": 2,
        "followed_up": 3,
        "satisfied": 3,
    }
    assert (district["closure_rate"], district["on_time_rate"], district["rework_rate"]) == (
        1.0,
        0.6667,
        0.25,
    )
    assert district["satisfaction_rate"] == 1.0
    # weights 0.3 closure + 0.4 on time + 0.2 satisfaction − 0.1 rework
    assert district["score"] == round((0.3 * 1.0 + 0.4 * 0.6667 + 0.2 * 1.0 - 0.1 * 0.25) * 100, 2)


def test_settings_change_the_rates_and_the_score(week):
    week.change_setting("admin", "satisfied_answers", ["satisfied"])
    week.change_setting("admin", "rework_rate_base", "due")
    [district] = week.evaluate("evaluator", *SH_WEEK, by="district")
    assert (district["satisfaction_rate"], district["rework_rate"]) == (0.6667, 0.3333)


def test_departments_are_charged_only_with_their_own_lateness(week):
    rows = week.evaluate("evaluator", *SH_WEEK, by="department")
    hw, cg = _row(rows, "DH-HW"), _row(rows, "DH-CG")
    assert (hw["due"], hw["closed"], hw["closed_on_time"]) == (3, 3, 2)
    assert (hw["tasks_due"], hw["tasks_late"]) == (4, 1), "the rework handled on Tuesday was late"
    assert (cg["due"], cg["tasks_due"], cg["tasks_late"]) == (0, 1, 0), "sending back in time is not charged"


def test_a_self_handled_case_counts_for_the_worker_and_the_community_not_a_department(gl, driver):
    _closed(driver)
    handled = driver.report("gw_hb1", self_handle=True)
    driver.complete("intake", handled, "accept", {"decision": "accept"})
    driver.complete(
        "gw_hb1",
        handled,
        "self_handle_task",
        {"result": "已现场清理", "before_photos": [driver.photo()], "after_photos": [driver.photo()]},
    )
    driver.complete("leader_hb", handled, "close_self", {"decision": "close"})
    assert driver.event(handled)["department"] is None, "the routing table's department never touched it"
    by_department = {r["group"]: r for r in gl.evaluate("evaluator", *SH_WEEK, by="department")}
    assert (by_department["DH-HW"]["opened"], by_department["DH-HW"]["closed"]) == (1, 1)
    assert (by_department[None]["opened"], by_department[None]["closed"]) == (1, 1), "listed as 未分派"
    [community] = gl.evaluate("evaluator", *SH_WEEK, by="community")
    assert (community["group"], community["opened"], community["closed"]) == ("330199001001", 2, 2)
    assert community["self_handled"] == 1, "自行处置数"
    assert _row(gl.evaluate("evaluator", *SH_WEEK, by="worker"), "gw_hb1")["valid_reports"] == 2


def test_a_voided_case_stays_opened_counts_as_voided_and_is_never_due(gl, driver):
    _closed(driver)
    voided = driver.report("gw_hb1")
    driver.complete("intake", voided, "accept", {"decision": "accept"})
    driver.complete(
        "dispatcher", voided, "dispatch", {"dispatch_action": "void", "dispatch_reason": "与已立案事件重复"}
    )
    driver.complete("leader_hb", voided, "approve_void", {"void_approved": True})
    assert driver.event(voided)["state"] == "voided"
    gl.clock.advance(timedelta(days=3))
    [district] = gl.evaluate("evaluator", *SH_WEEK, by="district")
    assert (district["opened"], district["voided"], district["due"], district["closed"]) == (2, 1, 1, 1)
    assert district["accurate_opening_rate"] == 0.5, "准确立案率 = (立案数 − 作废数) / 立案数"
    assert district["closure_rate"] == 1.0, "a voided case is never due"
    assert _row(gl.evaluate("evaluator", *SH_WEEK, by="worker"), "gw_hb1")["valid_reports"] == 1
    assert (district["reported"], district["accepted_reports"]) == (2, 1), "a voided report is no valid one"
    gl.change_setting("admin", "voided_reports_valid", True)  # a district that counts it
    [district] = gl.evaluate("evaluator", *SH_WEEK, by="district")
    assert (district["reported"], district["accepted_reports"], district["valid_report_rate"]) == (2, 2, 1.0)
    assert _row(gl.evaluate("evaluator", *SH_WEEK, by="worker"), "gw_hb1")["valid_reports"] == 2
    assert district["accurate_opening_rate"] == 0.5, "still voided: 准确立案率 does not change"


def test_grid_workers_rewards_count_valid_reports(week):
    rows = week.evaluate("evaluator", *SH_WEEK, by="worker")
    assert (_row(rows, "gw_hb1")["valid_reports"], _row(rows, "gw_hb1")["reward"]) == (3, 6.0)
    assert (_row(rows, "gw_hb2")["valid_reports"], _row(rows, "gw_hb2")["reward"]) == (1, 2.0)


def test_a_case_falls_due_in_the_week_its_limit_runs_out_and_scope_is_enforced(week, capsys):
    next_week = (SH_WEEK[1], SH_WEEK[1] + timedelta(days=7))
    [following] = week.evaluate("evaluator", *next_week, by="district")
    assert following["due"] == 0, "next Monday 09:00 has not come yet: the case is still inside its limit"
    week.clock.set(datetime(2026, 11, 30, 2, 0, tzinfo=UTC))  # Monday 10:00 Shanghai, after its deadline
    [following] = week.evaluate("evaluator", *next_week, by="district")
    assert (following["opened"], following["due"], following["closed"]) == (0, 1, 0), (
        "the 5-working-day case fell due on Monday, still open: due and not closed"
    )
    with pytest.raises(Forbidden):
        week.evaluate("gw_hb1", *SH_WEEK)
    assert (
        main(
            [
                "--db",
                week.db.url,
                "metrics",
                "--from",
                "2026-11-23",
                "--to",
                "2026-11-30",
                "--by",
                "district",
                "--as-of",
                "2026-11-29T00:00:00+08:00",
                "--json",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert [(r["group"], r["due"], r["closed_on_time"]) for r in printed["rows"]] == [("330199", 3, 2)]


def test_a_dissatisfied_answer_stays_counted_after_the_reopened_case_is_answered_again(gl, driver):
    reopened = _closed(driver, satisfaction="dissatisfied")  # 不满意: reopened (重办) to DH-HW
    driver.complete("h_dh_hw", reopened, "handle", {"action": "done", "result": "已再次清运"})
    driver.complete("gw_hb1", reopened, "verify", {"passed": True})
    driver.complete("leader", reopened, "close", {"opinion": "同意"})
    driver.complete("intake", reopened, "follow_up", {"satisfaction": "satisfied"})
    event = driver.event(reopened)
    assert (event["state"], event["reopen_count"], event["satisfaction"]) == ("closed", 1, "satisfied")
    [district] = gl.evaluate("evaluator", *SH_WEEK, by="district")
    assert (district["followed_up"], district["satisfied"]) == (2, 1), "both answers count"
    assert district["satisfaction_rate"] == 0.5


def test_each_supervision_sheet_takes_its_cards_points_off_the_departments_score(week):
    before = _row(week.evaluate("evaluator", *SH_WEEK, by="department"), "DH-HW")
    assert (before["sheets"], before["deductions"]) == (0, 0)
    [open_case] = [r["id"] for r in week.list_events("admin", state="open")[0]][:1]
    sheet = week.issue_sheet("supervisor", open_case, "DH-HW", "请加快处置")
    after = _row(week.evaluate("evaluator", *SH_WEEK, by="department"), "DH-HW")
    assert (after["sheets"], after["deductions"]) == (1, 0.5), "a leader's sheet at its first card: 0.5"
    assert (after["leader_sheets"], after["auto_sheets"], after["yellow_cards"], after["red_cards"]) == (
        1,
        0,
        0,
        0,
    )
    assert after["score"] == round(before["score"] - 0.5, 2)
    week.change_setting("admin", "sheet_deductions", {"notice": 3, "yellow": 5, "red": 8})
    assert _row(week.evaluate("evaluator", *SH_WEEK, by="department"), "DH-HW")["score"] == round(
        before["score"] - 3, 2
    )
    assert sheet["department"] == "DH-HW"


def test_the_reports_and_the_platforms_own_steps_are_counted_by_the_standard(week):
    """The week by hand: five reports, one rejected (有效上报率 4/5); three dispatches and a re-dispatch, all
    within their hour, one dispatch sent back and dispatched anew (准确派遣率 3/4), and the wage case still
    waiting for its dispatch past its hour (超时未派遣 1: 应派遣数 5, 按时派遣率 4/5); four checks (核查: the late
    case was checked twice), all within their limits; no public report to verify (核实), no extension, no hold."""
    [district] = week.evaluate("evaluator", *SH_WEEK, by="district")
    figures = (
        "reported",
        "reported_patrol",
        "reported_public",
        "accepted_reports",
        "valid_report_rate",
        "dispatches",
        "dispatches_on_time",
        "dispatches_pending",
        "dispatches_due",
        "redispatches",
        "accurate_dispatch_rate",
        "dispatch_on_time_rate",
        "checks",
        "checks_on_time",
        "check_on_time_rate",
        "verifications",
        "verification_on_time_rate",
        "extension_requests",
        "hold_requests",
        "self_handled",
    )
    assert {k: district[k] for k in figures} == {
        "reported": 5,
        "reported_patrol": 5,
        "reported_public": 0,
        "accepted_reports": 4,
        "valid_report_rate": 0.8,
        "dispatches": 4,
        "dispatches_on_time": 4,
        "dispatches_pending": 1,
        "dispatches_due": 5,
        "redispatches": 1,
        "accurate_dispatch_rate": 0.75,
        "dispatch_on_time_rate": 0.8,
        "checks": 4,
        "checks_on_time": 4,
        "check_on_time_rate": 1.0,
        "verifications": 0,
        "verification_on_time_rate": None,
        "extension_requests": 0,
        "hold_requests": 0,
        "self_handled": 0,
    }
    hw = _row(week.evaluate("evaluator", *SH_WEEK, by="department"), "DH-HW")
    assert (hw["tasks_overdue_done"], hw["tasks_overdue_open"]) == (1, 0), "超期处置: the rework of Tuesday"
    assert (hw["reported"], hw["dispatches"]) == (0, 0), "reports and platform steps are no department's"
    with week.db.reading() as session:
        redispatched = metrics.cases(session, *SH_WEEK, "district", "330199", "redispatches")
        checked = metrics.cases(session, *SH_WEEK, "district", "330199", "checks")
        reported = metrics.cases(session, *SH_WEEK, "district", "330199", "reported")
        waiting = metrics.cases(session, *SH_WEEK, "district", "330199", "dispatches_pending")
    assert [week.event_detail("evaluator", i)["category"] for i in waiting] == ["1102"]
    codes = {e["id"]: e for e in (week.event_detail("evaluator", i) for i in reported)}
    assert len(reported) == 5 and len(checked) == 3 and len(redispatched) == 1
    assert codes[redispatched[0]]["reassign_count"] == 1


def test_a_department_task_left_undone_past_its_limit_is_overdue_open(gl, driver):
    idle = driver.report("gw_hb1")
    driver.complete("intake", idle, "accept", {"decision": "accept"})
    driver.complete("dispatcher", idle, "dispatch", {"department": "DH-HW"})
    gl.clock.advance(timedelta(days=2))
    hw = _row(gl.evaluate("evaluator", *SH_WEEK, by="department"), "DH-HW")
    assert (hw["tasks_due"], hw["tasks_late"]) == (1, 1)
    assert (hw["tasks_overdue_done"], hw["tasks_overdue_open"]) == (0, 1), "超期未处置"
    assert (hw["handling_rate"], hw["task_on_time_rate"]) == (0.0, 0.0), "处置率: nothing due was done"


def test_a_check_waiting_past_its_limit_is_due_and_late(gl, driver):
    """应核查数: the checks done in the period and those still waiting past their step limit — one done on time
    and one left four working hours and more at the grid worker: 按时核查率 1/2."""
    checked, waiting = driver.report("gw_hb1"), driver.report("gw_hb1")
    for case in (checked, waiting):
        driver.complete("intake", case, "accept", {"decision": "accept"})
        driver.complete("dispatcher", case, "dispatch", {"department": "DH-HW"})
        driver.complete("h_dh_hw", case, "handle", {"action": "done", "result": "已清运"})
    driver.complete("gw_hb1", checked, "verify", {"passed": True})
    [before] = gl.evaluate("evaluator", *SH_WEEK, by="district")
    assert (before["checks"], before["checks_pending"], before["checks_due"]) == (1, 0, 1), "not late yet"
    gl.clock.advance(timedelta(days=1))
    [district] = gl.evaluate("evaluator", *SH_WEEK, by="district")
    assert (district["checks"], district["checks_pending"], district["checks_due"]) == (1, 1, 2)
    assert district["check_on_time_rate"] == 0.5
    with gl.db.reading() as session:
        assert metrics.cases(session, *SH_WEEK, "district", "330199", "checks_pending") == [waiting]


def test_extension_and_hold_requests_count_once_decided(gl, driver):
    extended = driver.report("gw_hb1")
    driver.complete("intake", extended, "accept", {"decision": "accept"})
    driver.complete("dispatcher", extended, "dispatch", {"department": "DH-HW"})
    extension = {"extension_limit": 1, "extension_unit": "work_days", "extension_reason": "需协调清运车辆"}
    driver.complete("h_dh_hw", extended, "handle", {"action": "extension", **extension})
    driver.complete("dispatcher_hb", extended, "approve_extension", {"extension_approved": True})
    held = driver.report("gw_hb1")
    driver.complete("intake", held, "accept", {"decision": "accept"})
    driver.complete("dispatcher", held, "dispatch", {"department": "DH-HW"})
    review = (gl.now() + timedelta(days=3)).isoformat(timespec="seconds")
    hold = {"action": "hold", "hold_reason": "需待管线迁改", "review_date": review}
    driver.complete("h_dh_hw", held, "handle", hold)
    [before] = gl.evaluate("evaluator", *SH_WEEK, by="district")
    assert (before["extension_requests"], before["hold_requests"]) == (1, 0), "the hold is not decided yet"
    driver.complete("dispatcher_hb", held, "approve_hold", {"hold_approved": True})
    [district] = gl.evaluate("evaluator", *SH_WEEK, by="district")
    assert (district["extension_requests"], district["hold_requests"]) == (1, 1)
    assert (district["opened"], district["due"]) == (2, 0), (
        "the extended case is inside its limit, the held off it"
    )


def test_each_position_is_judged_on_its_own_steps(week, capsys):
    """The week by hand, position by position (岗位评价): the intake clerk accepted all five reports within their
    hour, four of them cases; the dispatcher dispatched three and re-dispatched one, all in time, and the one
    sent back was its own wrong dispatch (准确派遣率 3/4; 综合 20·1 + 40·1 + 40·0.75 = 90); the shift leader
    closed three in time (no case opened by them: judged on closing alone); gw_hb1 reported four (three cases)
    and checked four, gw_hb2 reported one."""
    rows = {(r["position"], r["staff"]): r for r in week.evaluate_positions("evaluator", *SH_WEEK)}
    intake = rows["intake", "intake"]
    assert (intake["accepts"], intake["accepts_on_time"], intake["opened"], intake["voided"]) == (5, 5, 4, 0)
    assert (intake["on_time_opening_rate"], intake["accurate_opening_rate"]) == (1.0, 1.0)
    dispatcher = rows["dispatcher", "dispatcher"]
    assert (dispatcher["dispatches"], dispatcher["dispatches_on_time"], dispatcher["misdispatches"]) == (
        4,
        4,
        1,
    )
    assert (dispatcher["accurate_dispatch_rate"], dispatcher["dispatch_count_score"]) == (0.75, 1.0)
    assert dispatcher["composite"] == 90.0
    leader = rows["shift_leader", "leader"]
    assert (leader["closes"], leader["on_time_closing_rate"], leader["on_time_opening_rate"]) == (
        3,
        1.0,
        None,
    )
    assert leader["composite"] == 100.0
    worker = rows["supervisor", "gw_hb1"]
    assert (worker["reported"], worker["accepted_reports"], worker["valid_report_rate"]) == (4, 3, 0.75)
    assert (worker["checks"], worker["check_on_time_rate"], worker["verifications"]) == (4, 1.0, 0)
    assert rows["supervisor", "gw_hb2"]["reported"] == 1
    assert {p for p, _ in rows} == {"intake", "dispatcher", "shift_leader", "supervisor"}
    week.change_setting("admin", "dispatcher_weights", {"accurate_dispatch_rate": 1.0})
    again = {(r["position"], r["staff"]): r for r in week.evaluate_positions("evaluator", *SH_WEEK)}
    assert again["dispatcher", "dispatcher"]["composite"] == 75.0, "the weights are the district's"
    with pytest.raises(Forbidden):
        week.evaluate_positions("gw_hb1", *SH_WEEK)
    command = [
        "--db",
        week.db.url,
        "metrics",
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-30",
        "--by",
        "position",
    ]
    assert main([*command, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)["rows"]
    assert [(r["position"], r["staff"]) for r in printed][:2] == [
        ("intake", "intake"),
        ("shift_leader", "leader"),
    ]
    assert main(command) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("dispatcher") and "misdispatches 1" in line for line in lines), lines
    assert any("accurate_dispatch_rate 75.00%" in line for line in lines), "rates print with two decimals"


# the tables the evaluation's statements name, by the names they give them
EVALUATED_TABLES = {
    "events": Event,
    "evaluated_tasks": Task,
    "step_tasks": Task,
    "worked": Task,
    "later_step": Task,
    "between_step": Task,
    "tasks": Task,
}


def _columns_read(gl) -> set[tuple[type, str]]:
    """Every column of the cases and their tasks that the evaluation's statements read (each grouping, each
    drill-down, the positions), caught as the database receives them."""
    seen: list[str] = []

    def caught(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    _events.listen(gl.db.engine, "before_cursor_execute", caught)
    try:
        with gl.db.reading() as session:
            for by in metrics.GROUPINGS:
                metrics.evaluate(session, *SH_WEEK, by, now=gl.now())
                for figure in metrics.FIGURES:
                    metrics.cases(session, *SH_WEEK, by, None, figure, now=gl.now())
            positions.evaluate(session, *SH_WEEK, now=gl.now())
    finally:
        _events.remove(gl.db.engine, "before_cursor_execute", caught)
    named = re.compile(r"\b(" + "|".join(EVALUATED_TABLES) + r")\.(\w+)")
    return {(EVALUATED_TABLES[t], c) for text in seen for t, c in named.findall(text)}


def _changed(value: Any, column: str) -> Any:
    """Another value of the column's kind (a grid that exists, for the grid: it is a foreign key)."""
    if column == "grid_code":
        return GRID_HB2 if value != GRID_HB2 else "330199001001001"
    if isinstance(value, bool) or value is None and column == "closed_on_time":
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, datetime):
        return value + timedelta(minutes=7)
    if value is None:
        return datetime(2026, 11, 24, 3, 0, tzinfo=UTC) if column.endswith("_at") else "x"
    return f"{value}9"


def test_every_column_the_evaluation_reads_is_held_to_the_history_by_the_audit(week):
    """Each figure can be recomputed from the recorded history: whatever column of a case or of its inbox rows
    the evaluation reads, changing it behind the history's back is named by `audit verify`."""
    read = _columns_read(week)
    assert {(Event, "opened_at"), (Event, "grid_code"), (Task, "completed_by"), (Task, "bpmn_id")} <= read
    read -= {(Event, "id"), (Task, "id"), (Task, "event_id")}  # the rows' identities
    with week.db.reading() as session:
        late = session.scalar(select(Event.id).where(Event.rework_count > 0))
        handle = session.scalar(
            select(Task.id).where(Task.event_id == late, Task.department_code.is_not(None))
        )
        verify = session.scalar(select(Task.id).where(Task.event_id == late, Task.bpmn_id == "verify"))
    [clean] = verification.audit_events(week, [late])
    assert clean.reasons == []
    unnoticed = []
    for model, column in sorted(read, key=lambda mc: (mc[0].__name__, mc[1])):
        rows = [late] if model is Event else [handle, verify]
        for row_id in rows:
            with week.db.engine.begin() as connection:
                before = connection.scalar(select(getattr(model, column)).where(model.id == row_id))
                connection.execute(
                    update(model).where(model.id == row_id).values({column: _changed(before, column)})
                )
            [audited] = verification.audit_events(week, [late])
            if not audited.reasons:
                unnoticed.append(f"{model.__tablename__}.{column} (row {row_id})")
            with week.db.engine.begin() as connection:
                connection.execute(update(model).where(model.id == row_id).values({column: before}))
    assert unnoticed == [], "columns the evaluation reads that the audit does not hold to the history"


def test_a_wrong_re_dispatch_is_charged_as_a_wrong_dispatch_too(gl, driver):
    """Dispatched to 城管 (sent back), re-dispatched to 司法所 (sent back again), then to 环卫所: three dispatches,
    two of them wrong — the first dispatch and the first re-dispatch — and the last one right."""
    case = driver.report("gw_hb1")
    driver.complete("intake", case, "accept", {"decision": "accept"})
    driver.complete("dispatcher", case, "dispatch", {"department": "DH-CG"})
    back = {"action": "send_back", "send_back_reason": "非本部门职责"}
    driver.complete("h_dh_cg", case, "handle", back)
    driver.complete("dispatcher", case, "reassign", {"department": "DH-SF", "reason": "改派"})
    driver.complete("h_dh_sf", case, "handle", back)
    driver.complete("dispatcher", case, "reassign", {"department": "DH-HW", "reason": "再次改派"})
    rows = {(r["position"], r["staff"]): r for r in gl.evaluate_positions("evaluator", *SH_WEEK)}
    dispatcher = rows["dispatcher", "dispatcher"]
    assert (dispatcher["dispatches"], dispatcher["misdispatches"]) == (3, 2)
    assert dispatcher["accurate_dispatch_rate"] == 0.3333
    [district] = gl.evaluate("evaluator", *SH_WEEK, by="district")
    assert (district["dispatches"], district["redispatches"], district["accurate_dispatch_rate"]) == (
        3,
        2,
        0.3333,
    )


def test_the_trend_counts_each_month_as_its_own_evaluation_in_one_statement(week):
    """The dashboard's trend: each month's 立案数 / 应结案数 / 结案数 / 按期结案数 equal the evaluation of that
    month alone, for a case reported in one month and settled in the next as well, in a single statement."""
    weeks = [(SH_WEEK[0] + timedelta(days=7 * i), SH_WEEK[1] + timedelta(days=7 * i)) for i in (-1, 0, 1)]
    week.report("gw_hb2", {"category": "1102", "grid": GRID_HB2, "description": "工资拖欠，请求协调处理"})
    week.complete("intake", week.inbox("intake", "claimable")[0][0]["id"], {"decision": "accept"})
    week.clock.set(SH_WEEK[1] + timedelta(days=3))  # next week: the open cases' limits run out in it
    expected = []
    for start, end in weeks:
        rows = week.evaluate("evaluator", start, end, by="district")
        expected.append(tuple(sum(r[k] for r in rows) for k in metrics.TREND_FIGURES))
    statements: list[str] = []

    def caught(_conn, _cursor, statement, *_args):
        statements.append(statement)

    _events.listen(week.db.engine, "before_cursor_execute", caught)
    try:
        with week.db.reading() as session:
            found = metrics.trend(session, weeks, now=week.now())
    finally:
        _events.remove(week.db.engine, "before_cursor_execute", caught)
    assert [tuple(r[k] for k in metrics.TREND_FIGURES) for r in found] == expected
    # this week: the fixture's four cases and the new one opened, three due and closed (two on time); next
    # week: the two still open fall due when their limits run out, none closed
    assert expected == [(0, 0, 0, 0), (5, 3, 3, 2), (0, 2, 0, 0)]
    assert len([s for s in statements if "events" in s]) == 1
    assert (found[1]["on_time_rate"], found[2]["closure_rate"]) == (round(2 / 3, 4), 0.0)


def test_reports_count_by_channel_and_a_started_instance_is_no_report(gl, driver):
    """上报数 by channel: a patrol's report (网格员上报) and a hotline call (公众举报); the patrol itself, an instance
    a grid worker started from its start form, is no report at all."""
    driver.report("gw_hb1")
    gl.report(
        "intake",
        {
            "category": "0101",
            "description": "市民来电：路边有一堆暴露垃圾",
            "channel": "hotline",
            "reporter_name": "周先生",
            "reporter_phone": "13812349999",
            "grid": "330199001001002",
        },
    )
    gl.start("gw_hb1", "patrol", {"grid": "330199001001001", "route": "湖滨路—柳岸街"})
    # a supervisor's report is a leader's assignment (领导交办) by default: no 核实, straight to intake
    assigned = gl.report(
        "supervisor", {"category": "0101", "description": "领导巡查发现路边垃圾", "grid": GRID_HB2}
    )
    assert driver.event(assigned["id"])["channel"] == "leader"
    assert driver.open_task(assigned["id"])["step"] == "accept"
    [district] = gl.evaluate("evaluator", *SH_WEEK, by="district")
    found = tuple(district[k] for k in ("reported", "reported_patrol", "reported_leader", "reported_public"))
    assert found == (3, 1, 1, 1)
    assert district["reported_by_channel"] == {"grid": 1, "hotline": 1, "leader": 1}, (
        "each channel the form offers"
    )
    by_grid = {r["group"]: r["reported_by_channel"] for r in gl.evaluate("evaluator", *SH_WEEK, by="grid")}
    assert by_grid == {"330199001001001": {"grid": 1}, "330199001001002": {"hotline": 1, "leader": 1}}
    with gl.db.reading() as session:
        public = metrics.cases(session, *SH_WEEK, "district", "330199", "reported_public")
    assert [gl.event_detail("admin", i)["channel"] for i in public] == ["hotline"]


def test_each_position_count_drills_into_the_cases_behind_it(week):
    """The week's position table: a count of steps opens the cases of those steps (a case checked twice is one
    case), by the same conditions as the count."""
    rows = {(r["position"], r["staff"]): r for r in week.evaluate_positions("evaluator", *SH_WEEK)}
    with week.db.reading() as session:

        def behind(staff: str, figure: str) -> list[int]:
            return positions.cases(session, *SH_WEEK, staff, figure)

        assert len(behind("intake", "accepts")) == rows["intake", "intake"]["accepts"] == 5
        assert len(behind("intake", "opened")) == rows["intake", "intake"]["opened"] == 4
        assert behind("intake", "voided") == []
        misdispatched = behind("dispatcher", "misdispatches")
        assert len(misdispatched) == rows["dispatcher", "dispatcher"]["misdispatches"] == 1
        assert len(behind("dispatcher", "dispatches")) == 3, "four dispatches of three cases"
        assert len(behind("leader", "closes")) == rows["shift_leader", "leader"]["closes"] == 3
        assert len(behind("gw_hb1", "reported")) == rows["supervisor", "gw_hb1"]["reported"] == 4
        assert len(behind("gw_hb1", "accepted_reports")) == 3
        assert len(behind("gw_hb1", "checks")) == 3, "four checks of three cases"
        assert behind("gw_hb2", "checks") == []
    assert week.event_detail("evaluator", misdispatched[0])["reassign_count"] == 1
    with pytest.raises(ValueError), week.db.reading() as session:
        positions.cases(session, *SH_WEEK, "intake", "nothing")


def test_each_score_falls_into_the_districts_band(week):
    """考核等级: by the lowest score of each band (90 / 80 / 60 by default), below the last a fail."""
    assert [
        metrics.band(s, {"excellent": 90, "good": 80, "pass": 60}) for s in (95, 90, 89.99, 60, 12.5)
    ] == [
        "excellent",
        "excellent",
        "good",
        "pass",
        "fail",
    ]
    assert metrics.band(None, {"pass": 60}) is None
    rows = week.evaluate("evaluator", *SH_WEEK, by="department")
    assert all(r["band"] == metrics.band(r["score"], {"excellent": 90, "good": 80, "pass": 60}) for r in rows)
    hw = _row(rows, "DH-HW")
    week.change_setting("admin", "score_bands", {"excellent": 100, "good": 99.5, "pass": hw["score"] + 0.01})
    assert _row(week.evaluate("evaluator", *SH_WEEK, by="department"), "DH-HW")["band"] == "fail"
    leader = next(r for r in week.evaluate_positions("evaluator", *SH_WEEK) if r["staff"] == "leader")
    assert (leader["composite"], leader["band"]) == (100.0, "excellent")
