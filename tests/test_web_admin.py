"""The administrators' pages through Flask's test client, on a real SQLite file: settings edited as JSON with
field errors that change nothing, and the holiday table whose entries change the due times it computes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from web_support import app_with_staff, html, post, staff

from engine.app import Gridloop
from engine.settings import DEFAULTS

STAFF = ("admin", "intake", "supervisor", "auditor")
# Thursday 2026-12-31 16:00 in Shanghai plus 4 working hours: 2027's holidays are not published.
DUE_QUERY = "/admin/calendar?start=2026-12-31T16:00&limit=4&unit=work_hours"
UNKNOWN_2027 = "2027 年的法定节假日与调休尚未录入"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    """The app with an administrator and staff of other roles who can sign in."""
    yield from app_with_staff(tmp_path, STAFF)


@pytest.fixture
def gl(app: Any) -> Gridloop:
    """The app's engine."""
    return app.extensions["gridloop"]


def field(page: str, field_id: str) -> str:
    """The field's block: from its id to the end of its <div>."""
    start = page.index(f'id="{field_id}"')
    return page[start : page.index("</div>", start)]


def due_time(page: str) -> str:
    """The computed due time shown on the calendar page."""
    return re.search(r'<strong class="due-at">([^<]+)</strong>', page).group(1)


def test_only_administrators_reach_the_settings_and_the_calendar(app, gl):
    for username in ("intake", "supervisor", "auditor"):
        client = staff(app, username)
        assert 'href="/admin/settings"' not in html(client.get("/inbox")), username
        for path in ("/admin/settings", "/admin/calendar", DUE_QUERY):
            assert client.get(path).status_code == 403, (username, path)
        refused = post(
            client, "/admin/settings", {"key": "working_hours", "value": '"09:00-17:00"'}, page="/inbox"
        )
        assert refused.status_code == 403
        assert (
            post(
                client, "/admin/calendar", {"day": "2027-01-01", "kind": "holiday"}, page="/inbox"
            ).status_code
            == 403
        )
    assert gl.get_setting("working_hours") == DEFAULTS["working_hours"]
    admin = staff(app, "admin")
    assert 'href="/admin/settings"' in html(admin.get("/inbox"))
    assert admin.get("/admin/settings").status_code == 200 and admin.get("/admin/calendar").status_code == 200


def test_every_setting_is_shown_as_json_and_saved(app, gl):
    admin = staff(app, "admin")
    page = html(admin.get("/admin/settings"))
    for key in DEFAULTS:
        assert f'id="setting-{key}"' in page and f'name="key" value="{key}"' in page, key
    lights = unescape(field(page, "json-time_lights"))
    assert '  ["yellow", 0.8],\n' in lights
    response = post(
        admin,
        "/admin/settings",
        {"key": "time_lights", "value": '[["green", 0], ["yellow", 0.7], ["red", 1]]'},
    )
    assert (response.status_code, response.headers["Location"]) == (
        303,
        "/admin/settings#setting-time_lights",
    )
    assert gl.get_setting("time_lights") == [["green", 0], ["yellow", 0.7], ["red", 1]]
    after = html(admin.get("/admin/settings"))
    assert "已保存“时限灯”" in after and '["yellow", 0.7]' in unescape(field(after, "json-time_lights"))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("working_hours", '"08:00-12:00,13:00-12:30"', "时段 13:00-12:30 的结束时间不晚于开始时间"),
        ("step_limits", '{"accept": [0, "work_hours"]}', "时限须为 [正数, 单位]"),
        ("time_lights", '[["green", 0], ["red", 1]]', "须为 3 或 4 个 [颜色, 阈值]"),
        ("timezone", '"Asia/Shanghai', "不是有效的 JSON（第 1 行第 1 列）"),
    ],
)
def test_a_bad_setting_shows_its_error_next_to_it_and_changes_nothing(app, gl, key, value, message):
    admin = staff(app, "admin")
    before = {k: gl.get_setting(k) for k in DEFAULTS}
    response = post(admin, "/admin/settings", {"key": key, "value": value})
    assert response.status_code == 400
    page = html(response)
    assert message in field(page, f"json-{key}")
    assert unescape(value) in unescape(field(page, f"json-{key}")), "what was typed is kept"
    other = next(k for k in DEFAULTS if k != key)
    assert message not in field(page, f"json-{other}")
    assert {k: gl.get_setting(k) for k in DEFAULTS} == before


def test_a_calendar_day_entered_on_the_page_changes_the_computed_due_time(app, gl):
    admin = staff(app, "admin")
    before = html(admin.get(DUE_QUERY))
    # Thu 16:00-18:00, then Fri 2027-01-01 counts as a working day by the Monday-to-Friday rule
    assert due_time(before) == "2027-01-01 10:00"
    assert UNKNOWN_2027 in before
    assert re.search(r'data-year="2027" class="unknown"', before)

    entered = post(
        admin,
        "/admin/calendar",
        {"day": "2027-01-01", "kind": "holiday", "note": "2027 年元旦", "next": DUE_QUERY},
        page=DUE_QUERY,
    )
    assert (entered.status_code, entered.headers["Location"]) == (303, DUE_QUERY)
    after = html(admin.get(DUE_QUERY))
    # 01-01 is now a holiday and 01-02/03 the weekend: Monday 2027-01-04 08:00-10:00
    assert due_time(after) == "2027-01-04 10:00"
    assert UNKNOWN_2027 not in after and re.search(r'data-year="2027" class="known"', after)
    row = after[after.index('data-day="2027-01-01"') :]
    assert "节假日" in row[: row.index("</tr>")] and "2027 年元旦" in row[: row.index("</tr>")]

    workday = post(
        admin, "/admin/calendar", {"day": "2027-01-02", "kind": "workday", "next": DUE_QUERY}, page=DUE_QUERY
    )
    assert workday.status_code == 303
    assert due_time(html(admin.get(DUE_QUERY))) == "2027-01-02 10:00"

    removed = post(
        admin, "/admin/calendar", {"day": "2027-01-02", "kind": "remove", "next": DUE_QUERY}, page=DUE_QUERY
    )
    assert removed.status_code == 303
    assert due_time(html(admin.get(DUE_QUERY))) == "2027-01-04 10:00"
    assert gl.calendar.overrides == {date(2027, 1, 1): False}


def test_bad_calendar_and_due_inputs_come_back_next_to_their_fields(app, gl):
    admin = staff(app, "admin")
    response = post(
        admin,
        "/admin/calendar",
        {"day": "2027-02-30", "kind": "holiday", "note": "春节"},
        page="/admin/calendar",
    )
    assert response.status_code == 400
    assert "请填写日期" in field(html(response), "field-day") and 'value="春节"' in html(response)
    assert gl.calendar.overrides == {}
    page = html(admin.get("/admin/calendar?start=2026-12-31T16:00&limit=-1&unit=work_hours"))
    assert "negative" in field(page, "field-limit") and 'class="due-at"' not in page
    page = html(admin.get("/admin/calendar?start=yesterday&limit=4&unit=fortnights"))
    assert "请填写起算日期和时间" in field(page, "field-start") and "请选择时限单位" in field(
        page, "field-unit"
    )
