"""Tests for the business calendar: every expected datetime is worked out by hand in Asia/Shanghai.

Reference weeks: 2025-11-10 is a Monday in a week without holidays; 2025-10-01..08 is the National Day holiday,
with 2025-09-28 (a Sunday) and 2025-10-11 (a Saturday) as make-up working days; chinese_calendar 1.11.0 knows
2004..2026, so 2027 falls back to Monday-to-Friday.
"""

import time as wall_clock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.time.calendar import (
    UNIT_ALIASES,
    UNITS,
    BusinessCalendar,
    CalendarError,
    WorkingHours,
    normalize_unit,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment in Shanghai local time."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def calendar() -> BusinessCalendar:
    return BusinessCalendar()


# --- units -------------------------------------------------------------------------------------------------


def test_units_and_aliases_cover_chinese_labels_and_canonical_names():
    assert UNITS == {
        "work_hours": "工作时",
        "work_days": "工作日",
        "natural_hours": "自然时",
        "natural_days": "自然日",
    }
    assert UNIT_ALIASES["工作时"] == "work_hours"
    assert UNIT_ALIASES["自然日"] == "natural_days"
    assert UNIT_ALIASES["work_days"] == "work_days"
    assert normalize_unit("工作日") == "work_days"
    assert normalize_unit("natural_hours") == "natural_hours"


def test_bad_unit_is_rejected_naming_it_and_the_valid_units():
    assert issubclass(CalendarError, ValueError)
    with pytest.raises(CalendarError, match=r"unknown time-limit unit 'work_hour'.*work_hours \(工作时\)"):
        normalize_unit("work_hour")
    with pytest.raises(CalendarError, match="'小时'"):
        BusinessCalendar().due_at(sh(2025, 11, 10, 11), 2, "小时")


def test_aliases_are_accepted_by_due_at(calendar):
    assert calendar.due_at(sh(2025, 11, 10, 11), 2, "工作时") == sh(2025, 11, 10, 15)
    assert calendar.due_at(sh(2025, 11, 14, 16), 2, "自然日") == sh(2025, 11, 16, 16)


# --- working hours -----------------------------------------------------------------------------------------


def test_working_hours_default_and_parse():
    assert WorkingHours().periods == ((time(8), time(12)), (time(14), time(18)))
    assert WorkingHours().hours_per_day() == 8.0
    assert WorkingHours.parse("08:00-12:00,14:00-18:00") == WorkingHours()
    assert WorkingHours.parse(" 9:00 - 12:00 , 13:30-17:00 ").periods == (
        (time(9), time(12)),
        (time(13, 30), time(17)),
    )
    assert WorkingHours.parse("09:00-17:30").hours_per_day() == 8.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("08:00-12:00,11:00-18:00", "period 11:00-18:00 overlaps 08:00-12:00"),
        ("14:00-18:00,08:00-12:00", "period 08:00-12:00 comes before 14:00-18:00"),
        ("12:00-08:00", "period 12:00-08:00 does not end after it starts"),
        ("8am-noon", "cannot read period '8am-noon'"),
        ("08:00-12:00,", "cannot read period ''"),
        ("08:00-25:00", "'08:00-25:00' is not a time of day"),
    ],
)
def test_working_hours_parse_errors_name_the_problem(text, message):
    with pytest.raises(CalendarError, match=message):
        WorkingHours.parse(text)


def test_working_hours_constructor_validates_too():
    with pytest.raises(CalendarError, match="empty"):
        WorkingHours(())
    with pytest.raises(CalendarError, match="overlaps"):
        WorkingHours(((time(8), time(12)), (time(11), time(13))))


# --- due_at: work_hours ------------------------------------------------------------------------------------


def test_work_hours_cross_the_lunch_break(calendar):
    # 11:00-12:00 is one hour, lunch is skipped, 14:00-15:00 the second.
    assert calendar.due_at(sh(2025, 11, 10, 11), 2, "work_hours") == sh(2025, 11, 10, 15)


