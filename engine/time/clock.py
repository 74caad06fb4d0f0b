"""One clock for the whole engine.

Every "now" in gridloop comes from here, including the moment SpiffWorkflow compares a timer's due time
with the present (its timer module calls ``datetime.now`` directly and has no injection point, so
:func:`install_in_spiffworkflow` replaces the ``datetime`` name in that module with a subclass whose
``now()`` asks the current clock). Tests and simulations use :class:`ManualClock` and move time without
sleeping; the running product uses :class:`SystemClock`.

The current clock is a context variable, so concurrent commands in different threads can run under
different clocks; :func:`using` sets it for the duration of a command.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the time, as an aware datetime in UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Return the current time in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: for tests, simulations and replays."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the clock's current time."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new time."""
        with self._lock:
            self._now = self._now + delta
            return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (timezone-aware)."""
        if moment.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware time")
        with self._lock:
            self._now = moment.astimezone(UTC)


_SYSTEM = SystemClock()
_current: ContextVar[Clock] = ContextVar("gridloop_clock", default=_SYSTEM)


def current() -> Clock:
    """Return the clock in force for the running command."""
    return _current.get()


def now() -> datetime:
    """Return "now" according to the clock in force."""
    return _current.get().now()


@contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """Run the enclosed block under ``clock``."""
    token = _current.set(clock)
    try:
        yield clock
    finally:
        _current.reset(token)


class _ClockedDatetime(datetime):
    """A ``datetime`` whose ``now()`` asks gridloop's current clock."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]  # mirrors datetime.now
        moment = _current.get().now()
        return moment.astimezone(tz) if tz is not None else moment.astimezone().replace(tzinfo=None)


def install_in_spiffworkflow() -> None:
    """Make SpiffWorkflow's timer events read gridloop's clock. Idempotent."""
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    timer.datetime = _ClockedDatetime
