"""The timer scheduler: APScheduler wakes at the next timer's due time instead of polling coarsely.

A scheduler keeps a single date job armed for the earliest due time it knows of (:meth:`TimerScheduler.arm`),
and hears of every timer a command adds or moves, in whichever process the command ran, within a second:

- in its own process, from the command itself once it has committed (:meth:`Gridloop.add_timer_listener`);
- on PostgreSQL, from every process: the command's transaction sends ``NOTIFY gridloop_timers, '<due time>'``
  (:func:`engine.time.timers.notify`), which the server delivers at commit; the scheduler keeps one dedicated
  connection LISTENing in a thread of its own, and is listening once :meth:`TimerScheduler.start` returns.
  Each time that connection is made it re-reads the next due time (notifications sent while nobody listened
  are lost); after an error it reconnects, waiting 1 s, then twice as long each time up to 30 s. Schedulers
  of other schemas in the same database hear the notifications too; they wake, find nothing due, and re-arm.
- on SQLite, from every process: SQLite has no notifications, so the scheduler reads the next due time once a
  second (:func:`engine.time.timers.next_due`: one probe of the ``(status, due_at)`` index, and in WAL mode
  a reader never waits for the writer). A timer due a second or more after its command is armed for before
  it falls due; one due sooner fires up to a second late. Watching the database's log file for changes
  would wake on every commit, need the same query, and a dependency besides.

A backstop job (every 30 s by default) re-reads the next due time whatever happened to the rest; it also
learns of the supervision moments (a time light changing colour, a sheet to issue or escalate), which come
from tasks' deadlines rather than from timers, so they are armed for by the backstop and after every firing.
Several schedulers — a separate ``gridloop scheduler`` process or several, or the one ``gridloop serve`` runs —
may run at once: firing claims the timer row inside the event's transaction, so each timer fires exactly once.
At start-up the scheduler first fires whatever fell due while nothing was running.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.background import BackgroundScheduler

from engine.time import timers as timer_rows

log = logging.getLogger(__name__)

NEXT_TIMER_JOB = "gridloop-next-timer"
BACKSTOP_JOB = "gridloop-backstop"
POLL_JOB = "gridloop-poll"
NOTICES_JOB = "gridloop-notices"
VISITS_JOB = "gridloop-visit-duties"
MONTHLY_REPORT_JOB = "gridloop-monthly-report"
# how long the listening thread waits for a notification before it looks whether it is to stop
LISTEN_WAIT_SECONDS = 1.0
RECONNECT_PAUSES = (1.0, 30.0)  # the first pause after a failed connection, and the longest
LISTEN_START_SECONDS = 10.0  # how long start() waits for the first connection to listen

if TYPE_CHECKING:
    from engine.app import Gridloop


class TimerScheduler:
    """Fires an engine's due timers at their due times, in a background thread."""

    def __init__(
        self,
        gl: Gridloop,
        name: str | None = None,
        backstop: timedelta = timedelta(seconds=30),
        poll: timedelta = timedelta(seconds=1),
        notices: timedelta = timedelta(seconds=10),
    ) -> None:
        """``backstop``: how often the next due time is re-read whatever else happens; ``poll``: how often
        it is read on SQLite, where other processes' timers are learnt only so; ``notices``: how often the
        outbox's due messages are delivered (:mod:`engine.notices.outbox`)."""
        self.gl = gl
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.backstop = backstop
        self.poll = poll
        self.notices = notices
        self._listener = (
            TimerListener(gl, self.arm, self._rearm_from_database, f"gridloop scheduler {self.name}")
            if gl.db.dialect == "postgresql"
            else None
        )
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
        """Start the background threads (on PostgreSQL, once listening: waiting up to
        :data:`LISTEN_START_SECONDS` for it); unless ``paused``, catch up first."""
        self._scheduler.start(paused=paused)
        self._scheduler.add_job(
            self._rearm_from_database, "interval", seconds=self.backstop.total_seconds(), id=BACKSTOP_JOB
        )
        # a signed audit checkpoint outside the database about once a day between all schedulers (engine.audit)
        self._scheduler.add_job(
            self.gl.write_checkpoint,
            "interval",
            days=1,
            kwargs={"unless_within": timedelta(hours=12)},
            id="gridloop-audit-checkpoint",
        )
        # the month just ended's evaluation report, written at 01:00 on the first of each month in the calendar's
        # time zone (and at start-up when it is missing): whichever scheduler comes first writes it, once
        self._scheduler.add_job(
            self._write_monthly_report,
            "cron",
            day=1,
            hour=1,
            timezone=self.gl.parts.settings.calendar().timezone,
            id=MONTHLY_REPORT_JOB,
        )
        # the visit duties due today (engine.commands.visits), started each morning at 07:00 in the calendar's
        # time zone (and at start-up): whichever scheduler comes first starts each, once
        self._scheduler.add_job(
            self._start_visits,
            "cron",
            hour=7,
            timezone=self.gl.parts.settings.calendar().timezone,
            id=VISITS_JOB,
        )
        # the outbox's due notices, sent on through the channels this process has adapters for
        self._scheduler.add_job(
            self._deliver_notices, "interval", seconds=self.notices.total_seconds(), id=NOTICES_JOB
        )
        if not paused:
            self.catch_up()
            self._write_monthly_report()
            self._start_visits()
        # what other processes announce from now on (what they did before, the re-arm below reads)
        if self._listener is not None:
            self._listener.start()
            # so that once started, the scheduler hears of every timer (it keeps trying should this time out)
            self._listener.listening.wait(LISTEN_START_SECONDS)
        else:
            self._scheduler.add_job(
                self._arm_for_next_timer, "interval", seconds=self.poll.total_seconds(), id=POLL_JOB
            )
        self._rearm_from_database()

    def arm(self, due: datetime) -> None:
        """Wake at ``due`` unless a wake for an earlier time is pending."""
        with self._lock:
            # armed for a wake that no longer waits (it was skipped): arm again
            stale = self._scheduler.running and self._scheduler.get_job(NEXT_TIMER_JOB) is None
            if self._armed is not None and self._armed <= due and not stale:
                return
            self._armed = due
            if self._scheduler.running:
                # a timer fires once it is past its due time, so wake a millisecond after it. A wake may come
                # due while the previous one still runs (which re-arms as it ends, often for a moment already
                # past): a second instance may run then, where APScheduler would skip it (one at a time).
                run_at = due + timedelta(milliseconds=1)
                self._scheduler.add_job(
                    self._run,
                    "date",
                    run_date=run_at,
                    id=NEXT_TIMER_JOB,
                    replace_existing=True,
                    max_instances=2,
                )

    def armed_for(self) -> datetime | None:
        """The due time the scheduler will next wake at."""
        return self._armed

    def shutdown(self) -> None:
        """Stop the background threads."""
        if self._listener is not None:
            self._listener.stop()
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

    def _start_visits(self) -> None:
        try:
            done = self.gl.start_due_visits(by=self.name)
        except Exception:  # noqa: BLE001 — a duty that cannot start must not stop the timers
            log.exception("the visit duties could not be started")
            return
        if done["events"]:
            log.info("visit duties started: %s", done["started"])

    def _write_monthly_report(self) -> None:
        try:
            written = self.gl.write_due_monthly_report(by=self.name)
        except Exception:  # noqa: BLE001 — a report that cannot be written must not stop the timers
            log.exception("the monthly evaluation report could not be written")
            return
        if written is not None:
            log.info("monthly evaluation report %s written (%s bytes)", written["period"], written["size"])

    def _deliver_notices(self) -> None:
        try:
            done = self.gl.deliver_notices()
        except Exception:  # the database or a channel may be away for a moment; the next round retries
            log.exception("delivering notices failed")
            return
        if done.sent or done.retrying or done.failed:
            log.info("notices: %s", done)

    def _arm_for_next_timer(self) -> None:
        """Arm for the next BPMN timer as the database has it (once a second on SQLite: its way of hearing of
        other processes' timers)."""
        try:
            with self.gl.db.reading() as session:
                due = timer_rows.next_due(session)
        except Exception:  # the database may be away for a moment; the next poll asks again
            log.warning("reading the next timer's due time failed", exc_info=True)
            return
        if due is not None:
            self.arm(due)

    def _rearm_from_database(self) -> None:
        """Arm for the next BPMN timer, then for the next moment of anything due (supervision included).

        The timers come first and on their own: a limit the supervision moments cannot be worked out for must
        not keep timers from firing (it is logged, and the next re-arm tries again).
        """
        self._arm_for_next_timer()
        try:
            due = self.gl.next_timer_due()
        except Exception:
            log.exception("working out the next supervision moment failed; timers stay armed")
            return
        if due is not None:
            self.arm(due)


