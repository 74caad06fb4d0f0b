"""The settings page's forms, through Flask's test client on a real SQLite file: every setting drawn as a form
with Chinese labels from its JSON Schema, valid values saved as one command with its admin-log record, invalid
ones refused with field errors in Chinese and nothing changed, and the JSON still there as the advanced view;
and a screenshot of the page at desktop and phone width in a real browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from browser_support import ARTIFACTS
from sqlalchemy import select
from web_support import app_with_staff, html, post, staff

from engine.app import Gridloop
from engine.settings import DEFAULTS, SCHEMAS
from engine.store.models import AdminLogEntry

if TYPE_CHECKING:
    from browser_support import Browse

pytest_plugins = ["browser_support"]

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    """The app with an administrator who can sign in."""
    yield from app_with_staff(tmp_path, ("admin",))


@pytest.fixture
def gl(app: Any) -> Gridloop:
    """The app's engine."""
    return app.extensions["gridloop"]


def section(page: str, key: str) -> str:
    """One setting's card on the page."""
    start = page.index(f'id="setting-{key}"')
    return page[start : page.index("</section>", start)]


def form_part(page: str, key: str) -> str:
    """A setting's form, without its advanced JSON view."""
    card = section(page, key)
    return card[: card.index('<details class="advanced"')]


def setting_log(gl: Gridloop) -> list[dict[str, Any]]:
    """The admin log's setting records, oldest first."""
    with gl.db.reading() as session:
        return [
            entry.data
            for entry in session.scalars(
                select(AdminLogEntry).where(AdminLogEntry.action == "setting").order_by(AdminLogEntry.id)
            )
        ]


def test_every_setting_with_a_schema_is_drawn_as_a_form_with_chinese_labels(app):
    page = unescape(html(staff(app, "admin").get("/admin/settings")))
    expected = {
        "working_hours": ['type="time"', 'value="08:00"', 'value="18:00"', "第 2 段"],
        "timezone": ['value="Asia/Shanghai"', "时区名称"],
        "time_lights": ["颜色方案", "黄 · 临期", 'value="0.8"', "自已用时限比例起"],
        "step_limits": ["派遣", "核实", "回访", "工作日", 'name="step_limits.dispatch.0" value="1"'],
        "supervision_escalation": ["黄牌", "红牌", 'name="supervision_escalation.red.0" value="3"'],
        "rework_rate_base": ['type="radio"', "立案数", "应结案数"],
        "satisfied_answers": ['type="checkbox"', "基本满意", "不满意"],
        "score_weights": ["结案率", "按期结案率", 'value="-0.1"', 'type="number"'],
        "report_rewards": ["有效上报", "重大事件上报", 'value="10.0"'],
        "report_roles": ['type="checkbox"', "网格员", "值班长", "系统管理员"],
        "retention_years": ["保留年限（年）", 'type="number"'],
    }
    assert set(expected) <= set(SCHEMAS)
    for key, texts in expected.items():
        drawn = form_part(page, key)
        assert 'name="value"' not in drawn, key
        for text in texts:
            assert text in drawn, (key, text)
    checked = form_part(page, "report_roles")
    assert re.search(r'value="grid_worker" checked', checked) and not re.search(
        r'value="admin" checked', checked
    )
    for key in DEFAULTS:
        assert 'class="advanced"' in section(page, key), key


@pytest.mark.parametrize(
    ("key", "fields", "value"),
    [
        (
            "working_hours",
            {
                "working_hours.0.start": "09:00",
                "working_hours.0.end": "12:00",
                "working_hours.1.start": "13:30",
                "working_hours.1.end": "17:30",
            },
            "09:00-12:00,13:30-17:30",
        ),
        (
            "time_lights",
            {
                "time_lights.0.0": "blue",
                "time_lights.0.1": "0",
                "time_lights.1.0": "green",
                "time_lights.1.1": "0.5",
                "time_lights.2.0": "yellow",
                "time_lights.2.1": "0.8",
                "time_lights.3.0": "red",
                "time_lights.3.1": "1",
            },
            [["blue", 0], ["green", 0.5], ["yellow", 0.8], ["red", 1]],
        ),
        (
            "step_limits",
            {
                "step_limits.accept.0": "2",
                "step_limits.accept.1": "work_hours",
                "step_limits.verify.0": "1",
                "step_limits.verify.1": "work_days",
                "step_limits.dispatch.1": "work_hours",
            },
            {"accept": [2, "work_hours"], "verify": [1, "work_days"]},
        ),
        ("rework_rate_base", {"rework_rate_base": "due"}, "due"),
        ("report_roles", {"report_roles": ["grid_worker", "intake"]}, ["grid_worker", "intake"]),
        ("satisfied_answers", {"satisfied_answers": ["satisfied"]}, ["satisfied"]),
        (
            "score_weights",
            {
                "score_weights.closure_rate": "0.5",
                "score_weights.on_time_rate": "0.3",
                "score_weights.satisfaction_rate": "0.2",
                "score_weights.rework_rate": "-0.2",
            },
            {"closure_rate": 0.5, "on_time_rate": 0.3, "satisfaction_rate": 0.2, "rework_rate": -0.2},
        ),
        ("retention_years", {"retention_years": "10"}, 10),
        ("retention_years", {"retention_years": ""}, None),
    ],
)
def test_a_valid_form_changes_the_setting_with_an_admin_log_record(app, gl, key, fields, value):
    admin = staff(app, "admin")
    before = gl.get_setting(key)
    response = post(admin, "/admin/settings", {"key": key, **fields})
    assert (response.status_code, response.headers["Location"]) == (303, f"/admin/settings#setting-{key}")
    assert gl.get_setting(key) == value
    if value != before:
        assert setting_log(gl)[-1] == {"key": key, "old": before, "new": value}
    page = unescape(html(admin.get("/admin/settings")))
    assert "已保存" in page


