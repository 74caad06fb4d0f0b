"""Time lights (红黄绿灯): how much of a time limit is used, as the colour staff read at a glance.

A limit runs from when it started (the case opened, or the task arrived) to its due time. The used share comes
from the business calendar, so a working-time limit does not move over nights, lunch breaks and holidays. The
colours are the district's ``time_lights`` setting (:mod:`engine.settings`: three or four ``[colour, share]``
bands, the first from 0; by default green, yellow from 80 %, red from 100 %, the moment the limit runs out —
the same red that issues supervision sheets). The words shown with each colour (正常, 临期, 超时) belong to the
translation catalog, not here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine import settings
from engine.time.calendar import BusinessCalendar, normalize_unit


@dataclass(frozen=True)
class Scheme:
    """The colour bands in force: each colour applies from its share of the limit on, until the next one's."""

    bands: tuple[tuple[str, float], ...]

    @property
    def colours(self) -> tuple[str, ...]:
        """The scheme's colours, from the first to the last (red)."""
        return tuple(colour for colour, _share in self.bands)

    def colour(self, fraction: float) -> str:
        """The colour of a used share: that of the last band whose share has been reached."""
        reached = self.bands[0][0]
        for colour, share in self.bands:
            if fraction >= share:
                reached = colour
        return reached


@dataclass(frozen=True)
class TimeLight:
    """A limit's colour and the used share it comes from (1.0 = due now; infinity for a zero limit overdue)."""

    colour: str
    fraction: float

    @property
    def percent(self) -> int | None:
        """The used share in whole percent, or None when it is unbounded."""
        return None if math.isinf(self.fraction) else round(self.fraction * 100)


def load_scheme(session: Session) -> Scheme:
    """The district's colour scheme, from the ``time_lights`` setting (or its default)."""
    return Scheme(
        tuple((str(colour), float(share)) for colour, share in settings.get(session, "time_lights"))
    )


def light(
    calendar: BusinessCalendar,
    scheme: Scheme,
    start: datetime | None,
    due: datetime | None,
    at: datetime,
    unit: str,
) -> TimeLight | None:
    """The light of a limit from ``start`` to ``due`` as it stands at ``at``; None when there is no limit."""
    if start is None or due is None:
        return None
    fraction = calendar.elapsed_fraction(start, due, max(at, start), unit)
    return TimeLight(scheme.colour(fraction), fraction)


def task_light(
    calendar: BusinessCalendar,
    scheme: Scheme,
    task: dict[str, Any],
    event: dict[str, Any],
    unit: str,
    now: datetime,
) -> TimeLight | None:
    """The light of an inbox task (a row of :func:`engine.reads.queries.task_row`), frozen when it was completed.

    A task carrying the case's handling limit (the department's) is measured from the moment that limit started
    (its dispatch), so that a rework task, whose deadline is not reset, shows the case's colour; any other task
    is measured from its own arrival.
    """
    due = task.get("due_at")
    start = limit_start(due, task["created_at"], case_start(event), event.get("due_at"))
    return light(calendar, scheme, start, due, task.get("completed_at") or now, unit)


def case_start(event: Any) -> datetime | None:
    """Where a case's handling limit (处置时限) started: its dispatch to the department holding it, or its
    opening while no department has it yet (an event row or its dict)."""
    if isinstance(event, dict):
        return event.get("handling_started_at") or event.get("opened_at")
    return event.handling_started_at or event.opened_at


def case_running(event: Any) -> bool:
    """Whether an open case's own limit runs (an event row): until its department has reported back — then the
    platform's steps answer to their own limits; a rework or a reopening starts it running again."""
    return bool(event.state == "open" and event.handled_at is None)


def event_light(
    calendar: BusinessCalendar, scheme: Scheme, event: dict[str, Any], unit: str, now: datetime
) -> TimeLight | None:
    """The light of a case's handling limit from its start (:func:`case_start`) to its deadline, frozen at the
    department's report back (while it stands) or at the closing."""
    frozen = event.get("handled_at") or event.get("closed_at")
    return light(calendar, scheme, case_start(event), event.get("due_at"), frozen or now, unit)


def reached_at(
    calendar: BusinessCalendar, start: datetime, due: datetime, unit: str, share: float
) -> datetime:
    """When the used share of a limit from ``start`` to ``due`` reaches ``share`` (1.0 → at the due time).

    Working time for work units, wall-clock time for natural units — the inverse of ``elapsed_fraction``.
    """
    if share == 1.0 or due <= start:
        return due
    if normalize_unit(unit) in ("work_hours", "work_days"):
        hours = calendar.working_seconds_between(start, due) / 3600 * share
        return calendar.due_at(start, hours, "work_hours")
    return start + (due - start) * share


def limit_start(
    task_due: datetime | None, task_created: datetime, case_opened: datetime | None, case_due: datetime | None
) -> datetime:
    """Where a task's limit starts: where the case's handling limit started (``case_opened``: :func:`case_start`)
    when the task carries the case's deadline, else its arrival."""
    if case_opened is not None and task_due is not None and task_due == case_due:
        return case_opened
    return task_created


def next_change(
    calendar: BusinessCalendar,
    scheme: Scheme,
    start: datetime | None,
    due: datetime | None,
    unit: str,
    after: datetime,
) -> datetime | None:
    """The next moment after ``after`` at which the limit's colour changes: None once it is in the last band,
    and None for a task or case without a limit (no start or no due time: its colour never changes)."""
    if start is None or due is None:
        return None
    for _colour, share in scheme.bands[1:]:
        moment = reached_at(calendar, start, due, unit, share)
        if moment > after:
            return moment
    return None
