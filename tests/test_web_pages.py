"""The staff pages through Flask's test client, on a real SQLite file, with CSRF protection on.

Sign-in and lock-out, login-required redirects, scope, CSRF refusal, escaping, upload checks, claim/unclaim,
completing tasks through their forms (and the conflict of a stale form), time lights, searches, languages.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import GRID_HB1, GRID_LA1
from flask import render_template_string
from flask.testing import FlaskClient
from web_support import (
    PASSWORD,
    app_with_staff,
    complete,
    html,
    open_task,
    post,
    report,
    sign_in,
    staff,
    token,
)
from werkzeug.datastructures import MultiDict

from engine.app import Gridloop
from engine.org import people
from webui import create_app, formdata

STAFF = ("gw_hb1", "gw_la1", "intake", "dispatcher", "h_dh_hw", "leader")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    """The app on a fresh SQLite file: demo district, real passwords for STAFF, processes deployed, and an
    engine on a manual clock at Monday 09:00 in Shanghai."""
    yield from app_with_staff(tmp_path, STAFF)


@pytest.fixture
def gl(app: Any) -> Gridloop:
    """The app's engine."""
    return app.extensions["gridloop"]


# ------------------------------------------------------------------ sign-in, sessions, CSRF


PAGES = (
    "/",
    "/inbox",
    "/inbox?view=claimable",
    "/inbox?view=done",
    "/report",
    "/events",
    "/events/1",
    "/tasks/1",
    "/processes",
    "/processes/versions/1/diagram.bpmn",
)


def test_every_page_needs_sign_in_except_login_static_and_health(app, gl):
    report(gl)
    client = app.test_client()
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=/"), path
    assert client.get("/login").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/static/css/gridloop.css").status_code == 200


def test_every_page_answers_a_signed_in_user(app, gl):
    event = report(gl, address="湖滨路 18 号")
    client = staff(app, "intake")
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    assert client.get(f"/report/{event['id']}/done").status_code == 200
    for missing in ("/events/999", "/tasks/999", "/processes/versions/999/diagram.bpmn", "/attachments/nope"):
        assert client.get(missing).status_code == 404, missing
    assert client.get("/no-such-page").status_code == 404


def test_sign_in_lands_on_the_requested_page_and_sign_out_forgets_the_session(app):
    client = app.test_client()
    response = client.post(
        "/login",
        data={"username": "intake", "password": PASSWORD, "next": "/events", "csrf_token": token(client)},
    )
    assert (response.status_code, response.headers["Location"]) == (303, "/events")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    outside = client.post(
        "/login",
        data={
            "username": "intake",
            "password": PASSWORD,
            "next": "//evil.example/",
            "csrf_token": token(client),
        },
    )
    assert outside.headers["Location"] == "/inbox"
    assert client.post("/logout", data={"csrf_token": token(client, "/inbox")}).status_code == 303
    assert client.get("/inbox").status_code == 302


def test_secure_cookies_when_asked_for(monkeypatch, tmp_path):
    monkeypatch.setenv("GRIDLOOP_SECURE_COOKIES", "true")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3", "SECRET_KEY": "x"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    app.extensions["gridloop"].db.dispose()


