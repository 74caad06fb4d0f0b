"""The business calendar: when a time limit runs out, and how much of it is used.

Every case and step has a handling limit in one of four units (DOMAIN.md, "Time limits and supervision"):
working hours and working days count only the district's working periods on working days, natural hours and
natural days count wall-clock time, nights and holidays included. Working days come from the official Chinese
holiday calendar (``chinese_calendar``, which includes the make-up working days, 调休) for the years it knows,
from an admin-edited override table, and otherwise from the Monday-to-Friday rule, with a warning so that
staff know a deadline in an unpublished year may move once that year's holidays are entered.

Pure Python and side-effect free: the clock, the settings and the override table are passed in, so that the
same calendar serves due-time calculation in BPMN expressions, timers and the time lights.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chinese_calendar import holidays as _official_holidays
from chinese_calendar import is_workday as _chinese_calendar_is_workday

from engine.errors import GridloopError

UNITS: dict[str, str] = {
    "work_hours": "工作时",
    "work_days": "工作日",
    "natural_hours": "自然时",
    "natural_days": "自然日",
}

UNIT_ALIASES: dict[str, str] = {label: unit for unit, label in UNITS.items()} | {unit: unit for unit in UNITS}

_WORK_UNITS = frozenset({"work_hours", "work_days"})

# chinese_calendar refuses dates outside the years its holiday table spans; the same span is "known" here.
_OFFICIAL_YEARS = range(min(_official_holidays).year, max(_official_holidays).year + 1)


@functools.cache
def _official_is_workday(day: date) -> bool:
    # the official table is fixed for the installed library; a lookup costs tens of microseconds, and a
    # deadline walks a day per lookup, so each day is looked up once per process
    return _chinese_calendar_is_workday(day)


_PERIOD_PATTERN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class CalendarError(GridloopError, ValueError):
    """A calendar input is wrong: an unknown unit, a naive datetime, a bad limit or bad working hours."""

    code = "calendar.invalid"


def normalize_unit(unit: str) -> str:
    """Return the canonical unit for ``unit``, given either as a canonical name or as its Chinese label.

    Limits come from DMN tables and settings that designers type in Chinese (``工作时``) as often as in English,
    so both spellings are accepted and everything downstream sees one name.
    """
    canonical = UNIT_ALIASES.get(unit.strip()) if isinstance(unit, str) else None
    if canonical is None:
        valid = ", ".join(f"{name} ({label})" for name, label in UNITS.items())
        raise CalendarError(
            "unknown time-limit unit {unit!r}; use one of: {valid}",
            code="calendar.unknown_unit",
            unit=unit,
            valid=valid,
        )
    return canonical


def _format_periods(periods: tuple[tuple[time, time], ...]) -> str:
    return ",".join(f"{start:%H:%M}-{end:%H:%M}" for start, end in periods)


@dataclass(frozen=True)
class WorkingHours:
    """The working periods of a working day, in local time, in order and without overlap.

    A district setting (default 08:00-12:00 and 14:00-18:00); the gaps between periods, such as the lunch
    break, and the time outside them do not count towards working-time limits.
    """

    periods: tuple[tuple[time, time], ...] = ((time(8), time(12)), (time(14), time(18)))

    def __post_init__(self) -> None:
        if not self.periods:
            raise CalendarError(
                "working hours are empty; give at least one period, e.g. '08:00-12:00'",
                code="calendar.no_periods",
            )
        shown = _format_periods(self.periods)
        previous: tuple[time, time] | None = None
        for start, end in self.periods:
            if start >= end:
                raise CalendarError(
                    "working hours {hours}: period {period} does not end after it starts;"
                    " periods must lie within one day, e.g. '14:00-18:00'",
                    code="calendar.period_backwards",
                    hours=shown,
                    period=f"{start:%H:%M}-{end:%H:%M}",
                )
            if previous is not None and start < previous[0]:
                raise CalendarError(
                    "working hours {hours}: period {period} comes before {previous}; list periods in time order",
                    code="calendar.periods_out_of_order",
                    hours=shown,
                    period=f"{start:%H:%M}-{end:%H:%M}",
                    previous=f"{previous[0]:%H:%M}-{previous[1]:%H:%M}",
                )
            if previous is not None and start < previous[1]:
                raise CalendarError(
                    "working hours {hours}: period {period} overlaps {previous};"
                    " start each period at or after the previous one ends",
                    code="calendar.periods_overlap",
                    hours=shown,
                    period=f"{start:%H:%M}-{end:%H:%M}",
                    previous=f"{previous[0]:%H:%M}-{previous[1]:%H:%M}",
                )
            previous = (start, end)

    @classmethod
    def parse(cls, text: str) -> WorkingHours:
        """Parse the settings form of working hours, ``"08:00-12:00,14:00-18:00"``.

        Admins edit this as text, so every mistake is reported with the text and the offending period.
        """
        periods = []
        for part in text.split(","):
            match = _PERIOD_PATTERN.match(part)
            if match is None:
                raise CalendarError(
                    "working hours {hours!r}: cannot read period {period!r};"
                    " write comma-separated HH:MM-HH:MM periods, e.g. '08:00-12:00,14:00-18:00'",
                    code="calendar.unreadable_period",
                    hours=text,
                    period=part.strip(),
                )
            start_hour, start_minute, end_hour, end_minute = (int(group) for group in match.groups())
            try:
                periods.append((time(start_hour, start_minute), time(end_hour, end_minute)))
            except ValueError:
                raise CalendarError(
                    "working hours {hours!r}: {period!r} is not a time of day; use 00:00 to 23:59",
                    code="calendar.not_a_time_of_day",
                    hours=text,
                    period=part.strip(),
                ) from None
        return cls(tuple(periods))

    def hours_per_day(self) -> float:
        """Working hours in one working day; converts 工作日 limits into working time."""
        day = date.min
        worked = sum(
            (datetime.combine(day, end) - datetime.combine(day, start) for start, end in self.periods),
            timedelta(),
        )
        return worked / timedelta(hours=1)


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise CalendarError(
            "{name} must be a timezone-aware datetime, got {kind}",
            code="calendar.not_a_moment",
            name=name,
            kind=type(value).__name__,
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalendarError(
            "{name} {moment} is a naive datetime; attach a timezone (e.g. tzinfo=UTC) so that"
            " working hours can be placed in the calendar's local time",
            code="calendar.naive_moment",
            name=name,
            moment=value.isoformat(),
        )


class BusinessCalendar:
    """Working days and working hours of one district, and the time-limit arithmetic built on them.

    Working-time arithmetic happens in the calendar's timezone (working hours are local wall-clock times);
    results are returned in UTC, the form the store and timers keep.
    """

    def __init__(
        self,
        working_hours: WorkingHours | None = None,
        timezone: str = "Asia/Shanghai",
        overrides: Mapping[date, bool] | None = None,
    ):
        """Build a district's calendar from its settings; the defaults are 08:00-12:00, 14:00-18:00 in Shanghai.

        overrides: an admin-edited table, date -> True (a working day, e.g. a make-up day 调休) or False
        (a holiday). Overrides always win. For dates in years chinese_calendar does not know, overrides are the
        only source besides the Mon–Fri rule."""
        self.working_hours = working_hours or WorkingHours()
        try:
            self.timezone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CalendarError(
                "unknown timezone {timezone!r}; use an IANA name such as 'Asia/Shanghai'",
                code="calendar.unknown_timezone",
                timezone=timezone,
            ) from None
        self.overrides: dict[date, bool] = {}
        for day, working in (overrides or {}).items():
            if isinstance(day, datetime) or not isinstance(day, date) or not isinstance(working, bool):
                raise CalendarError(
                    "calendar override {day!r}: {working!r} must map a date to True (working day)"
                    " or False (holiday)",
                    code="calendar.bad_override",
                    day=day,
                    working=working,
                )
            self.overrides[day] = working
        self._override_years = frozenset(day.year for day in self.overrides)
        self._work_per_day = timedelta(hours=self.working_hours.hours_per_day())

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day: the override table first, then the official calendar for the
        years it knows (make-up days count, holidays do not), otherwise Monday to Friday."""
        if day in self.overrides:
            return self.overrides[day]
        if day.year in _OFFICIAL_YEARS:
            return _official_is_workday(day)
        return day.weekday() < 5

    def known_year(self, year: int) -> bool:
        """Whether the holidays of ``year`` are known, from the official calendar or from at least one override.

        An admin who enters any day of a new year is taken to have entered that year's holidays.
        """
        return year in _OFFICIAL_YEARS or year in self._override_years

    def due_at(self, start: datetime, limit: float, unit: str) -> datetime:
        """When a limit of ``limit`` ``unit`` that starts at ``start`` runs out, in UTC.

        Natural units are elapsed time (1 自然日 = 24 hours). Working hours consume only working time; a start
        outside working time begins at the next period's start, and a limit that runs out exactly at a period's
        end is due at that end (18:00), not at the next morning. A working day is the length of one working day
        in working time (``hours_per_day`` working hours, 1 工作日 = 8 工作时 by default), so N working days later
        is the same clock position N working days on, as districts count it. A zero limit is due at once.
        """
        _require_aware(start, "start")
        canonical = normalize_unit(unit)
        if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit):
            raise CalendarError(
                "time limit {limit!r} {unit} is not a finite number",
                code="calendar.limit_not_a_number",
                limit=limit,
                unit=canonical,
            )
        if limit < 0:
            raise CalendarError(
                "time limit {limit!r} {unit} is negative; give 0 or more",
                code="calendar.limit_negative",
                limit=limit,
                unit=canonical,
            )
        if limit == 0:
            return start.astimezone(UTC)
        if canonical == "natural_hours":
            return start.astimezone(UTC) + timedelta(hours=limit)
        if canonical == "natural_days":
            return start.astimezone(UTC) + timedelta(days=limit)
        amount = timedelta(hours=limit) if canonical == "work_hours" else self._work_per_day * limit
        return self._add_working_time(start.astimezone(self.timezone), amount).astimezone(UTC)

    def warnings_for(self, start: datetime, end: datetime) -> list[str]:
        """One message per year between ``start`` and ``end`` whose holidays are not known.

        Deadlines in such years follow the Monday-to-Friday rule and may move once the year's holidays are
        entered; the message tells staff so.
        """
        _require_aware(start, "start")
        _require_aware(end, "end")
        first, last = sorted((start.astimezone(self.timezone).year, end.astimezone(self.timezone).year))
        return [
            f"{year} 年的法定节假日与调休尚未录入，按周一至周五计算"
            for year in range(first, last + 1)
            if not self.known_year(year)
        ]

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        """Working time elapsed from ``start`` to ``end``, in seconds; 0 if ``end`` is not after ``start``.

        Drives the time lights of working-time limits, which advance only while staff are at work.
        """
        _require_aware(start, "start")
        _require_aware(end, "end")
        if end <= start:
            return 0.0
        local_start, local_end = start.astimezone(self.timezone), end.astimezone(self.timezone)
        total = timedelta()
        for period_start, period_end in self._working_periods(local_start):
            if period_start >= local_end:
                break
            total += min(period_end, local_end) - period_start
        return total.total_seconds()

    def shift_due(self, due: datetime, held_at: datetime, resumed_at: datetime, unit: str) -> datetime:
        """A deadline after a hold (挂账): the clock stopped at ``held_at`` and runs again from ``resumed_at``.

        What was left of the limit when the hold began — working time for work units, wall-clock time for
        natural units — is counted again from the resumption. A case already overdue when put on hold stays
        overdue by the same amount.
        """
        for value, name in ((due, "due"), (held_at, "held_at"), (resumed_at, "resumed_at")):
            _require_aware(value, name)
        if normalize_unit(unit) in _WORK_UNITS:
            if due <= held_at:
                return (resumed_at - (held_at - due)).astimezone(UTC)
            left = self.working_seconds_between(held_at, due)
            return self.due_at(resumed_at, left / 3600, "work_hours")
        return (due + (resumed_at - held_at)).astimezone(UTC)

    def elapsed_fraction(self, start: datetime, due: datetime, now: datetime, unit: str) -> float:
        """The used share of a limit at ``now``: 0 at ``start``, 1 at ``due``, above 1 once overdue.

        Working-time based for work units (nights, lunch breaks and holidays do not use up a 工作时 limit, so the
        share stays put over them), wall-clock based for natural units. Never negative. A zero-length limit is
        wholly used at once: 1.0 at ``due`` and infinity after it.
        """
        _require_aware(start, "start")
        _require_aware(due, "due")
        _require_aware(now, "now")
        if normalize_unit(unit) in _WORK_UNITS:
            total = self.working_seconds_between(start, due)
            used = self.working_seconds_between(start, now)
        else:
            total = max((due - start).total_seconds(), 0.0)
            used = max((now - start).total_seconds(), 0.0)
        if total == 0:
            return math.inf if now > due else (1.0 if now == due else 0.0)
        return used / total

    def _working_periods(self, local_start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Yield the working periods from ``local_start`` on, in order, the first one clipped to start there.

        Endless: callers stop when they have what they need. Non-working days cost one lookup each.
        """
        day = local_start.date()
        while True:
            if self.is_working_day(day):
                for start_time, end_time in self.working_hours.periods:
                    period_start = datetime.combine(day, start_time, tzinfo=self.timezone)
                    period_end = datetime.combine(day, end_time, tzinfo=self.timezone)
                    if period_end > local_start:
                        yield max(period_start, local_start), period_end
            day += timedelta(days=1)

    def _add_working_time(self, local_start: datetime, amount: timedelta) -> datetime:
        """The local moment at which ``amount`` of working time from ``local_start`` has been used.

        Walks period by period rather than minute by minute, so even a 60 工作日 limit takes a few hundred steps.
        """
        remaining = amount
        for period_start, period_end in self._working_periods(local_start):
            available = period_end - period_start
            if remaining <= available:
                return period_start + remaining
            remaining -= available
        raise AssertionError("unreachable: _working_periods never runs out")
