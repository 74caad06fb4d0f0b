"""Settings, the holiday table and the admin log: deadlines follow them, bad values are refused, changes are logged."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from engine.audit import verification
from engine.errors import FieldError, Forbidden, ValidationFailed
from webui.cli import main


def test_step_limits_give_platform_steps_their_own_due_times(gl, driver):
    event_id = driver.report("gw_hb1")
    # accept: 1 working hour from Monday 09:00 Shanghai → 10:00 Shanghai = 02:00 UTC
    assert driver.open_task(event_id, "accept")["due_at"] == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    gl.change_setting("admin", "step_limits", {"accept": [3, "work_hours"]})
    second = driver.report("gw_hb1")
    assert driver.open_task(second, "accept")["due_at"] == datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
    driver.complete("intake", second, "accept", {"decision": "accept"})
    assert driver.open_task(second, "dispatch")["due_at"] is None, "a step without a limit has no due time"


def test_bad_settings_are_refused_and_only_admins_change_them(gl):
    with pytest.raises(ValidationFailed) as refused:
        gl.change_setting("admin", "time_lights", [["green", 0], ["red", 0.5], ["yellow", 0.4]])
    assert "time_lights" in refused.value.errors
    with pytest.raises(ValidationFailed):
        gl.change_setting("admin", "step_limits", {"accept": [1, "fortnights"]})
    with pytest.raises(ValidationFailed):
        gl.change_setting("admin", "no_such_setting", 1)
    with pytest.raises(Forbidden):
        gl.change_setting("dispatcher", "working_hours", "09:00-17:00")
    assert gl.get_setting("working_hours") == "08:00-12:00,14:00-18:00"


def test_working_hours_setting_moves_deadlines(gl, driver):
    gl.change_setting("admin", "working_hours", "09:00-12:00,13:00-17:00")
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    # 4 working hours from 09:00: 09–12 (3 h) + 13–14 (1 h) → 14:00 Shanghai = 06:00 UTC
    assert driver.event(event_id)["due_at"] == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def test_a_deadline_into_an_unknown_year_warns_until_its_holidays_are_entered(gl, capsys):
    args = ["--db", gl.db.url, "calendar", "due", "--from", "2026-12-31T16:00:00+08:00", "--limit", "4"]
    assert main([*args, "--unit", "工作时", "--local"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "2027-01-01T10:00:00+08:00"
    assert "2027 年的法定节假日与调休尚未录入" in err

    gl.set_calendar_day("admin", date(2027, 1, 1), False, "元旦")
    assert main(["--db", gl.db.url, "calendar", "set", "2027-01-02", "holiday", "--note", "元旦假期"]) == 0
    capsys.readouterr()
    assert main([*args, "--unit", "work_hours"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "2027-01-04T02:00:00+00:00"
    assert err == ""
    with pytest.raises(Forbidden):
        gl.set_calendar_day("intake", date(2027, 2, 1), False)


def test_admin_changes_are_logged_in_a_chain_that_audit_checks(gl):
    gl.change_setting(
        "admin", "supervision_escalation", {"yellow": [2, "work_days"], "red": [4, "work_days"]}
    )
    gl.set_calendar_day("admin", date(2027, 1, 1), False, "元旦")
    assert verification.verify_all(gl)["mismatches"] == []
    with gl.db.engine.begin() as connection:
        connection.execute(text("UPDATE admin_log SET actor = 'nobody' WHERE action = 'setting'"))
    problems = [m for m in verification.verify_all(gl)["mismatches"] if m["code"] == "admin_log"]
    assert len(problems) == 1 and "was altered" in problems[0]["reason"]


def test_a_calendar_note_longer_than_its_column_is_refused_and_changes_nothing(gl):
    with pytest.raises(ValidationFailed) as refused:
        gl.set_calendar_day("admin", date(2027, 1, 1), False, "元" * 101)
    assert refused.value.errors == {"note": [FieldError("max_length", {"limit": 100})]}
    assert gl.calendar.is_working_day(date(2027, 1, 1)), "2027-01-01 is a Friday and stays a working day"
