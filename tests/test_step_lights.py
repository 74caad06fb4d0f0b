"""Step limits wherever a case is listed, and platform steps supervised like departments (issue 12, point 2).

A platform step (a task with no department: 受理, 派遣, 核查 …) that runs out shows its light on every list of
cases — before the case is even opened, when the case itself has no limit yet — and gets a supervision sheet
charged to its role within its scope, which escalates like a department's and is cleared once the step is
done. A department's open sheets are on its inbox rows and task pages, and on no other department's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from test_joint_meeting import SUPPORT_ST_DUE, convene, joint_tasks, report_back, to_joint_meeting

from engine.audit import verification
from engine.errors import Forbidden, NotFound
from engine.reads.boards import supervision_board
from engine.reads.inbox import inbox_page
from engine.reads.tasks import task_page
from tests.conftest import Driver

# the accept step's limit (step_limits: 1 working hour) from Monday 09:00 Shanghai → 10:00 = 02:00 UTC
ACCEPT_DUE = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
# the verify step's limit (4 working hours) from Monday 09:00 → 15:00 Shanghai = 07:00 UTC
VERIFY_DUE = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def _inbox_rows(gl, username: str) -> list[dict]:
    """The rows of the user's own and claimable inbox views, as the inbox page reads them."""
    rows = []
    for view in ("mine", "claimable"):
        with gl.reading(username) as reader:
            rows += inbox_page(reader, view, per_page=100).rows
    return rows


def _platform_sheets(gl, username: str = "supervisor", status: str = "open") -> list[dict]:
    return [s for s in gl.sheets(username, status) if s["department"] is None and s["task_id"]]


def test_an_overdue_accept_step_is_the_light_the_case_is_listed_with(gl, driver: Driver):
    event_id = driver.report("gw_hb1")
    accept = driver.open_task(event_id, "accept")
    assert accept["due_at"] == ACCEPT_DUE
    [row] = gl.list_events("admin")[0]
    assert row["opened_at"] is None, "not yet opened: the case has no limit of its own"
    assert (row["light"].colour, row["light"].step) == ("green", "accept")

    gl.clock.set(ACCEPT_DUE + timedelta(minutes=1))
    [row] = gl.list_events("admin")[0]
    assert (row["light"].colour, row["light"].step, row["light"].task_id) == ("red", "accept", accept["id"])
    assert row["light"].step_name == accept["name"]

    # once accepted the case's own limit runs beside the dispatch step's; the worse of them is listed
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    gl.clock.set(ACCEPT_DUE + timedelta(minutes=31))  # half the dispatch step's hour, an eighth of the case's
    [row] = gl.list_events("admin")[0]
    assert row["light"].colour == "green" and row["light"].step == "dispatch"
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    [row] = gl.list_events("admin")[0]
    assert row["light"].colour == "green" and row["light"].step is None, "a tie goes to the case's own limit"


def test_a_red_platform_step_gets_a_sheet_for_its_role_that_escalates_and_is_cleared_when_done(gl, driver):
    event_id = driver.report("gw_hb1")
    accept = driver.open_task(event_id, "accept")
    gl.clock.set(ACCEPT_DUE)
    assert gl.supervise()["issued"] == 0, "a sheet only once past the step's due time"
    gl.clock.set(ACCEPT_DUE + timedelta(seconds=1))
    assert gl.supervise()["issued"] == 1
    assert gl.supervise()["issued"] == 0, "one sheet per red step"
    [sheet] = _platform_sheets(gl)
    assert (sheet["task_id"], sheet["kind"], sheet["card"]) == (accept["id"], "auto", "notice")
    assert (sheet["role"], sheet["scope"]) == ("intake", accept["scope"])
    # said as staff read it: the limit in the district's time, the unit and the role by name
    local_due = ACCEPT_DUE.astimezone(ZoneInfo("Asia/Shanghai"))
    assert sheet["reason"] == f"任务已超时（时限 {local_due:%Y-%m-%d %H:%M}），超时督办：受理（清河区受理员）"

    # on the intake clerk's inbox row, with a reply they may give; on the board under their role
    [row] = [r for r in _inbox_rows(gl, "intake") if r["id"] == accept["id"]]
    assert [(s["id"], s["can_reply"]) for s in row["sheets"]] == [(sheet["id"], True)]
    with gl.reading("supervisor") as reader:
        board = supervision_board(reader)
    [group] = [g for g in board["groups"] if g["role"] == "intake"]
    assert group["code"] == f"intake@{accept['scope']}"
    assert [r["id"] for r in group["rows"]] == [sheet["id"]]
    assert (group["rows"][0]["light"].colour, group["rows"][0]["light"].step) == ("red", "accept")

    # yellow card one working day after issue (Tuesday 10:00:01), red card after three (Thursday)
    yellow_at = datetime(2026, 11, 24, 2, 0, 1, tzinfo=UTC)
    assert gl.next_timer_due() == yellow_at
    gl.clock.set(yellow_at + timedelta(seconds=1))
    assert gl.supervise()["escalated"] == 1
    gl.clock.set(datetime(2026, 11, 26, 2, 0, 2, tzinfo=UTC))
    assert gl.supervise()["escalated"] == 1
    assert _platform_sheets(gl)[0]["card"] == "red"

    with pytest.raises(Forbidden):  # the dispatcher sees the case, but does not answer for the intake step
        gl.reply_to_sheet("dispatcher", sheet["id"], "不归我管")
    gl.reply_to_sheet("intake", sheet["id"], "今日值班人员不足，马上受理")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    assert _platform_sheets(gl) == [], "cleared as soon as the step is done, not at the case's closure"
    [cleared] = _platform_sheets(gl, status="cleared")
    assert cleared["card"] == "red" and cleared["cleared_at"] == gl.now()
    actions = [h["action"] for h in driver.event(event_id)["history"] if h["action"].startswith("sheet_")]
    assert actions == ["sheet_issued", "sheet_escalated", "sheet_escalated", "sheet_replied", "sheet_cleared"]
    assert gl.supervise()["escalated"] == 0
    assert verification.verify_all(gl)["mismatches"] == []


