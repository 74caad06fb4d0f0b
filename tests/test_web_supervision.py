"""Supervision through Flask's test client, on a real SQLite file: the board of sheets by department and card after
the engine's scan, a leader's sheet issued from the event page and answered there by the department."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from web_support import app_with_staff, at_handle, complete, html, post, staff

from engine.app import Gridloop

STAFF = ("gw_hb1", "intake", "dispatcher", "h_dh_hw", "h_dh_cg", "leader", "supervisor", "auditor", "admin")
# 0101 暴露垃圾 dispatched Monday 09:00 Shanghai: 4 working hours → 15:00 Shanghai = 07:00 UTC
HANDLE_DUE = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    """The app with supervisors, shift leaders and department handlers who can sign in."""
    yield from app_with_staff(tmp_path, STAFF)


@pytest.fixture
def gl(app: Any) -> Gridloop:
    """The app's engine (on a manual clock)."""
    return app.extensions["gridloop"]


def department_section(page: str, code: str) -> str:
    """The board's section of one department."""
    start = page.index(f'data-department="{code}"')
    return page[start : page.index("</section>", start)]


def sheet_item(page: str, sheet_id: int) -> str:
    """One sheet's list item."""
    start = page.index(f'data-sheet="{sheet_id}"')
    return page[start : page.index("</li>", start)]


def test_the_board_shows_an_overdue_departments_sheet_under_it_with_the_notice_card(app, gl):
    event_id = at_handle(gl)
    code = gl.event_detail("admin", event_id)["code"]
    supervisor = staff(app, "supervisor")
    assert "没有督办中的督办单" in html(supervisor.get("/supervision"))

    gl.clock.set(HANDLE_DUE + timedelta(minutes=1))
    assert gl.supervise()["issued"] == 1
    [sheet] = gl.sheets("supervisor")
    page = html(supervisor.get("/supervision"))
    department = department_section(page, "DH-HW")
    assert "东湖街道环卫所" in department and code in department
    item = sheet_item(department, sheet["id"])
    assert 'class="sheet sheet-notice"' in page
    assert re.search(r'<span class="sheet-card card-notice">督办</span>', item)
    assert "超时督办" in item and f"/events/{event_id}#sheet-{sheet['id']}" in item
    assert "没有已销号的督办单" in html(supervisor.get("/supervision?status=cleared"))

    gl.clock.set(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))  # a working day after the issue
    assert gl.supervise()["escalated"] == 1
    supervisor = staff(app, "supervisor")  # a day later: yesterday's sign-in (12 hours) has expired
    yellow = sheet_item(html(supervisor.get("/supervision")), sheet["id"])
    assert '<span class="sheet-card card-yellow">黄牌</span>' in yellow

    handler = html(staff(app, "h_dh_hw").get("/supervision"))
    assert code in department_section(handler, "DH-HW")
    assert code not in html(staff(app, "h_dh_cg").get("/supervision"))


def test_the_board_is_in_the_navigation_of_those_who_supervise_or_answer(app):
    for username in ("supervisor", "leader", "h_dh_hw", "admin"):
        assert 'href="/supervision"' in html(staff(app, username).get("/inbox")), username
    for username in ("gw_hb1", "intake"):
        assert 'href="/supervision"' not in html(staff(app, username).get("/inbox")), username


