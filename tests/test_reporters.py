"""Public reporters kept (issue 12, point 3): a hotline or WeChat report carries its caller's name and phone and
the channel's work-order number; they are stored whole (columns, process data, history), shown masked to those
who do not need them and whole to those who do; the follow-up says whom to call; the channels offered and
whether they may be self-handled come from the report form."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import GRID_HB1, TINY_PNG
from playwright.sync_api import expect
from web_support import app_with_staff, html, post, staff

from engine.errors import ValidationFailed
from engine.reads import contacts
from engine.reads.report import report_form
from webui.i18n import field_messages

pytest_plugins = ["browser_support"]

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
CALLER = {"reporter_name": "张三丰", "reporter_phone": "13812345678", "channel_ref": "12345-20261123-0042"}
HOTLINE = {
    "category": "0101",
    "description": "市民来电：小区门口有垃圾堆放，无人清运",
    "grid": GRID_HB1,
    "channel": "hotline",
    **CALLER,
}
WHOLE_NAME, WHOLE_PHONE = CALLER["reporter_name"], CALLER["reporter_phone"]
MASKED_NAME, MASKED_PHONE = "张**", "138****5678"
STAFF = ("intake", "dispatcher", "gw_hb1", "h_dh_hw", "leader", "auditor", "admin", "supervisor")
PHONE_MESSAGE = "请填写 11 位手机号"


@pytest.fixture
def app(tmp_path: Path, backend: str) -> Iterator[Any]:
    """The web app with the staff of the loop signed in by password, on each configured database."""
    yield from app_with_staff(tmp_path, STAFF, backend)


@pytest.fixture
def gl(app: Any) -> Any:
    """The app's engine."""
    return app.extensions["gridloop"]


def open_task(gl: Any, event_id: int, step: str) -> dict[str, Any]:
    """The event's one open task, which must be ``step``."""
    tasks = [t for t in gl.event_detail("admin", event_id)["tasks"] if t["status"] == "open"]
    assert [t["step"] for t in tasks] == [step]
    return tasks[0]


def to_follow_up(gl: Any, event_id: int) -> dict[str, Any]:
    """Drive a public report through 核实, 受理, 派遣, 处置, 核查 and 结案 to its open follow-up (回访)."""
    photo = gl.upload("h_dh_hw", "done.png", TINY_PNG).id
    for step, who, data in (
        ("check_exists", "gw_hb1", {"exists": True, "note": "现场属实"}),
        ("accept", "intake", {"decision": "accept"}),
        ("dispatch", "dispatcher", {"department": "DH-HW"}),
        ("handle", "h_dh_hw", {"action": "done", "result": "已清运完毕", "photos": [photo]}),
        ("verify", "gw_hb1", {"passed": True}),
        ("close", "leader", {"opinion": "同意结案"}),
    ):
        gl.complete(who, open_task(gl, event_id, step)["id"], data)
    return open_task(gl, event_id, "follow_up")


def api_token(client: Any, username: str) -> dict[str, str]:
    """The Authorization header of a bearer token for ``username``."""
    answer = client.post("/api/v1/auth/token", json={"username": username, "password": "web-test-password"})
    assert answer.status_code == 200, answer.get_json()
    return {"Authorization": f"Bearer {answer.get_json()['token']}"}


# ------------------------------------------------------------------ stored whole


def test_a_hotline_report_keeps_its_caller_in_the_columns_the_process_data_and_the_history(gl):
    event_id = gl.report("intake", HOTLINE)["id"]

    event = gl.event_detail("admin", event_id)
    assert (event["reporter_name"], event["reporter_phone"], event["channel_ref"]) == (
        WHOLE_NAME,
        WHOLE_PHONE,
        CALLER["channel_ref"],
    )
    assert event["reporter"] == "intake", "who entered it is kept apart from the caller"
    report = event["history"][0]
    assert report["action"] == "report" and report["data"]["report"] | CALLER == report["data"]["report"]
    check = open_task(gl, event_id, "check_exists")
    assert gl.task_detail("intake", check["id"])["data"]["reporter_phone"] == WHOLE_PHONE


@pytest.mark.parametrize("phone", ["13812345678", "0571-88001234", "057188001234", "010-12345678"])
def test_mainland_mobiles_and_landlines_are_taken(gl, phone):
    event_id = gl.report("intake", {**HOTLINE, "reporter_phone": phone})["id"]
    assert gl.event_detail("admin", event_id)["reporter_phone"] == phone


