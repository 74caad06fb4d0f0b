"""Step lights and sheets through Flask's test client: an accept step overdue before the case is opened is red
on the events list, the event page and the API's list; a department's sheet is on its handlers' inbox row and
task page (answered there), not on another department's; a platform step's sheet is on the board under its
role and on its role holders' inbox rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from web_support import PASSWORD, app_with_staff, at_handle, html, open_task, post, report, staff

from engine.app import Gridloop

STAFF = ("gw_hb1", "intake", "dispatcher", "h_dh_hw", "h_dh_cg", "supervisor", "admin")
# the accept step's limit (1 working hour) from Monday 09:00 Shanghai → 10:00 = 02:00 UTC
ACCEPT_DUE = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    """The app with intake, dispatch, two departments' handlers and a supervisor who can sign in."""
    yield from app_with_staff(tmp_path, STAFF)


@pytest.fixture
def gl(app: Any) -> Gridloop:
    """The app's engine (on a manual clock)."""
    return app.extensions["gridloop"]


def _row(page: str, code: str) -> str:
    """The table row of a list page that holds ``code``."""
    start = page.rindex("<tr", 0, page.index(code))
    return page[start : page.index("</tr>", start)]


def test_an_accept_step_overdue_before_opening_is_red_on_the_lists_and_the_event_page(app, gl):
    event = report(gl)
    accept = open_task(gl, event["id"])
    gl.clock.set(ACCEPT_DUE + timedelta(minutes=5))
    admin = staff(app, "admin")

    row = _row(html(admin.get("/events")), event["code"])
    assert "light-red" in row and "超时" in row and f"{accept['name']}环节" in row
    assert "无时限" not in row
    head = html(admin.get(f"/events/{event['id']}"))
    head = head[head.index("<h1>") : head.index("</h1>")]
    assert "light-red" in head and f"{accept['name']}环节" in head

    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}).get_json()
    listed = client.get("/api/v1/events", headers={"Authorization": f"Bearer {token['token']}"}).get_json()
    [item] = [i for i in listed["items"] if i["id"] == event["id"]]
    assert item["light"] == {
        "colour": "red",
        "percent": 108,
        "step": "accept",
        "step_name": accept["name"],
        "task": accept["id"],
    }

    assert gl.supervise()["issued"] == 1
    board = html(staff(app, "supervisor").get("/supervision"))
    section = board[board.index(f'data-department="intake@{accept["scope"]}"') :]
    section = section[: section.index("</section>")]
    assert "受理员" in section and event["code"] in section and "light-red" in section
    inbox = html(staff(app, "intake").get("/inbox?view=claimable"))
    [platform] = [s for s in gl.sheets("supervisor") if s["task_id"] == accept["id"]]
    assert f'class="sheet-card card-notice" href="/tasks/{accept["id"]}#sheet-{platform["id"]}"' in inbox


def test_a_departments_sheet_is_on_its_inbox_row_and_task_page_and_answered_there(app, gl):
    event_id = at_handle(gl)
    code = gl.event_detail("admin", event_id)["code"]
    handle = open_task(gl, event_id)
    sheet = gl.issue_sheet("supervisor", event_id, "DH-HW", "领导批示：请今日处置完毕")
    other = gl.issue_sheet("supervisor", event_id, "DH-CG", "请城管中队配合")
    handler = staff(app, "h_dh_hw")

    row = _row(html(handler.get("/inbox?view=claimable")), code)
    assert f'href="/tasks/{handle["id"]}#sheet-{sheet["id"]}"' in row and "领导督办 · 领导批示" in row
    assert f'data-sheet="{other["id"]}"' not in row, "another department's sheet is not on this row"
    assert "data-sheet" not in html(staff(app, "h_dh_cg").get("/inbox?view=claimable"))

    task_path = f"/tasks/{handle['id']}"
    page = html(handler.get(task_path))
    sheets = page[page.index('id="sheets"') : page.index("</section>", page.index('id="sheets"'))]
    assert (
        "本任务的督办单" in sheets and "领导批示：请今日处置完毕" in sheets and "请城管中队配合" not in sheets
    )
    reply_path = f"{task_path}/sheets/{sheet['id']}/reply"
    assert f'action="{reply_path}"' in sheets

    blank = post(handler, reply_path, {"reply": "  "}, page=task_path)
    assert blank.status_code == 400 and "此项为必填项" in html(blank)
    answered = post(handler, reply_path, {"reply": "已安排人员，今日清运"}, page=task_path)
    assert (answered.status_code, answered.headers["Location"]) == (303, f"{task_path}#sheet-{sheet['id']}")
    page = html(handler.get(task_path))
    assert "已安排人员，今日清运" in page and f'action="{reply_path}"' not in page
    refused = post(
        staff(app, "h_dh_cg"),
        f"/tasks/{handle['id']}/sheets/{sheet['id']}/reply",
        {"reply": "x"},
        page="/inbox",
    )
    assert refused.status_code == 404