def test_a_leader_sheet_is_issued_from_the_event_page_and_answered_by_the_department(app, gl):
    event_id = at_handle(gl)
    supervisor, handler = staff(app, "supervisor"), staff(app, "h_dh_hw")
    event_path = f"/events/{event_id}"
    page = html(supervisor.get(event_path))
    assert f'action="/events/{event_id}/sheets"' in page
    assert '<option value="DH-HW" selected>' in page
    assert '/sheets"' not in html(handler.get(event_path)), "a handler issues no sheets"

    empty = post(supervisor, f"{event_path}/sheets", {"department": "DH-HW", "reason": "  "}, page=event_path)
    assert empty.status_code == 400
    reason_field = html(empty)[html(empty).index('id="field-reason"') :]
    assert "此项为必填项" in reason_field[: reason_field.index("</div>")]
    assert gl.sheets("supervisor") == []

    issued = post(
        supervisor,
        f"{event_path}/sheets",
        {"department": "DH-HW", "reason": "领导批示：请今日处置完毕"},
        page=event_path,
    )
    assert (issued.status_code, issued.headers["Location"]) == (303, f"{event_path}#sheets")
    [sheet] = gl.sheets("supervisor")
    assert (sheet["kind"], sheet["department"], sheet["issued_by"]) == ("leader", "DH-HW", "supervisor")
    shown = sheet_item(html(supervisor.get(event_path)), sheet["id"])
    assert "领导督办" in shown and "领导批示：请今日处置完毕" in shown and "督办员 罗斌" in shown
    assert "sheets/{}/reply".format(sheet["id"]) not in shown, (
        "the supervisor does not answer for the department"
    )

    reply_path = f"{event_path}/sheets/{sheet['id']}/reply"
    assert reply_path in sheet_item(html(handler.get(event_path)), sheet["id"])
    blank = post(handler, reply_path, {"reply": ""}, page=event_path)
    assert blank.status_code == 400 and "此项为必填项" in sheet_item(html(blank), sheet["id"])
    answered = post(handler, reply_path, {"reply": "已安排人员，今日内清运完毕"}, page=event_path)
    assert (answered.status_code, answered.headers["Location"]) == (303, f"{event_path}#sheets")
    [sheet] = gl.sheets("supervisor")
    assert (sheet["reply"], sheet["replied_by"]) == ("已安排人员，今日内清运完毕", "h_dh_hw")
    item = sheet_item(html(supervisor.get(event_path)), sheet["id"])
    assert "已安排人员，今日内清运完毕" in item and reply_path not in item
    board = html(supervisor.get("/supervision"))
    assert "已安排人员，今日内清运完毕" in sheet_item(board, sheet["id"])
    actions = [h["action"] for h in gl.event_detail("admin", event_id)["history"]]
    assert actions[-2:] == ["sheet_issued", "sheet_replied"]


def test_only_supervisors_and_shift_leaders_issue_and_only_the_department_replies(app, gl):
    event_id = at_handle(gl)
    event_path = f"/events/{event_id}"
    handler = staff(app, "h_dh_hw")
    refused = post(
        handler, f"{event_path}/sheets", {"department": "DH-HW", "reason": "自己督办自己"}, page=event_path
    )
    assert refused.status_code == 403
    leader = staff(app, "leader")
    assert (
        post(
            leader, f"{event_path}/sheets", {"department": "DH-HW", "reason": "请加快"}, page=event_path
        ).status_code
        == 303
    )
    [sheet] = gl.sheets("leader")
    auditor = staff(app, "auditor")
    assert f"/sheets/{sheet['id']}/reply" not in html(auditor.get(event_path))
    answer = post(
        auditor, f"{event_path}/sheets/{sheet['id']}/reply", {"reply": "审计员不能回复"}, page=event_path
    )
    assert answer.status_code == 403
    assert gl.sheets("leader")[0]["reply"] is None


def test_a_closed_event_offers_no_sheet_and_its_cleared_sheets_move_to_the_cleared_tab(app, gl):
    event_id = at_handle(gl)
    gl.clock.set(HANDLE_DUE + timedelta(minutes=1))
    gl.supervise()
    complete(gl, "h_dh_hw", event_id, "handle", {"action": "done", "result": "已清运"})
    complete(gl, "gw_hb1", event_id, "verify", {"passed": True})
    complete(gl, "leader", event_id, "close", {"opinion": "同意"})
    supervisor = staff(app, "supervisor")
    page = html(supervisor.get(f"/events/{event_id}"))
    assert "已销号" in page and f'action="/events/{event_id}/sheets"' not in page
    assert "没有督办中的督办单" in html(supervisor.get("/supervision"))
    code = gl.event_detail("admin", event_id)["code"]
    assert code in department_section(html(supervisor.get("/supervision?status=cleared")), "DH-HW")