@pytest.mark.parametrize("phone", ["12345", "23812345678", "138123456789", "1381234567a", "+8613812345678"])
def test_a_bad_phone_is_a_field_error_in_chinese_and_creates_nothing(gl, phone):
    with pytest.raises(ValidationFailed) as caught:
        gl.report("intake", {**HOTLINE, "reporter_phone": phone})
    assert list(caught.value.errors) == ["reporter_phone"]
    assert PHONE_MESSAGE in field_messages(caught.value.errors, "zh")["reporter_phone"][0]
    assert gl.list_events("admin") == ([], 0)


# ------------------------------------------------------------------ web form and API


def test_the_web_form_takes_a_hotline_callers_contact_and_refuses_a_bad_phone_by_its_field(app, gl):
    client = staff(app, "intake")
    form = {k: v for k, v in HOTLINE.items()}

    refused = post(client, "/report", {**form, "reporter_phone": "1381234"})
    assert refused.status_code == 400
    page = html(refused)
    assert 'id="field-reporter_phone"' in page and PHONE_MESSAGE in page
    assert 'value="张三丰"' in page, "the form comes back as typed"
    assert gl.list_events("admin") == ([], 0)

    reported = post(client, "/report", form)
    assert reported.status_code == 303
    (event,), _total = gl.list_events("admin")
    assert (event["channel"], event["reporter_name"], event["reporter_phone"], event["channel_ref"]) == (
        "hotline",
        WHOLE_NAME,
        WHOLE_PHONE,
        CALLER["channel_ref"],
    )


def test_the_api_takes_the_callers_contact_masks_it_for_others_and_refuses_a_bad_phone(app, gl):
    client = app.test_client()
    refused = client.post(
        "/api/v1/events", json={**HOTLINE, "reporter_phone": "555"}, headers=api_token(client, "intake")
    )
    assert refused.status_code == 400
    assert PHONE_MESSAGE in refused.get_json()["errors"]["reporter_phone"][0]
    assert gl.list_events("admin") == ([], 0)

    created = client.post("/api/v1/events", json=HOTLINE, headers=api_token(client, "intake"))
    assert created.status_code == 201
    body = created.get_json()
    assert (body["reporter_name"], body["reporter_phone"], body["channel_ref"]) == (
        WHOLE_NAME,
        WHOLE_PHONE,
        CALLER["channel_ref"],
    )
    assert body["history"][0]["data"]["report"]["reporter_phone"] == WHOLE_PHONE

    seen = client.get(f"/api/v1/events/{body['id']}", headers=api_token(client, "dispatcher")).get_json()
    assert (seen["reporter_name"], seen["reporter_phone"]) == (MASKED_NAME, MASKED_PHONE)
    assert seen["channel_ref"] == CALLER["channel_ref"], "the work-order number is not personal"
    assert WHOLE_PHONE not in json.dumps(seen, ensure_ascii=False)
    listed = client.get("/api/v1/events", headers=api_token(client, "dispatcher")).get_json()
    assert listed["items"][0]["reporter_phone"] == MASKED_PHONE
    task = open_task(gl, body["id"], "check_exists")
    as_worker = client.get(f"/api/v1/tasks/{task['id']}", headers=api_token(client, "gw_hb1")).get_json()
    assert as_worker["event"]["reporter_phone"] == MASKED_PHONE
    assert as_worker["data"]["reporter_phone"] == MASKED_PHONE


# ------------------------------------------------------------------ masking per role


def test_masking_is_one_function_for_names_phones_and_nested_data():
    assert contacts.mask_name("张三丰") == "张**" and contacts.mask_name("李") == "*"
    assert contacts.mask_phone("13812345678") == MASKED_PHONE
    assert contacts.mask_phone("0571-88001234") == "057****1234"
    data = {
        "report": {"reporter_phone": WHOLE_PHONE, "grid": GRID_HB1},
        "changes": {"reporter_name": [None, "王五"]},
    }
    assert contacts.masked(data) == {
        "report": {"reporter_phone": MASKED_PHONE, "grid": GRID_HB1},
        "changes": {"reporter_name": [None, "王*"]},
    }
    assert data["report"]["reporter_phone"] == WHOLE_PHONE, "the original is left whole"