class TimerListener:
    """One dedicated PostgreSQL connection LISTENing for announced due times, in a thread of its own.

    ``on_due`` is called with the due time of every notification; ``reread`` (which reads the next due time
    from the database) each time the connection is (re)made and listening, to catch up on what was announced
    while it was not, and for a notification without a due time.
    """

    def __init__(
        self,
        gl: Gridloop,
        on_due: Callable[[datetime], None],
        reread: Callable[[], None],
        application_name: str,
    ) -> None:
        self.gl = gl
        self.on_due = on_due
        self.reread = reread
        self.application_name = application_name[:63]  # PostgreSQL keeps 63 bytes of it
        self.listening = threading.Event()  # set while connected, listening and caught up
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gridloop-timer-listener", daemon=True)

    def start(self) -> None:
        """Start listening (in the background; the first connection is made there)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and close the connection (within about :data:`LISTEN_WAIT_SECONDS`)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=LISTEN_WAIT_SECONDS * 5)
        self.listening.clear()

    def _connect(self) -> Any:
        """A connection of its own, outside the pool, made with the engine's own connection arguments."""
        engine = self.gl.db.engine
        args, params = engine.dialect.create_connect_args(engine.url)
        connection = engine.dialect.connect(*args, **{**params, "application_name": self.application_name})
        connection.autocommit = True  # LISTEN takes effect, and notifications arrive, outside a transaction
        return connection

    def _run(self) -> None:
        pause = RECONNECT_PAUSES[0]
        while not self._stop.is_set():
            try:
                with self._connect() as connection:
                    connection.execute(f"LISTEN {timer_rows.CHANNEL}")
                    self.reread()
                    self.listening.set()
                    pause = RECONNECT_PAUSES[0]
                    while not self._stop.is_set():
                        for notification in connection.notifies(timeout=LISTEN_WAIT_SECONDS):
                            self._heard(notification.payload)
            except Exception:  # the server restarted, the network dropped: listen again after a pause
                self.listening.clear()
                log.warning("listening for timers failed; trying again in %.0f s", pause, exc_info=True)
                if self._stop.wait(pause):
                    return
                pause = min(pause * 2, RECONNECT_PAUSES[1])

    def _heard(self, payload: str) -> None:
        try:
            due = datetime.fromisoformat(payload)
        except ValueError:
            log.warning("a timer notification %r carries no due time; re-reading the next one", payload)
            self.reread()
            return
        self.on_due(due)