def test_a_platform_steps_sheet_is_for_the_holders_of_its_role_in_its_scope_only(gl, driver):
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    driver.complete("h_dh_hw", event_id, "handle", {"action": "done", "result": "已清运"})
    verify = driver.open_task(event_id, "verify")
    assert verify["due_at"] == VERIFY_DUE and verify["department"] is None
    gl.clock.set(VERIFY_DUE + timedelta(minutes=1))
    gl.supervise()
    [sheet] = _platform_sheets(gl)
    assert (sheet["task_id"], sheet["role"], sheet["scope"]) == (verify["id"], "grid_worker", verify["scope"])

    [row] = [r for r in _inbox_rows(gl, "gw_hb1") if r["id"] == verify["id"]]
    assert [s["id"] for s in row["sheets"]] == [sheet["id"]]
    assert all(r["sheets"] == [] for r in _inbox_rows(gl, "gw_hb2")), "another grid's worker: not theirs"
    with pytest.raises(NotFound):  # out of scope looks exactly like a sheet that does not exist
        gl.reply_to_sheet("gw_la1", sheet["id"], "不是我的网格")
    with gl.reading("gw_hb1") as reader:
        page = task_page(reader, verify["id"])
    assert [(s["id"], s["can_reply"]) for s in page["sheets"]] == [(sheet["id"], True)]

    driver.complete("gw_hb1", event_id, "verify", {"passed": True})
    assert _platform_sheets(gl) == []
    assert verification.verify_all(gl)["mismatches"] == []


def test_a_departments_sheet_is_on_its_own_rows_and_task_page_and_on_no_other_departments(gl, driver):
    event_id = to_joint_meeting(driver)
    convene(driver, event_id)
    report_back(driver, event_id, "QH-ZJ", datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    gl.clock.set(SUPPORT_ST_DUE + timedelta(minutes=30))
    gl.supervise()
    [late] = [s for s in gl.sheets("supervisor") if s["department"] == "QH-ST"]
    leader_sheet = gl.issue_sheet("supervisor", event_id, "DH-CG", "请配合部门今日反馈")
    tasks = joint_tasks(driver, event_id)

    [st_row] = [r for r in _inbox_rows(gl, "h_qh_st") if r["id"] == tasks["QH-ST"]["id"]]
    assert [(s["id"], s["card"], s["can_reply"]) for s in st_row["sheets"]] == [(late["id"], "notice", True)]
    [cg_row] = [r for r in _inbox_rows(gl, "h_dh_cg") if r["id"] == tasks["DH-CG"]["id"]]
    assert [(s["id"], s["kind"]) for s in cg_row["sheets"]] == [(leader_sheet["id"], "leader")]
    with gl.reading("h_dh_cg") as reader:
        page = task_page(reader, tasks["DH-CG"]["id"])
    assert [s["id"] for s in page["sheets"]] == [leader_sheet["id"]]
    with gl.reading("supervisor") as reader:  # who sees the task but does not answer for it may not reply
        assert [s["can_reply"] for s in task_page(reader, tasks["DH-CG"]["id"])["sheets"]] == [False]


def test_a_red_close_steps_sheet_is_cleared_once_when_the_close_closes_the_case(gl, driver):
    """The step's sheet is both the done step's and the closed case's: one clearing, one record."""
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    driver.complete("h_dh_hw", event_id, "handle", {"action": "done", "result": "已清运"})
    driver.complete("gw_hb1", event_id, "verify", {"passed": True})
    close = driver.open_task(event_id, "close")
    gl.clock.set(close["due_at"] + timedelta(seconds=1))
    assert gl.supervise()["issued"] == 1
    [sheet] = _platform_sheets(gl)
    assert sheet["task_id"] == close["id"]
    driver.complete("leader", event_id, "close", {"opinion": "同意"})
    assert _platform_sheets(gl) == []
    actions = [h["action"] for h in driver.event(event_id)["history"] if h["action"].startswith("sheet_")]
    assert actions == ["sheet_issued", "sheet_cleared"]
    assert verification.verify_all(gl)["mismatches"] == []