@pytest.mark.parametrize(
    ("username", "whole"),
    [
        ("intake", True),
        ("leader", True),
        ("supervisor", True),
        ("admin", True),
        ("dispatcher", False),
        ("gw_hb1", False),
    ],
)
def test_the_event_page_shows_the_caller_as_reporter_and_the_clerk_as_who_entered_it(
    app, gl, username, whole
):
    event_id = gl.report("intake", HOTLINE)["id"]
    page = html(staff(app, username).get(f"/events/{event_id}"))

    assert "上报人" in page and "录入人" in page and "受理员" in page
    assert "12345热线" in page and CALLER["channel_ref"] in page
    if whole:
        assert WHOLE_NAME in page and f'href="tel:{WHOLE_PHONE}"' in page
    else:
        assert MASKED_NAME in page and MASKED_PHONE in page
        assert WHOLE_PHONE not in page and WHOLE_NAME not in page and "tel:" not in page


def test_a_patrol_report_names_the_grid_worker_as_reporter_with_no_entered_by(app, gl):
    event_id = gl.report("gw_hb1", {"category": "0101", "description": "巡查发现路边有暴露垃圾"})["id"]
    page = html(staff(app, "intake").get(f"/events/{event_id}"))
    assert "上报人" in page and "录入人" not in page


def test_the_audit_and_its_export_mask_the_caller_but_the_replay_verifies_the_whole_record(app, gl):
    event_id = gl.report("intake", HOTLINE)["id"]
    auditor = staff(app, "auditor")

    audit = html(auditor.get(f"/audit/events/{event_id}?step=1"))
    assert "verdict-ok" in audit, "the replay runs on the stored, whole record"
    assert MASKED_PHONE in audit and WHOLE_PHONE not in audit and WHOLE_NAME not in audit

    exported = json.loads(auditor.get(f"/audit/events/{event_id}/history.json").get_data(as_text=True))
    assert exported["contact_masked"] is True
    assert exported["records"][0]["data"]["report"]["reporter_phone"] == MASKED_PHONE
    table = auditor.get(f"/audit/events/{event_id}/history.csv").data.decode("utf-8-sig")
    assert MASKED_PHONE in table and WHOLE_PHONE not in table

    admin = staff(app, "admin")
    # an export is masked unless asked for whole, even for a role that may read it whole
    default = json.loads(admin.get(f"/audit/events/{event_id}/history.json").get_data(as_text=True))
    assert default["contact_masked"] is True
    assert default["records"][0]["data"]["report"]["reporter_phone"] == MASKED_PHONE
    asked = json.loads(
        auditor.get(f"/audit/events/{event_id}/history.json?contacts=whole").get_data(as_text=True)
    )
    assert asked["contact_masked"] is True, "the auditor's role does not read contacts whole"
    whole = json.loads(
        admin.get(f"/audit/events/{event_id}/history.json?contacts=whole").get_data(as_text=True)
    )
    assert "contact_masked" not in whole
    stored = gl.event_detail("admin", event_id)["history"]
    assert [r["data"] for r in whole["records"]] == [h["data"] for h in stored]
    assert whole["records"][0]["data"]["report"]["reporter_phone"] == WHOLE_PHONE


def test_who_sees_the_contact_whole_is_a_setting(gl):
    event_id = gl.report("intake", HOTLINE)["id"]
    gl.change_setting("admin", "reporter_contact_roles", ["admin", "dispatcher"])
    assert gl.event_detail("dispatcher", event_id)["reporter_phone"] == WHOLE_PHONE
    assert gl.event_detail("leader", event_id)["reporter_phone"] == MASKED_PHONE
    with pytest.raises(ValidationFailed) as caught:
        gl.change_setting("admin", "reporter_contact_roles", ["caller_friend"])
    assert list(caught.value.errors) == ["reporter_contact_roles"]


# ------------------------------------------------------------------ the follow-up


def test_the_follow_up_task_shows_whom_to_call_with_a_tel_link(app, gl):
    event_id = gl.report("intake", HOTLINE)["id"]
    follow_up = to_follow_up(gl, event_id)

    page = html(staff(app, "intake").get(f"/tasks/{follow_up['id']}"))
    assert 'id="whom-to-call"' in page and "回访对象" in page
    assert WHOLE_NAME in page and f'href="tel:{WHOLE_PHONE}"' in page and f"拨打 {WHOLE_PHONE}" in page
    assert CALLER["channel_ref"] in page