def test_the_new_pages_need_sign_in_and_their_forms_a_csrf_token(app, gl):
    event_id = at_handle(gl)
    anonymous = app.test_client()
    for path in (
        "/supervision",
        f"/audit/events/{event_id}",
        f"/audit/events/{event_id}/history.csv",
        "/admin/settings",
        "/admin/calendar",
    ):
        response = anonymous.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next="), path
    supervisor, admin = staff(app, "supervisor"), staff(app, "admin")
    for client, path, data in (
        (supervisor, f"/events/{event_id}/sheets", {"department": "DH-HW", "reason": "没有令牌的督办"}),
        (admin, "/admin/settings", {"key": "working_hours", "value": '"09:00-17:00"'}),
        (admin, "/admin/calendar", {"day": "2027-01-01", "kind": "holiday"}),
    ):
        response = client.post(path, data=data)
        assert response.status_code == 400 and "安全令牌" in html(response), path
    assert gl.sheets("supervisor") == []
    assert gl.get_setting("working_hours") == "08:00-12:00,14:00-18:00"
    assert gl.calendar.overrides == {}


def test_a_reply_names_the_sheets_own_event_or_task_else_the_sheet_is_not_found(app, gl):
    event_id = at_handle(gl)
    other = at_handle(gl)
    gl.issue_sheet("leader", event_id, "DH-HW", "请加快")
    [sheet] = gl.sheets("leader")
    handle = next(t for t in gl.event_detail("admin", event_id)["tasks"] if t["status"] == "open")
    accept = next(t for t in gl.event_detail("admin", other)["tasks"] if t["step"] == "accept")
    handler = staff(app, "h_dh_hw")
    wrong = {
        f"/events/{other}/sheets/{sheet['id']}/reply": f"/events/{other}",
        f"/tasks/{accept['id']}/sheets/{sheet['id']}/reply": f"/tasks/{handle['id']}",
        f"/tasks/999999/sheets/{sheet['id']}/reply": f"/tasks/{handle['id']}",
    }
    for path, page in wrong.items():
        assert post(handler, path, {"reply": "已处置"}, page=page).status_code == 404, path
    assert gl.sheets("leader")[0]["reply"] is None
    right = post(
        handler,
        f"/tasks/{handle['id']}/sheets/{sheet['id']}/reply",
        {"reply": "已处置"},
        page=f"/tasks/{handle['id']}",
    )
    assert right.status_code == 303 and gl.sheets("leader")[0]["reply"] == "已处置"


def test_a_leaders_instruction_has_a_reply_deadline_with_its_own_light(app, gl):
    """领导批示: answered within the district's reply limit (a working day by default) of its issue; the board
    shows the deadline and its light — yellow near it, red past it — until the department replies."""
    event_id = at_handle(gl)
    sheet = gl.issue_sheet("supervisor", event_id, "DH-HW", "领导批示：请今日处置完毕")
    assert sheet["reply_due_at"] == gl.calendar.due_at(sheet["issued_at"], 1, "work_days")

    def board() -> str:  # signed in afresh: the clock moves past a session's idle limit
        return sheet_item(html(staff(app, "supervisor").get("/supervision")), sheet["id"])

    def reply_light() -> str:
        found = re.search(r'data-reply-light="(\w*)"', board())
        assert found, "the board shows the reply deadline"
        return found.group(1)

    assert reply_light() == "green" and "请于" in board()
    gl.clock.set(sheet["reply_due_at"] - timedelta(minutes=30))
    assert reply_light() == "yellow"
    gl.clock.set(sheet["reply_due_at"] + timedelta(minutes=1))
    assert reply_light() == "red"
    gl.reply_to_sheet("h_dh_hw", sheet["id"], "已安排清运")
    assert "data-reply-light" not in board()
    gl.change_setting("admin", "sheet_reply_limits", {"leader": [4, "work_hours"]})
    other = gl.issue_sheet("supervisor", at_handle(gl), "DH-HW", "请加快")
    assert other["reply_due_at"] == gl.calendar.due_at(other["issued_at"], 4, "work_hours")
