"""Time lights (红黄绿灯): how much of a time limit is used, as the colour staff read at a glance.

A limit runs from when it started (the case opened, or the task arrived) to its due time. The used share comes
from the business calendar, so a working-time limit does not move over nights, lunch breaks and holidays. The
thresholds are a district setting (DOMAIN.md: three- or four-colour schemes), stored in the ``settings`` table
under ``time_light_thresholds`` as ``{"yellow": 0.8, "red": 1.0}``; without that row the common default holds:
green below 80 %, yellow from 80 % up to the due time, red once overdue. The words shown with each colour
(正常, 临期, 超时) belong to the translation catalog, not here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.calendar import BusinessCalendar
from engine.models import Setting

SETTING_KEY = "time_light_thresholds"
COLOURS: tuple[str, ...] = ("green", "yellow", "red")


@dataclass(frozen=True)
class Thresholds:
    """Where the colours change, as shares of the limit: yellow from ``yellow``, red beyond ``red``."""

    yellow: float = 0.8
    red: float = 1.0

    def __post_init__(self) -> None:
        if not (0 < self.yellow <= self.red):
            raise ValueError(
                f"time light thresholds yellow={self.yellow} red={self.red}: need 0 < yellow <= red,"
                ' e.g. {"yellow": 0.8, "red": 1.0}'
            )

    def colour(self, fraction: float) -> str:
        """The colour of a used share: green below ``yellow``, yellow up to ``red``, red beyond it."""
        if fraction > self.red:
            return "red"
        if fraction >= self.yellow:
            return "yellow"
        return "green"


@dataclass(frozen=True)
class TimeLight:
    """A limit's colour and the used share it comes from (1.0 = due now; infinity for a zero limit overdue)."""

    colour: str
    fraction: float

    @property
    def percent(self) -> int | None:
        """The used share in whole percent, or None when it is unbounded."""
        return None if math.isinf(self.fraction) else round(self.fraction * 100)


def load_thresholds(session: Session) -> Thresholds:
    """The district's thresholds from the settings table, or the defaults when none are set."""
    row = session.get(Setting, SETTING_KEY)
    if row is None or not isinstance(row.value, dict):
        return Thresholds()
    defaults = Thresholds()
    return Thresholds(
        yellow=float(row.value.get("yellow", defaults.yellow)), red=float(row.value.get("red", defaults.red))
    )


def light(
    calendar: BusinessCalendar,
    thresholds: Thresholds,
    start: datetime | None,
    due: datetime | None,
    at: datetime,
    unit: str,
) -> TimeLight | None:
    """The light of a limit from ``start`` to ``due`` as it stands at ``at``; None when there is no limit."""
    if start is None or due is None:
        return None
    fraction = calendar.elapsed_fraction(start, due, max(at, start), unit)
    return TimeLight(thresholds.colour(fraction), fraction)


def task_light(
    calendar: BusinessCalendar,
    thresholds: Thresholds,
    task: dict[str, Any],
    event: dict[str, Any],
    unit: str,
    now: datetime,
) -> TimeLight | None:
    """The light of an inbox task (a row of :func:`engine.queries.task_row`), frozen when it was completed.

    A task carrying the case's deadline (the department's handling) is measured from the moment the case was
    opened, so a rework task shows the same colour as the case; any other task from its own arrival.
    """
    due = task.get("due_at")
    opened = event.get("opened_at")
    start = (
        opened
        if opened is not None and due is not None and due == event.get("due_at")
        else task["created_at"]
    )
    at = task.get("completed_at") or now
    return light(calendar, thresholds, start, due, at, unit)


def event_light(
    calendar: BusinessCalendar, thresholds: Thresholds, event: dict[str, Any], unit: str, now: datetime
) -> TimeLight | None:
    """The light of a case from its opening (立案) to its deadline, frozen at its closing."""
    return light(
        calendar, thresholds, event.get("opened_at"), event.get("due_at"), event.get("closed_at") or now, unit
    )