def test_the_follow_ups_holder_sees_the_caller_whole_even_outside_the_contact_roles(app, gl):
    gl.change_setting("admin", "reporter_contact_roles", ["admin"])
    followed = gl.report("intake", HOTLINE)["id"]
    follow_up = to_follow_up(gl, followed)
    other = gl.report("intake", {**HOTLINE, "reporter_name": "李四", "reporter_phone": "13900001111"})["id"]

    page = html(staff(app, "intake").get(f"/tasks/{follow_up['id']}"))
    assert f'href="tel:{WHOLE_PHONE}"' in page, "intake is offered the follow-up: it needs the number"
    assert gl.event_detail("intake", other)["reporter_phone"] == "139****1111", "no follow-up of its own here"
    assert gl.event_detail("dispatcher", followed)["reporter_phone"] == MASKED_PHONE


def test_the_follow_up_of_a_patrol_report_says_there_is_nobody_to_call(app, gl):
    event_id = gl.report("gw_hb1", {"category": "0101", "description": "巡查发现路边有暴露垃圾"})["id"]
    photo = gl.upload("h_dh_hw", "done.png", TINY_PNG).id
    for step, who, data in (
        ("accept", "intake", {"decision": "accept"}),
        ("dispatch", "dispatcher", {"department": "DH-HW"}),
        ("handle", "h_dh_hw", {"action": "done", "result": "已清运完毕", "photos": [photo]}),
        ("verify", "gw_hb1", {"passed": True}),
        ("close", "leader", {"opinion": "同意结案"}),
    ):
        gl.complete(who, open_task(gl, event_id, step)["id"], data)
    page = html(staff(app, "intake").get(f"/tasks/{open_task(gl, event_id, 'follow_up')['id']}"))
    assert "没有登记公众上报人" in page and "tel:" not in page


def test_other_steps_show_no_whom_to_call(app, gl):
    event_id = gl.report("intake", HOTLINE)["id"]
    check = open_task(gl, event_id, "check_exists")
    assert 'id="whom-to-call"' not in html(staff(app, "gw_hb1").get(f"/tasks/{check['id']}"))


# ------------------------------------------------------------------ channels from the report form


def test_intake_is_not_offered_the_patrol_channel_nor_self_handling_a_grid_worker_is(app, gl):
    with gl.reading("intake") as reader:
        intake = report_form(reader)
    with gl.reading("gw_hb1") as reader:
        worker = report_form(reader)
    channels = [c["const"] for c in intake["schema"]["properties"]["channel"]["oneOf"]]
    assert "grid" not in channels and "hotline" in channels
    assert (intake["can_self_handle"], intake["default_channel"]) == (False, "web")
    assert "grid" in [c["const"] for c in worker["schema"]["properties"]["channel"]["oneOf"]]
    assert (worker["can_self_handle"], worker["default_channel"]) == (True, "grid")

    page = html(staff(app, "intake").get("/report"))
    assert 'value="grid"' not in page and "网格员巡查" not in page and 'name="self_handle"' not in page
    assert 'name="reporter_phone"' in page and 'name="channel_ref"' in page
    assert '<input type="tel" id="f-reporter_phone" name="reporter_phone"' in page  # a phone's keypad
    worker_page = html(staff(app, "gw_hb1").get("/report"))
    assert 'value="grid"' in worker_page and 'name="self_handle"' in worker_page


def test_the_report_form_asks_for_the_reporter_on_public_channels_only():
    schema = json.loads((Path(__file__).resolve().parent.parent / "forms" / "report.json").read_text("utf-8"))
    (rule,) = [r for r in schema["allOf"] if "enum" in r["if"]["properties"]["channel"]]
    public = rule["if"]["properties"]["channel"]["enum"]
    staff_channels = [c["const"] for c in schema["properties"]["channel"]["oneOf"] if "x-gridloop-roles" in c]
    assert set(rule["then"]["properties"]) == {"reporter_name", "reporter_phone", "channel_ref"}
    assert "hotline" in public and "wechat" in public and not set(public) & set(staff_channels)


@pytest.mark.parametrize(
    ("username", "channel", "field", "message"),
    [
        ("intake", "grid", "channel", "只有本网格网格员可以巡查上报"),
        ("intake", "hotline", "self_handle", "只有网格员本人巡查上报的事件可以自处理"),
        ("gw_hb1", "wechat", "self_handle", "只有网格员本人巡查上报的事件可以自处理"),
    ],
)
def test_a_channel_that_may_not_be_used_or_self_handled_is_refused_by_its_field(
    gl, username, channel, field, message
):
    data = {**HOTLINE, "channel": channel, "self_handle": field == "self_handle"}
    with pytest.raises(ValidationFailed) as caught:
        gl.report(username, data)
    assert list(caught.value.errors) == [field]
    assert message in field_messages(caught.value.errors, "zh")[field][0]
    assert gl.list_events("admin") == ([], 0)