def test_work_hours_cross_a_night(calendar):
    # Mon 17:00-18:00, then Tue 08:00-10:00.
    assert calendar.due_at(sh(2025, 11, 10, 17), 3, "work_hours") == sh(2025, 11, 11, 10)


def test_work_hours_fractional_limit(calendar):
    # 11:30-12:00 is half an hour, then 14:00-15:00.
    assert calendar.due_at(sh(2025, 11, 10, 11, 30), 1.5, "work_hours") == sh(2025, 11, 10, 15)


def test_start_on_a_saturday_begins_on_monday_morning(calendar):
    assert calendar.due_at(sh(2025, 11, 15, 10), 2, "work_hours") == sh(2025, 11, 17, 10)


def test_start_inside_lunch_begins_at_14(calendar):
    assert calendar.due_at(sh(2025, 11, 10, 12, 30), 1, "work_hours") == sh(2025, 11, 10, 15)


def test_start_at_night_begins_next_morning(calendar):
    assert calendar.due_at(sh(2025, 11, 10, 20), 1, "work_hours") == sh(2025, 11, 11, 9)
    assert calendar.due_at(sh(2025, 11, 10, 18), 1, "work_hours") == sh(2025, 11, 11, 9)
    assert calendar.due_at(sh(2025, 11, 11, 6), 1, "work_hours") == sh(2025, 11, 11, 9)


def test_limit_ending_exactly_at_a_period_end_is_due_at_that_end(calendar):
    assert calendar.due_at(sh(2025, 11, 10, 16), 2, "work_hours") == sh(2025, 11, 10, 18)
    assert calendar.due_at(sh(2025, 11, 10, 10), 2, "work_hours") == sh(2025, 11, 10, 12)
    # A whole working day from a Monday morning ends Monday 18:00, not Tuesday 08:00.
    assert calendar.due_at(sh(2025, 11, 10, 8), 8, "work_hours") == sh(2025, 11, 10, 18)


def test_friday_afternoon_work_hours_skip_the_weekend(calendar):
    # Fri 16:00-18:00 is two hours, Saturday and Sunday are skipped, Mon 08:00-10:00 the other two.
    assert calendar.due_at(sh(2025, 11, 14, 16), 4, "work_hours") == sh(2025, 11, 17, 10)


def test_national_day_holiday_is_skipped(calendar):
    # Tue 2025-09-30 16:00-18:00, then 10-01..10-08 are holidays, Thu 10-09 08:00-10:00.
    assert not calendar.is_working_day(date(2025, 10, 1))
    assert not calendar.is_working_day(date(2025, 10, 8))
    assert calendar.due_at(sh(2025, 9, 30, 16), 4, "work_hours") == sh(2025, 10, 9, 10)


def test_make_up_working_day_is_counted(calendar):
    # Fri 2025-09-26 16:00-18:00; Sat 09-27 is a rest day; Sun 09-28 is a make-up working day (调休).
    assert not calendar.is_working_day(date(2025, 9, 27))
    assert calendar.is_working_day(date(2025, 9, 28))
    assert calendar.due_at(sh(2025, 9, 26, 16), 4, "work_hours") == sh(2025, 9, 28, 10)


# --- due_at: natural units, work_days, limits, timezones ---------------------------------------------------


def test_natural_hours_count_nights_and_weekends(calendar):
    assert calendar.due_at(sh(2025, 11, 14, 20), 48, "natural_hours") == sh(2025, 11, 16, 20)
    assert calendar.due_at(sh(2025, 11, 10, 23), 1.5, "natural_hours") == sh(2025, 11, 11, 0, 30)


def test_natural_days_count_holidays(calendar):
    assert calendar.due_at(sh(2025, 9, 30, 16), 3, "natural_days") == sh(2025, 10, 3, 16)