@pytest.mark.parametrize(
    ("key", "fields", "where", "message"),
    [
        (
            "working_hours",
            {"working_hours.0.start": "13:00", "working_hours.0.end": "12:30"},
            "working_hours",
            "结束时间不晚于开始时间",
        ),
        (
            "step_limits",
            {"step_limits.accept.0": "0", "step_limits.accept.1": "work_hours"},
            "step_limits.accept",
            "时限须为 [正数, 单位]",
        ),
        (
            "step_limits",
            {"step_limits.accept.0": "abc", "step_limits.accept.1": "work_hours"},
            "step_limits.accept",
            "数字",
        ),
        (
            "time_lights",
            {
                "time_lights.0.0": "green",
                "time_lights.0.1": "0",
                "time_lights.1.0": "red",
                "time_lights.1.1": "1",
            },
            "time_lights",
            "须为 3 或 4 个 [颜色, 阈值]",
        ),
        (
            "report_rewards",
            {"report_rewards.valid": "-1", "report_rewards.major": "10"},
            "report_rewards.valid",
            "不能小于 0",
        ),
        ("report_roles", {}, "report_roles", "至少"),
        ("retention_years", {"retention_years": "0"}, "retention_years", "须为大于 0 的整数年数"),
    ],
)
def test_an_invalid_form_shows_field_errors_in_chinese_and_changes_nothing(
    app, gl, key, fields, where, message
):
    admin = staff(app, "admin")
    before = {k: gl.get_setting(k) for k in DEFAULTS}
    logged = len(setting_log(gl))
    response = post(admin, "/admin/settings", {"key": key, **fields})
    assert response.status_code == 400
    page = unescape(html(response))
    drawn = form_part(page, key)
    assert message in drawn, drawn
    assert "未保存，请按提示修改" in page and "has-error" in drawn
    if where != key:  # the error stands in its row, not only at the top of the setting
        row = re.search(rf'<tr class="has-error">.*?name="{re.escape(where)}\.', drawn, re.S) or re.search(
            rf'id="field-{re.escape(where)}"[^>]*>(?:(?!</div>).)*{re.escape(message)}', drawn, re.S
        )
        assert row, where
    for name, text in fields.items():
        for typed in text if isinstance(text, list) else [text]:
            assert f'value="{typed}"' in drawn, ("typed value kept", name)
    other = next(k for k in DEFAULTS if k != key)
    assert "has-error" not in section(page, other)
    assert {k: gl.get_setting(k) for k in DEFAULTS} == before
    assert len(setting_log(gl)) == logged


def test_the_advanced_json_view_still_saves_and_refuses(app, gl):
    admin = staff(app, "admin")
    page = unescape(html(admin.get("/admin/settings")))
    assert '<details class="advanced">' in section(page, "report_rewards")
    assert '"major": 10.0' in section(page, "report_rewards")
    saved = post(admin, "/admin/settings", {"key": "report_rewards", "value": '{"valid": 3, "bonus": 1}'})
    assert saved.status_code == 303 and gl.get_setting("report_rewards") == {"valid": 3, "bonus": 1}
    assert setting_log(gl)[-1]["new"] == {"valid": 3, "bonus": 1}
    refused = post(admin, "/admin/settings", {"key": "report_rewards", "value": '{"valid": "three"}'})
    assert refused.status_code == 400
    card = section(unescape(html(refused)), "report_rewards")
    assert '<details class="advanced" open>' in card and "数字" in card and '{"valid": "three"}' in card
    assert gl.get_setting("report_rewards") == {"valid": 3, "bonus": 1}


def test_the_form_is_drawn_in_english_for_an_english_reader(app, gl):
    admin = staff(app, "admin")
    post(admin, "/language", {"language": "en", "next": "/admin/settings"}, page="/admin/settings")
    page = unescape(html(admin.get("/admin/settings")))
    limits = form_part(page, "step_limits")
    assert "Dispatch" in limits and "Follow-up call" in limits and "派遣" not in limits
    assert "Grid worker" in form_part(page, "report_roles")
    refused = post(admin, "/admin/settings", {"key": "retention_years", "retention_years": "0"})
    assert "1" in form_part(unescape(html(refused)), "retention_years")
    assert "不能" not in form_part(unescape(html(refused)), "retention_years")


def test_the_settings_page_at_desktop_and_phone_width(browse: Browse, live_server: Any) -> None:
    for name, options in (
        ("desktop", {"viewport": DESKTOP}),
        ("phone", {"viewport": PHONE, "is_mobile": True}),
    ):
        page = browse.sign_in("admin", **options)
        page.goto("/admin/settings")
        page.locator("#setting-step_limits").scroll_into_view_if_needed()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= options["viewport"]["width"], (name, width)
        ARTIFACTS.mkdir(exist_ok=True)
        for key in ("working_hours", "time_lights", "step_limits", "report_roles"):
            page.locator(f"#setting-{key}").screenshot(
                path=str(ARTIFACTS / f"settings-forms-{name}-{key}.png")
            )
    assert len(browse.screenshots("settings-forms")) == 2
