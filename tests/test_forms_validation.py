"""Forms are enforced on the server: bad input gets field-level errors and changes nothing.

The engine's field errors carry codes (:class:`~engine.errors.FieldError`); the tests read them as staff do,
said from the catalogs in Chinese (or English) by :func:`webui.i18n.field_messages`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from conftest import GRID_HB1

from engine.errors import FieldError, ValidationFailed
from webui.i18n import field_messages

CHINESE = re.compile(r"[\u4e00-\u9fff]")
ACCEPT = {"decision": "accept"}
HANDLE_DONE = {"action": "done", "result": "已清运完毕"}
PHOTO = "<an uploaded photo>"


def at_accept(driver) -> int:
    return driver.report("gw_hb1")


def at_dispatch(driver) -> int:
    event_id = at_accept(driver)
    driver.complete("intake", event_id, "accept", ACCEPT)
    return event_id


def at_handle(driver) -> int:
    event_id = at_dispatch(driver)
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    return event_id


def at_verify(driver) -> int:
    event_id = at_handle(driver)
    driver.complete("h_dh_hw", event_id, "handle", HANDLE_DONE)
    return event_id


def at_follow_up(driver) -> int:
    event_id = at_verify(driver)
    driver.complete("gw_hb1", event_id, "verify", {"passed": True})
    driver.complete("leader", event_id, "close", {})
    return event_id


def at_check_exists(driver) -> int:
    return driver.report("intake", channel="hotline")


def at_self_handle(driver) -> int:
    event_id = driver.report("gw_hb1", self_handle=True)
    driver.complete("intake", event_id, "accept", ACCEPT)
    return event_id


REACH: dict[str, tuple[Callable[[Any], int], str]] = {
    "accept": (at_accept, "intake"),
    "dispatch": (at_dispatch, "dispatcher"),
    "handle": (at_handle, "h_dh_hw"),
    "verify": (at_verify, "gw_hb1"),
    "follow_up": (at_follow_up, "intake"),
    "check_exists": (at_check_exists, "gw_hb1"),
    "self_handle_task": (at_self_handle, "gw_hb1"),
}

# (step, bad data, the one field in error, a message it must carry, valid data the step accepts, next step)
CASES = [
    ("accept", {"decision": "reject"}, "reason", "此项为必填项", ACCEPT, "dispatch"),
    ("accept", {"decision": "reject", "reason": "重"}, "reason", "至少需要 2 个字符", ACCEPT, "dispatch"),
    ("accept", {"decision": "accept", "colour": "red"}, "colour", "不允许的字段", ACCEPT, "dispatch"),
    ("accept", {"decision": "maybe"}, "decision", "不是可选的值", ACCEPT, "dispatch"),
    ("accept", {}, "decision", "此项为必填项", ACCEPT, "dispatch"),
    ("handle", {"action": "done"}, "result", "此项为必填项", HANDLE_DONE, "verify"),
    ("handle", {"action": "send_back"}, "send_back_reason", "此项为必填项", HANDLE_DONE, "verify"),
    ("dispatch", {"department": "NO-SUCH"}, "department", "不是可选的值", {"department": "DH-HW"}, "handle"),
    (
        "handle",
        {**HANDLE_DONE, "photos": ["no-such-attachment"]},
        "photos",
        "附件不存在：no-such-attachment",
        {**HANDLE_DONE, "photos": [PHOTO]},
        "verify",
    ),
    ("verify", {"passed": False}, "note", "此项为必填项", {"passed": True}, "close"),
    ("check_exists", {"exists": "yes"}, "exists", "类型不正确，应为是/否", {"exists": True}, "accept"),
    (
        "self_handle_task",
        {"result": "已清理", "before_photos": [], "after_photos": [PHOTO]},
        "before_photos",
        "至少需要 1 项",
        {"result": "已清理", "before_photos": [PHOTO], "after_photos": [PHOTO]},
        "close_self",
    ),
    (
        "follow_up",
        {"satisfaction": "happy"},
        "satisfaction",
        "不是可选的值",
        {"satisfaction": "satisfied"},
        None,
    ),
]


def with_photos(driver, data: dict[str, Any], username: str) -> dict[str, Any]:
    """``data`` with every PHOTO placeholder replaced by the id of a photo ``username`` just uploaded (a form
    names only its own user's uploads, or the event's)."""
    return {
        key: [driver.photo(username) if v == PHOTO else v for v in value]
        if isinstance(value, list)
        else value
        for key, value in data.items()
    }


@pytest.mark.parametrize(
    ("step", "bad", "field", "message", "good", "next_step"),
    CASES,
    ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)],
)
def test_invalid_task_form_is_refused_field_by_field_and_changes_nothing(
    driver, step, bad, field, message, good, next_step
):
    reach, username = REACH[step]
    event_id = reach(driver)
    task = driver.open_task(event_id, step)
    before = driver.event(event_id)

    with pytest.raises(ValidationFailed) as caught:
        driver.gl.complete(username, task["id"], with_photos(driver, bad, username))

    errors = field_messages(caught.value.errors, "zh")
    assert list(errors) == [field]
    assert message in errors[field]
    assert all(CHINESE.search(m) for m in errors[field])
    after = driver.event(event_id)
    assert after["tasks"] == before["tasks"]
    assert after["version"] == before["version"]
    assert after["history"] == before["history"]
    assert after["state"] == before["state"]
    assert driver.open_task(event_id, step)["assignee"] is None

    driver.gl.complete(username, task["id"], with_photos(driver, good, username))
    if next_step is None:
        assert driver.event(event_id)["state"] == "closed"
    else:
        assert driver.open_task(event_id)["step"] == next_step


def test_field_errors_carry_codes_said_in_either_language(driver):
    event_id = at_accept(driver)
    task = driver.open_task(event_id, "accept")
    with pytest.raises(ValidationFailed) as caught:
        driver.gl.complete("intake", task["id"], {"decision": "reject", "reason": "重"})
    assert caught.value.errors == {"reason": [FieldError("min_length", {"limit": 2})]}
    assert field_messages(caught.value.errors, "en") == {"reason": ["At least 2 characters"]}
    assert field_messages(caught.value.errors, "zh") == {"reason": ["至少需要 2 个字符"]}


REPORT = {"category": "0101", "description": "路边有一堆暴露垃圾", "grid": GRID_HB1}


REPORT_CASES = [
    ("gw_hb1", {"category": "9999"}, "category", "不是可选的值"),
    ("gw_hb1", {"description": "垃圾"}, "description", "至少需要 5 个字符"),
    ("intake", {"grid": "330199009009009", "channel": "app"}, "grid", "不是可选的值"),
    ("gw_hb1", {"location": {"lat": 100, "lng": 120}}, "location.lat", "不能大于 90"),
    ("gw_hb1", {"caller_id": "12345"}, "caller_id", "不允许的字段"),
    (
        "intake",
        {"channel": "hotline", "reporter_phone": "12345"},
        "reporter_phone",
        "请填写 11 位手机号（如 13812345678）或带区号的固定电话（如 0571-88001234）",
    ),
    ("gw_hb1", {"channel": "pigeon"}, "channel", "不是可选的值"),
    ("gw_hb1", {"photos": ["no-such-attachment"]}, "photos", "附件不存在：no-such-attachment"),
    (
        "intake",
        {"channel": "hotline", "self_handle": True},
        "self_handle",
        "只有网格员本人巡查上报的事件可以自处理",
    ),
]


@pytest.mark.parametrize(
    ("username", "changes", "field", "message"),
    REPORT_CASES,
    ids=[f"{c[2]}-{i}" for i, c in enumerate(REPORT_CASES)],
)
def test_invalid_report_is_refused_and_creates_no_event(driver, username, changes, field, message):
    data = {**REPORT, **changes}
    with pytest.raises(ValidationFailed) as caught:
        driver.gl.report(username, data)
    assert list(caught.value.errors) == [field]
    assert message in field_messages(caught.value.errors, "zh")[field]
    assert driver.gl.list_events("intake") == ([], 0)


def test_report_without_category_or_description_names_both_fields(driver):
    with pytest.raises(ValidationFailed) as caught:
        driver.gl.report("gw_hb1", {"grid": GRID_HB1})
    assert caught.value.errors == {
        "category": [FieldError("required")],
        "description": [FieldError("required")],
    }
    assert driver.gl.list_events("intake") == ([], 0)