def test_work_days_keep_the_clock_position(calendar):
    assert calendar.due_at(sh(2025, 11, 10, 10), 3, "work_days") == sh(2025, 11, 13, 10)
    # 1.5 working days = 12 working hours: Mon 10:00-18:00 is 6, Tue 08:00-12:00 is 4, Tue 14:00-16:00 is 2.
    assert calendar.due_at(sh(2025, 11, 10, 10), 1.5, "work_days") == sh(2025, 11, 11, 16)


def test_work_days_skip_national_day(calendar):
    # 2 working days from Tue 09-30 10:00: Thu 10-09 10:00 is one, Fri 10-10 10:00 is two.
    assert calendar.due_at(sh(2025, 9, 30, 10), 2, "work_days") == sh(2025, 10, 10, 10)


def test_sixty_work_days_across_new_year_are_right_and_fast(calendar):
    # Counted by hand from Mon 2025-11-10: the weeks to Wed 12-31 give 37 working days; 2026-01-01..03 are
    # holidays, Sun 2026-01-04 is a make-up day (38); five full weeks of January give 58; Feb 2 and 3 make 60.
    started = wall_clock.perf_counter()
    due = calendar.due_at(sh(2025, 11, 10, 10), 60, "work_days")
    elapsed = wall_clock.perf_counter() - started
    assert due == sh(2026, 2, 3, 10)
    assert elapsed < 0.5


def test_custom_working_hours_define_the_working_day():
    calendar = BusinessCalendar(WorkingHours.parse("09:00-17:30"))
    # One working day = 8.5 hours: Mon 17:00-17:30, then Tue 09:00-17:00.
    assert calendar.due_at(sh(2025, 11, 10, 17), 1, "work_days") == sh(2025, 11, 11, 17)


def test_result_is_utc_and_non_local_input_is_converted(calendar):
    due = calendar.due_at(datetime(2025, 11, 10, 3, tzinfo=UTC), 2, "work_hours")  # 11:00 in Shanghai
    assert due == datetime(2025, 11, 10, 7, tzinfo=UTC)
    assert due.utcoffset() == timedelta(0)
    assert calendar.due_at(sh(2025, 11, 14, 20), 1, "natural_hours").utcoffset() == timedelta(0)


def test_zero_limit_is_due_at_start_and_negative_limit_is_rejected(calendar):
    saturday = sh(2025, 11, 15, 10)
    assert calendar.due_at(saturday, 0, "work_hours") == saturday
    assert calendar.due_at(saturday, 0, "work_hours").utcoffset() == timedelta(0)
    with pytest.raises(CalendarError, match="-1 work_hours is negative"):
        calendar.due_at(saturday, -1, "work_hours")
    with pytest.raises(CalendarError, match="not a finite number"):
        calendar.due_at(saturday, float("nan"), "work_hours")


def test_naive_datetime_is_rejected(calendar):
    with pytest.raises(CalendarError, match=r"start 2025-11-10T11:00:00 is a naive datetime"):
        calendar.due_at(datetime(2025, 11, 10, 11), 2, "work_hours")
    with pytest.raises(CalendarError, match="end .* is a naive datetime"):
        calendar.working_seconds_between(sh(2025, 11, 10, 11), datetime(2025, 11, 10, 15))
    with pytest.raises(CalendarError, match="now .* is a naive datetime"):
        calendar.elapsed_fraction(
            sh(2025, 11, 10, 10), sh(2025, 11, 10, 16), datetime(2025, 11, 10, 12), "工作时"
        )


# --- unknown years and overrides ---------------------------------------------------------------------------


def test_unknown_year_falls_back_to_monday_to_friday_with_a_warning(calendar):
    start = sh(2026, 12, 31, 16)  # a Thursday, a working day in the official 2026 calendar
    assert calendar.known_year(2026)
    assert not calendar.known_year(2027)
    due = calendar.due_at(start, 4, "work_hours")
    # Thu 16:00-18:00, then Fri 2027-01-01 counts as a working day by the Monday-to-Friday rule.
    assert due == sh(2027, 1, 1, 10)
    assert calendar.warnings_for(start, due) == ["2027 年的法定节假日与调休尚未录入，按周一至周五计算"]
    assert calendar.warnings_for(sh(2025, 11, 10, 10), sh(2026, 2, 3, 10)) == []