def test_wrong_password_gets_a_clear_message(app):
    client = app.test_client()
    response = sign_in(client, "intake", "not-the-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in html(response)
    assert client.get("/inbox").status_code == 302
    unknown = sign_in(client, "nobody", "whatever")
    assert unknown.status_code == 401 and "用户名或密码错误" in html(unknown)


def test_five_failures_lock_the_account_with_its_unlock_time(app, gl):
    client = app.test_client()
    for _ in range(4):
        assert "用户名或密码错误" in html(sign_in(client, "intake", "wrong"))
    locked = html(sign_in(client, "intake", "wrong"))
    # locked for 15 minutes from Monday 09:00 Shanghai
    assert "暂时不能从此处登录" in locked and "2026-11-23 09:15" in locked
    still = sign_in(client, "intake", PASSWORD)
    assert still.status_code == 401 and "暂时不能从此处登录" in html(still)
    gl.clock.advance(timedelta(minutes=16))
    assert sign_in(client, "intake", PASSWORD).status_code == 303


def test_posts_without_a_csrf_token_are_refused(app, gl):
    event = report(gl)
    task = open_task(gl, event["id"])
    anonymous = app.test_client()
    assert anonymous.post("/login", data={"username": "intake", "password": PASSWORD}).status_code == 400
    client = staff(app, "intake")
    for path, data in (
        ("/report", {"category": "0101", "description": "没有令牌的上报", "grid": GRID_HB1}),
        (f"/tasks/{task['id']}/claim", {}),
        (f"/tasks/{task['id']}", {"decision": "accept"}),
        ("/language", {"language": "en"}),
        ("/logout", {}),
    ):
        response = client.post(path, data=data)
        assert response.status_code == 400, path
        assert "安全令牌" in html(response)
    assert open_task(gl, event["id"])["assignee"] is None
    assert gl.list_events("admin")[1] == 1
    assert post(client, f"/tasks/{task['id']}/claim", {}, page="/inbox").status_code == 303


def test_security_headers_allow_only_own_scripts(app):
    response = app.test_client().get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


# ------------------------------------------------------------------ scope


def test_a_grid_worker_cannot_open_another_grids_event_or_task(app, gl):
    other = report(gl, "gw_la1", grid=GRID_LA1, description="柳岸社区路灯损坏，夜间无照明")
    own = report(gl, "gw_hb1")
    task = open_task(gl, other["id"])
    client = staff(app, "gw_hb1")
    assert client.get(f"/events/{other['id']}").status_code == 404
    assert client.get(f"/tasks/{task['id']}").status_code == 404
    assert post(client, f"/tasks/{task['id']}/claim", {}, page="/inbox").status_code == 404
    listing = html(client.get("/events"))
    assert own["code"] in listing and other["code"] not in listing
    assert client.get(f"/events/{own['id']}").status_code == 200


def test_a_user_who_may_see_a_task_but_not_work_it_gets_no_form_and_a_refusal(app, gl):
    event = report(gl)
    task = open_task(gl, event["id"])
    client = staff(app, "gw_hb1")
    page = client.get(f"/tasks/{task['id']}")
    assert page.status_code == 200 and "schema-form" not in html(page)
    response = post(client, f"/tasks/{task['id']}", {"decision": "accept"})
    assert response.status_code == 403 and f"任务 {task['id']}（受理）不在您的待办范围内" in html(response)
    assert open_task(gl, event["id"])["id"] == task["id"]


# ------------------------------------------------------------------ reporting


def test_report_through_the_form_shows_the_new_code_and_escapes_what_was_typed(app, gl):
    client = staff(app, "gw_hb1")
    page = html(client.get("/report"))
    assert f'<option value="{GRID_HB1}" selected>' in page
    assert '<optgroup label="市容环境">' in page
    payload = "<script>alert(1)</script> 垃圾堆放"
    response = post(
        client,
        "/report",
        {
            "category": "0101",
            "description": payload,
            "grid": GRID_HB1,
            "address": "湖滨路 18 号",
            "location.lat": "30.25",
            "location.lng": "120.16",
            "photos": (io.BytesIO(PNG), "scene.png"),
        },
    )
    assert response.status_code == 303
    done = client.get(response.headers["Location"])
    event = gl.list_events("admin")[0][0]
    assert event["code"] in html(done) and f"/events/{event['id']}" in html(done)
    assert event["location"] == {"lat": 30.25, "lng": 120.16}
    page = html(client.get(f"/events/{event['id']}"))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 垃圾堆放" in page
    photo = gl.event_detail("admin", event["id"])["history"][0]["data"]["report"]["photos"][0]
    assert f"/attachments/{photo}" in page
    image = client.get(f"/attachments/{photo}")
    assert (image.status_code, image.mimetype, image.data) == (200, "image/png", PNG)


@pytest.mark.parametrize(
    ("name", "content"), [("setup.exe", b"MZ\x90\x00" + b"\x00" * 60), ("notes.jpg", "这其实是文本".encode())]
)
def test_a_bad_upload_is_refused_next_to_its_field(app, gl, name, content):
    client = staff(app, "gw_hb1")
    response = post(
        client,
        "/report",
        {
            "category": "0101",
            "description": "有人上传了错误的文件",
            "grid": GRID_HB1,
            "photos": (io.BytesIO(content), name),
        },
    )
    assert response.status_code == 400
    page = html(response)
    field = page[page.index('id="field-photos"') :]
    assert f"{name}：只接受 JPEG、PNG、GIF、WebP 图片或 PDF 文件" in field[: field.index("</div>\n")]
    assert "有人上传了错误的文件" in page
    assert gl.list_events("admin")[1] == 0


def test_report_errors_come_back_next_to_their_fields_with_what_was_typed(app, gl):
    client = staff(app, "gw_hb1")
    response = post(
        client,
        "/report",
        {
            "category": "0101",
            "description": "短",
            "grid": GRID_HB1,
            "location.lat": "95",
            "location.lng": "abc",
        },
    )
    assert response.status_code == 400
    page = html(response)
    assert "至少需要 5 个字符" in page[page.index('id="field-description"') :]
    assert "不能大于 90" in page[page.index('id="field-location.lat"') :]
    assert 'value="abc"' in page
    assert gl.list_events("admin")[1] == 0


# ------------------------------------------------------------------ the inbox, claiming, completing


def test_claim_and_unclaim_from_the_inbox(app, gl):
    event = report(gl)
    task = open_task(gl, event["id"])
    intake = staff(app, "intake")
    claimable = html(intake.get("/inbox?view=claimable"))
    assert event["code"] in claimable and "暴露垃圾" in claimable and "湖滨社区第一网格" in claimable
    response = post(intake, f"/tasks/{task['id']}/claim", {"next": "/inbox?view=claimable"}, page="/inbox")
    assert (response.status_code, response.headers["Location"]) == (303, "/inbox?view=claimable")
    assert "已认领" in html(intake.get("/inbox?view=claimable"))
    mine = html(intake.get("/inbox"))
    assert event["code"] in mine and f"/tasks/{task['id']}/unclaim" in mine
    assert open_task(gl, event["id"])["assignee"] == "intake"
    again = post(intake, f"/tasks/{task['id']}/claim", {}, page="/inbox")
    assert again.status_code == 303
    assert f"任务 {task['id']} 已由您认领" in html(intake.get(again.headers["Location"]))
    response = post(intake, f"/tasks/{task['id']}/unclaim", {}, page="/inbox")
    assert response.status_code == 303
    assert open_task(gl, event["id"])["assignee"] is None
    assert event["code"] in html(intake.get("/inbox?view=claimable"))


def test_nav_counts_show_my_tasks_and_tasks_to_claim(app, gl):
    first, second = report(gl), report(gl)
    gl.claim("intake", open_task(gl, first["id"])["id"])
    page = html(staff(app, "intake").get("/events"))
    assert 'title="我的待办">我的 1<' in page and 'title="可认领">可认领 1<' in page
    assert second["code"]


def test_the_whole_loop_through_the_task_forms(app, gl):
    event = report(gl)
    intake, dispatcher = staff(app, "intake"), staff(app, "dispatcher")
    handler, worker, leader = staff(app, "h_dh_hw"), staff(app, "gw_hb1"), staff(app, "leader")

    def complete(client: FlaskClient, data: dict[str, Any]) -> None:
        task = open_task(gl, event["id"])
        page = client.get(f"/tasks/{task['id']}")
        assert page.status_code == 200
        response = post(client, f"/tasks/{task['id']}", data)
        assert response.status_code == 303, html(response)
        assert response.headers["Location"] == "/inbox"
        assert f"已提交：{event['code']} {task['name']}" in html(client.get("/inbox"))

    complete(intake, {"decision": "accept", "note": "信息完整"})
    dispatch = open_task(gl, event["id"])
    assert '<option value="DH-HW" selected>' in html(dispatcher.get(f"/tasks/{dispatch['id']}"))
    complete(dispatcher, {"department": "DH-HW", "instructions": "请按时限处置"})
    complete(handler, {"action": "done", "result": "已清运完毕", "photos": (io.BytesIO(PNG), "after.png")})
    complete(worker, {"passed": "true", "note": "现场已处置到位"})
    complete(leader, {"opinion": "同意结案"})
    complete(intake, {"satisfaction": "satisfied"})

    detail = gl.event_detail("admin", event["id"])
    assert (detail["state"], detail["satisfaction"], detail["completed"]) == ("closed", "satisfied", True)
    forms = [h["data"]["form"] for h in detail["history"] if h["action"] == "complete"]
    assert {"passed": True, "note": "现场已处置到位"}.items() <= forms[3].items()
    assert len(forms[2]["photos"]) == 1
    page = html(leader.get(f"/events/{event['id']}"))
    assert "已结案" in page and "满意" in page and "按期结案" in page
    assert "已清运完毕" in page and "东湖街道环卫所" in page
    done = html(intake.get("/inbox?view=done"))
    assert done.count(event["code"]) == 2


def test_form_errors_appear_next_to_their_fields_and_keep_what_was_typed(app, gl):
    event = report(gl)
    task = open_task(gl, event["id"])
    client = staff(app, "intake")
    response = post(client, f"/tasks/{task['id']}", {"decision": "reject", "note": "我写的备注"})
    assert response.status_code == 400
    page = html(response)
    reason = page[page.index('id="field-reason"') :]
    assert "此项为必填项" in reason[: reason.index("</div>")]
    assert "我写的备注" in page and 'value="reject" checked' in page
    assert open_task(gl, event["id"])["id"] == task["id"]


def test_a_stale_form_gets_a_conflict_page_that_keeps_what_was_typed(app, gl):
    event = report(gl)
    task = open_task(gl, event["id"])
    client = staff(app, "intake")
    stale_token = token(client, f"/tasks/{task['id']}")
    gl.complete("intake", task["id"], {"decision": "accept", "note": "在另一个窗口已受理"})
    response = client.post(
        f"/tasks/{task['id']}",
        data={"decision": "accept", "note": "我在旧页面上输入的备注", "csrf_token": stale_token},
    )
    assert response.status_code == 409
    page = html(response)
    assert "该任务已被他人办理或认领" in page
    assert "我在旧页面上输入的备注" in page
    assert "此任务已由 受理员 林晓" in page


def test_a_task_claimed_by_someone_else_cannot_be_completed(app, gl):
    event = report(gl)
    task = open_task(gl, event["id"])
    with gl.db.unit_of_work() as session:
        people.add_user(session, "intake2", "受理员 二", PASSWORD)
        people.grant_role(session, "intake2", "intake", "330199")
    gl.invalidate_org()
    other = staff(app, "intake2")
    page_token = token(other, f"/tasks/{task['id']}")
    gl.claim("intake", task["id"])
    response = other.post(f"/tasks/{task['id']}", data={"decision": "accept", "csrf_token": page_token})
    assert response.status_code == 409
    assert open_task(gl, event["id"])["status"] == "open"


# ------------------------------------------------------------------ time lights, searches, processes


def test_time_lights_colour_the_inbox_and_filter_it(app, gl):
    event = report(gl)
    gl.complete("intake", open_task(gl, event["id"])["id"], {"decision": "accept"})
    gl.complete("dispatcher", open_task(gl, event["id"])["id"], {"department": "DH-HW"})
    client = staff(app, "h_dh_hw")
    # 0101: 4 working hours from Monday 09:00 → due 15:00; 80 % used at 14:12, overdue after 15:00
    assert "light-green" in html(client.get("/inbox?view=claimable"))
    gl.clock.advance(timedelta(hours=5, minutes=20))
    page = html(client.get("/inbox?view=claimable"))
    assert "light-yellow" in page and "临期" in page
    assert event["code"] in html(client.get("/inbox?view=claimable&colour=yellow"))
    assert event["code"] not in html(client.get("/inbox?view=claimable&colour=red"))
    gl.clock.advance(timedelta(hours=1))
    assert event["code"] in html(client.get("/inbox?view=claimable&colour=red&sort=-due"))
    assert "超时" in html(client.get(f"/events/{event['id']}"))


def test_a_four_colour_scheme_from_the_settings_colours_lights_and_filters(app, gl):
    gl.change_setting("admin", "time_lights", [["blue", 0], ["green", 0.5], ["orange", 0.9], ["red", 1.0]])
    event = report(gl)
    gl.complete("intake", open_task(gl, event["id"])["id"], {"decision": "accept"})
    gl.complete("dispatcher", open_task(gl, event["id"])["id"], {"department": "DH-HW"})
    client = staff(app, "h_dh_hw")
    page = html(client.get("/inbox?view=claimable"))
    assert "light-blue" in page and "充裕" in page
    assert '<option value="orange"' in page and '<option value="yellow"' not in page
    # 90 % of 4 working hours from 09:00 is 3.6 h: 12:00 plus 36 minutes after lunch
    gl.clock.advance(timedelta(hours=5, minutes=40))
    assert event["code"] in html(client.get("/inbox?view=claimable&colour=orange"))


def test_the_inbox_pages_through_many_tasks(app, gl):
    for n in range(23):
        report(gl, description=f"第 {n} 处暴露垃圾，需要清运")
    client = staff(app, "intake")
    first = html(client.get("/inbox?view=claimable"))
    assert "第 1 / 2 页，共 23 条" in first and "page=2" in first
    second = html(client.get("/inbox?view=claimable&page=2"))
    assert second.count('class="actions"') == 3
    sorted_second = html(client.get("/inbox?view=claimable&page=2&sort=due&grid=330199001"))
    assert "第 2 / 2 页，共 23 条" in sorted_second


def test_events_are_searched_by_code_words_state_category_grid_and_date(app, gl):
    first = report(gl)
    second = report(gl, "gw_la1", grid=GRID_LA1, category="0301", description="工地夜间施工噪音扰民")
    gl.complete("intake", open_task(gl, first["id"])["id"], {"decision": "reject", "reason": "重复上报"})
    client = staff(app, "intake")

    def found(query: str) -> set[str]:
        page = html(client.get(f"/events?{query}"))
        return {code for code in (first["code"], second["code"]) if code in page}

    assert found("") == {first["code"], second["code"]}
    assert found(f"code={second['code']}") == {second["code"]}
    assert found(f"code={second['code'].lower()}") == {second["code"]}
    assert found(f"code={second['code'][:9]}") == {first["code"], second["code"]}  # the day's codes
    assert found(f"code={second['code'][-6:]}") == set()  # a code's end is not its beginning
    assert found("text=噪音") == {second["code"]}
    assert found("state=rejected") == {first["code"]}
    assert found("category=0301") == {second["code"]}
    assert found(f"grid={GRID_LA1}") == {second["code"]}
    assert found("from=2026-11-23&to=2026-11-23") == {first["code"], second["code"]}
    assert found("from=2026-11-24") == set()
    assert found("to=2026-11-22") == set()


def test_the_event_page_shows_holders_timeline_and_diagram_marks(app, gl):
    event = report(gl)
    gl.complete("intake", open_task(gl, event["id"])["id"], {"decision": "accept", "note": "予以受理"})
    page = html(staff(app, "dispatcher").get(f"/events/{event['id']}"))
    dispatch = open_task(gl, event["id"])
    assert f"/tasks/{dispatch['id']}" in page and "派遣员 · " in page
    marks = re.search(r'data-done="([^"]*)" data-current="([^"]*)"', page)
    assert json.loads(marks.group(1).replace("&#34;", '"')) == ["start_report", "accept"]
    assert json.loads(marks.group(2).replace("&#34;", '"')) == ["dispatch"]
    assert "/processes/versions/1/diagram.bpmn" in page
    assert "予以受理" in page and "受理员 林晓" in page


def test_the_process_page_lists_versions_with_their_instances_and_diagrams(app, gl):
    report(gl)
    report(gl)
    client = staff(app, "intake")
    page = html(client.get("/processes"))
    assert "grid_event" in page and "2 个事件" in page and 'class="bpmn-diagram"' in page
    diagram = client.get("/processes/versions/1/diagram.bpmn")
    assert diagram.mimetype == "application/xml"
    assert b"<bpmndi:BPMNDiagram" in diagram.data and b'id="grid_event"' in diagram.data


# ------------------------------------------------------------------ languages and forms


def test_switching_to_english_is_kept_for_the_user(app, gl):
    client = staff(app, "intake")
    assert "待办" in html(client.get("/inbox"))
    response = post(client, "/language", {"language": "en", "next": "/events"}, page="/inbox")
    assert (response.status_code, response.headers["Location"]) == (303, "/events")
    page = html(client.get("/inbox"))
    assert "My tasks" in page and 'lang="en"' in page and "我的待办" not in page
    assert gl.user_language("intake") == "en"
    again = staff(app, "intake")
    assert "My tasks" in html(again.get("/inbox"))
    assert "Wrong username or password" in html(sign_in(again, "intake", "wrong"))
    post(again, "/language", {"language": "zh"}, page="/inbox")
    assert gl.user_language("intake") == "zh"


SCHEMA = {
    "type": "object",
    "required": ["kind", "ok"],
    "properties": {
        "kind": {
            "type": "string",
            "title": "种类",
            "oneOf": [{"const": "a", "title": "甲"}, {"const": "b", "title": "乙"}],
        },
        "tags": {"type": "array", "title": "标签", "items": {"type": "string", "enum": ["x", "y", "z"]}},
        "count": {"type": "integer", "title": "数量"},
        "ratio": {"type": "number", "title": "比例"},
        "ok": {"type": "boolean", "title": "通过"},
        "urgent": {"type": "boolean", "title": "紧急"},
        "day": {"type": "string", "format": "date", "title": "日期"},
        "at": {"type": "string", "format": "date-time", "title": "时间"},
        "story": {"type": "string", "title": "经过", "maxLength": 2000},
        "name": {"type": "string", "title": "名称", "maxLength": 50},
    },
}


def test_fields_are_drawn_from_the_schema_and_submissions_typed_by_it(app, gl):
    form = MultiDict(
        [
            ("kind", "b"),
            ("tags", "x"),
            ("tags", "z"),
            ("count", "3"),
            ("ratio", "2.5"),
            ("ok", "false"),
            ("day", "2026-11-23"),
            ("at", "2026-11-23T09:30"),
            ("story", "  很长的经过  "),
            ("name", ""),
        ]
    )
    parsed = formdata.parse(SCHEMA, form, MultiDict(), None, gl.calendar.timezone)
    assert parsed.data == {
        "kind": "b",
        "tags": ["x", "z"],
        "count": 3,
        "ratio": 2.5,
        "ok": False,
        "urgent": False,
        "day": "2026-11-23",
        "at": "2026-11-23T09:30:00+08:00",
        "story": "很长的经过",
    }
    assert (
        formdata.parse(SCHEMA, MultiDict([("count", "三")]), MultiDict(), None, gl.calendar.timezone).data[
            "count"
        ]
        == "三"
    )
    with app.test_request_context("/"):
        page = render_template_string(
            '{% from "macros/forms.html" import fields %}{{ fields(schema, values, {}) }}',
            schema=SCHEMA,
            values=parsed.values,
        )
    assert 'type="radio" name="kind" value="b" checked required' in page
    assert 'type="checkbox" name="tags" value="z" checked' in page
    assert 'type="checkbox" name="tags" value="y"' in page and 'name="tags" value="y" checked' not in page
    assert 'type="number" id="f-count" name="count" value="3" step="1"' in page
    assert 'step="any"' in page
    assert 'type="radio" name="ok" value="false" checked' in page
    assert 'type="checkbox" id="f-urgent" name="urgent" value="true">' in page
    assert 'type="date" id="f-day" name="day" value="2026-11-23"' in page
    assert 'type="datetime-local" id="f-at" name="at" value="2026-11-23T09:30"' in page
    assert '<textarea id="f-story" name="story"' in page
    assert '<input type="text" id="f-name" name="name" value="" maxlength="50">' in page


def test_the_event_page_shows_the_level_path_the_handling_limit_and_the_report_back(app, gl):
    """A dispute the community reported up to the town, whose justice office reported back: the page says
    社区 → 镇街 (逐级上报), when the department's handling limit started and ends, and when it reported back."""
    event_id = report(gl, category="1101", description="楼上楼下噪音引发邻里纠纷，多次调解未果")["id"]
    complete(gl, "intake", event_id, "accept", {"decision": "accept"})
    up = {"dispatch_action": "report_up", "dispatch_reason": "本级调解未果，需上级协调"}
    complete(gl, "dispatcher_hb", event_id, "dispatch", up)
    assign = {"dispatch_action": "assign", "department": "DH-SF", "instructions": "请司法所组织调解"}
    complete(gl, "dispatcher_dh", event_id, "dispatch", assign)
    page = html(staff(app, "dispatcher").get(f"/events/{event_id}"))
    levels = re.search(r"<dd data-levels>(.*?)</dd>", page, re.S)
    assert levels and re.sub(r"<[^>]+>|\s+", "", levels.group(1)) == "社区→镇街逐级上报"
    assert "data-handling" in page and "data-handled" not in page, "not yet reported back"
    complete(gl, "h_dh_sf", event_id, "handle", {"action": "done", "result": "司法所组织双方调解，达成协议"})
    page = html(staff(app, "dispatcher").get(f"/events/{event_id}"))
    handled = re.search(r"<dd data-handled>(.*?)</dd>", page, re.S)
    assert handled and handled.group(1).strip().endswith("按时反馈")
    event = gl.event_detail("admin", event_id)
    assert (event["opened_level"], event["handling_level"]) == ("community", "town")
