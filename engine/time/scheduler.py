"""The timer scheduler: APScheduler wakes at the next timer's due time instead of polling coarsely.

Every command that creates a timer tells the scheduler of its process (:meth:`Gridloop.add_timer_listener`),
which re-arms a single date job for the earliest due time, so a timer fires within moments of falling due.
Timers created by other processes are learnt from the database by a backstop job (every 30 s by default).
Several schedulers — one per web worker, or a separate ``gridloop`` process — may run at once: firing claims
the timer row inside the event's transaction, so each timer fires exactly once. At start-up the scheduler
first fires whatever fell due while nothing was running.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)

NEXT_TIMER_JOB = "gridloop-next-timer"
BACKSTOP_JOB = "gridloop-backstop"

if TYPE_CHECKING:
    from engine.app import Gridloop


class TimerScheduler:
    """Fires an engine's due timers at their due times, in a background thread."""

    def __init__(
        self, gl: Gridloop, name: str | None = None, backstop: timedelta = timedelta(seconds=30)
    ) -> None:
        self.gl = gl
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.backstop = backstop
        self._scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )
        self._armed: datetime | None = None
        self._lock = threading.Lock()
        gl.add_timer_listener(self.arm)

    def catch_up(self) -> int:
        """Fire everything already due (timers missed while no scheduler ran); return how many timers fired.

        Supervision catches up too: sheets for what went red meanwhile are issued, overdue ones escalated.
        """
        fired = self.gl.tick(fired_by=self.name)
        self.gl.supervise(fired_by=self.name)
        return fired

    def start(self, paused: bool = False) -> None:
        """Start the background thread; unless ``paused``, catch up first."""
        self._scheduler.start(paused=paused)
        self._scheduler.add_job(
            self._rearm_from_database, "interval", seconds=self.backstop.total_seconds(), id=BACKSTOP_JOB
        )
        if not paused:
            self.catch_up()
        self._rearm_from_database()

    def arm(self, due: datetime) -> None:
        """Wake at ``due`` unless already armed for an earlier time."""
        with self._lock:
            if self._armed is not None and self._armed <= due:
                return
            self._armed = due
            if self._scheduler.running:
                # a timer fires once it is past its due time, so wake a millisecond after it
                run_at = due + timedelta(milliseconds=1)
                self._scheduler.add_job(
                    self._run, "date", run_date=run_at, id=NEXT_TIMER_JOB, replace_existing=True
                )

    def armed_for(self) -> datetime | None:
        """The due time the scheduler will next wake at."""
        return self._armed

    def shutdown(self) -> None:
        """Stop the background thread."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _run(self) -> None:
        with self._lock:
            self._armed = None
        try:
            fired = self.gl.tick(fired_by=self.name)
            sheets = self.gl.supervise(fired_by=self.name)
            if fired or any(sheets.values()):
                log.info("fired %d timer(s), supervision %s", fired, sheets)
        except Exception:  # a failing timer must not stop the scheduler; the next wake retries it
            log.exception("firing timers failed")
        self._rearm_from_database()

    def _rearm_from_database(self) -> None:
        due = self.gl.next_timer_due()
        if due is not None:
            self.arm(due)