def test_override_for_an_unknown_year_changes_the_result_and_makes_it_known():
    calendar = BusinessCalendar(overrides={date(2027, 1, 1): False})
    start = sh(2026, 12, 31, 16)
    assert calendar.known_year(2027)
    assert not calendar.is_working_day(date(2027, 1, 1))
    due = calendar.due_at(start, 4, "work_hours")
    # Fri 01-01 is now a holiday and 01-02/03 are the weekend: Mon 2027-01-04 08:00-10:00.
    assert due == sh(2027, 1, 4, 10)
    assert calendar.warnings_for(start, due) == []


def test_override_makes_a_saturday_a_working_day():
    calendar = BusinessCalendar(overrides={date(2025, 11, 15): True})
    assert calendar.is_working_day(date(2025, 11, 15))
    assert calendar.due_at(sh(2025, 11, 14, 16), 4, "work_hours") == sh(2025, 11, 15, 10)


def test_overrides_win_over_the_official_calendar():
    calendar = BusinessCalendar(overrides={date(2025, 9, 28): False, date(2025, 11, 17): False})
    assert not calendar.is_working_day(date(2025, 9, 28))
    assert calendar.due_at(sh(2025, 9, 26, 16), 4, "work_hours") == sh(2025, 9, 29, 10)
    assert calendar.due_at(sh(2025, 11, 14, 16), 4, "work_hours") == sh(2025, 11, 18, 10)


def test_bad_overrides_and_timezone_are_rejected():
    with pytest.raises(CalendarError, match="must map a date to True"):
        BusinessCalendar(overrides={datetime(2025, 11, 15, tzinfo=UTC): True})
    with pytest.raises(CalendarError, match="must map a date to True"):
        BusinessCalendar(overrides={date(2025, 11, 15): "yes"})
    with pytest.raises(CalendarError, match="unknown timezone 'Asia/Shanghia'"):
        BusinessCalendar(timezone="Asia/Shanghia")


# --- working time elapsed and time-light share ---------------------------------------------------------------


def test_working_seconds_between(calendar):
    assert calendar.working_seconds_between(sh(2025, 11, 10, 11), sh(2025, 11, 10, 15)) == 2 * 3600
    assert calendar.working_seconds_between(sh(2025, 11, 14, 16), sh(2025, 11, 17, 10)) == 4 * 3600
    assert calendar.working_seconds_between(sh(2025, 11, 10), sh(2025, 11, 17)) == 40 * 3600
    # Tue 09-30 17:00-18:00 and Thu 10-09 08:00-09:00; the National Day week in between counts nothing.
    assert calendar.working_seconds_between(sh(2025, 9, 30, 17), sh(2025, 10, 9, 9)) == 2 * 3600
    # The weekend of 09-27/28 holds one make-up working day.
    assert calendar.working_seconds_between(sh(2025, 9, 27), sh(2025, 9, 29)) == 8 * 3600
    assert calendar.working_seconds_between(sh(2025, 11, 10, 15), sh(2025, 11, 10, 11)) == 0
    assert calendar.working_seconds_between(sh(2025, 11, 10, 12, 15), sh(2025, 11, 10, 13, 45)) == 0


@pytest.mark.parametrize(
    ("start", "limit", "unit"),
    [
        (sh(2025, 11, 10, 11), 2, "work_hours"),
        (sh(2025, 9, 26, 16, 20), 7.25, "work_hours"),
        (sh(2025, 11, 10, 10), 60, "work_days"),
        (sh(2026, 12, 30, 9), 5, "work_days"),
    ],
)
def test_due_at_and_working_seconds_between_agree(calendar, start, limit, unit):
    hours = limit if unit == "work_hours" else limit * 8
    due = calendar.due_at(start, limit, unit)
    assert calendar.working_seconds_between(start, due) == pytest.approx(hours * 3600)