def test_a_grid_worker_self_handles_a_patrol_and_the_channel_defaults_to_patrol(gl):
    event_id = gl.report(
        "gw_hb1", {"category": "0101", "description": "巡查发现路边有暴露垃圾", "self_handle": True}
    )["id"]
    event = gl.event_detail("admin", event_id)
    assert event["channel"] == "grid" and event["reporter_name"] is None
    assert event["history"][0]["data"]["report"]["self_handle"] is True


def test_the_intakes_report_without_a_channel_is_the_forms_default(gl):
    event_id = gl.report("intake", {k: v for k, v in HOTLINE.items() if k != "channel"})["id"]
    assert gl.event_detail("admin", event_id)["channel"] == "web"


# ------------------------------------------------------------------ in a real browser


def test_the_report_form_for_a_hotline_call_on_a_phone_then_the_event_and_the_follow_up(browse, live_server):
    from browser_support import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    gl = live_server.app.extensions["gridloop"]
    intake = browse.sign_in("intake", viewport=PHONE, is_mobile=True, has_touch=True)
    intake.goto("/report")
    expect(intake.locator("select[name=channel] option[value=grid]")).to_have_count(0)
    intake.select_option("select[name=category]", "0101")
    intake.fill("textarea[name=description]", "市民来电：湖滨路 12 号门口垃圾堆放两天无人清运")
    intake.select_option("select[name=grid]", GRID_HB1)
    intake.select_option("select[name=channel]", "hotline")
    for name in ("reporter_name", "reporter_phone", "channel_ref"):
        expect(intake.locator(f"input[name={name}]")).to_be_visible()
    intake.fill("input[name=reporter_name]", WHOLE_NAME)
    intake.fill("input[name=reporter_phone]", "1381234")
    intake.click("button[type=submit].primary")
    expect(intake.locator("#field-reporter_phone .error")).to_contain_text(PHONE_MESSAGE)
    width = intake.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the report form is {width} px wide on a {PHONE['width']} px screen"
    intake.screenshot(path=str(ARTIFACTS / "report-hotline-phone.png"), full_page=True)

    intake.fill("input[name=reporter_phone]", WHOLE_PHONE)
    intake.fill("input[name=channel_ref]", CALLER["channel_ref"])
    intake.click("button[type=submit].primary")
    intake.locator("a.button.primary").click()
    summary = intake.locator("dl.summary").first
    expect(intake.locator(f'a[href="tel:{WHOLE_PHONE}"]')).to_be_visible()
    expect(intake.locator("body")).to_contain_text("录入人")
    assert intake.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert summary.is_visible()
    intake.screenshot(path=str(ARTIFACTS / "report-hotline-event-phone.png"), full_page=True)

    (event,), _total = gl.list_events("admin", code=intake.locator("h1").inner_text().split()[0])
    follow_up = to_follow_up(gl, event["id"])
    intake.goto(f"/tasks/{follow_up['id']}")
    call = intake.locator("#whom-to-call")
    expect(call).to_contain_text(WHOLE_NAME)
    expect(call.locator(f'a.button[href="tel:{WHOLE_PHONE}"]')).to_be_visible()
    assert intake.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    intake.screenshot(path=str(ARTIFACTS / "follow-up-phone.png"), full_page=True)

    desk = browse.sign_in("dispatcher", viewport=DESKTOP)
    desk.goto(f"/events/{event['id']}")
    expect(desk.locator("body")).to_contain_text(MASKED_PHONE)
    expect(desk.locator('a[href^="tel:"]')).to_have_count(0)
    desk.screenshot(path=str(ARTIFACTS / "report-hotline-event-desktop-masked.png"), full_page=True)
    clerk = browse.sign_in("intake", viewport=DESKTOP)
    clerk.goto("/report")
    clerk.screenshot(path=str(ARTIFACTS / "report-form-desktop.png"), full_page=True)

    worker = browse.sign_in("gw_hb1", viewport=PHONE, is_mobile=True, has_touch=True)
    worker.goto("/report")
    expect(worker.locator("select[name=channel]")).to_have_value("grid")
    expect(worker.locator("input[name=reporter_phone]")).to_be_hidden()
    expect(worker.locator("input[name=self_handle]")).to_be_visible()
    worker.select_option("select[name=channel]", "wechat")
    expect(worker.locator("input[name=reporter_phone]")).to_be_visible()