def test_elapsed_fraction_for_work_units_counts_working_time_only(calendar):
    start, due = sh(2025, 11, 10, 10), sh(2025, 11, 10, 16)  # 4 working hours: 10-12 and 14-16
    assert calendar.elapsed_fraction(start, due, sh(2025, 11, 10, 9), "work_hours") == 0.0
    assert calendar.elapsed_fraction(start, due, sh(2025, 11, 10, 13), "work_hours") == 0.5
    assert calendar.elapsed_fraction(start, due, sh(2025, 11, 10, 14, 30), "work_hours") == 0.625
    assert calendar.elapsed_fraction(start, due, due, "work_hours") == 1.0
    # Overdue: 16:00-18:00 adds two more working hours, the night adds none, Tue 08:00-09:00 adds one.
    assert calendar.elapsed_fraction(start, due, sh(2025, 11, 10, 20), "work_hours") == 1.5
    assert calendar.elapsed_fraction(start, due, sh(2025, 11, 11, 7), "work_hours") == 1.5
    assert calendar.elapsed_fraction(start, due, sh(2025, 11, 11, 9), "工作日") == 1.75


def test_elapsed_fraction_for_natural_units_counts_wall_clock(calendar):
    start, due = sh(2025, 11, 10, 10), sh(2025, 11, 10, 16)
    assert calendar.elapsed_fraction(start, due, sh(2025, 11, 10, 14, 30), "natural_hours") == 0.75
    assert calendar.elapsed_fraction(start, due, sh(2025, 11, 10, 19), "自然时") == 1.5
    assert calendar.elapsed_fraction(start, due, sh(2025, 11, 10, 9), "natural_days") == 0.0


def test_elapsed_fraction_of_a_zero_limit(calendar):
    moment = sh(2025, 11, 10, 10)
    assert calendar.elapsed_fraction(moment, moment, sh(2025, 11, 10, 9), "work_hours") == 0.0
    assert calendar.elapsed_fraction(moment, moment, moment, "work_hours") == 1.0
    assert calendar.elapsed_fraction(moment, moment, sh(2025, 11, 10, 11), "natural_hours") == float("inf")


def test_shift_due_keeps_the_working_time_left_when_the_hold_began():
    calendar = BusinessCalendar()
    sh = ZoneInfo("Asia/Shanghai")
    due = datetime(2025, 11, 10, 16, 0, tzinfo=sh)  # Monday 16:00
    held = datetime(2025, 11, 10, 11, 0, tzinfo=sh)  # 1 h before lunch + 2 h after = 3 working hours left
    resumed = datetime(2025, 12, 10, 9, 0, tzinfo=sh)  # a Wednesday, 30 days later
    # 3 working hours from Wednesday 09:00 run out exactly at the end of the morning
    assert calendar.shift_due(due, held, resumed, "work_hours") == datetime(2025, 12, 10, 12, 0, tzinfo=sh)
    # 5 natural hours were left: 09:00 + 5 h
    assert calendar.shift_due(due, held, resumed, "natural_hours") == datetime(2025, 12, 10, 14, 0, tzinfo=sh)


def test_shift_due_of_an_overdue_case_stays_overdue_by_the_same_amount():
    calendar = BusinessCalendar()
    sh = ZoneInfo("Asia/Shanghai")
    due = datetime(2025, 11, 10, 10, 0, tzinfo=sh)
    held = datetime(2025, 11, 10, 11, 0, tzinfo=sh)
    resumed = datetime(2025, 11, 20, 9, 0, tzinfo=sh)
    assert calendar.shift_due(due, held, resumed, "work_hours") == datetime(2025, 11, 20, 8, 0, tzinfo=sh)
