"""Timers across processes: a scheduler hears of a timer another process created, without the backstop.

Every scheduler here runs with a backstop of an hour, so the backstop can never be what fires a timer: a timer
created after the scheduler started fires only if the scheduler heard of it — on PostgreSQL through
LISTEN/NOTIFY, on SQLite through its look at the next due time every second. The timers wait one second on the
real clock (the benchmark's copy of the timer process), so each test waits for the outcome with a generous
deadline and then asserts the outcome, never how long it took.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bench.timer_latency import one_second_process, scheduler_process
from engine.app import Gridloop
from engine.store.models import HistoryEntry, Timer
from engine.time.scheduler import TimerListener, TimerScheduler
from tests.conftest import GRID_HB1, POSTGRES_URL

REPORT = {"category": "0101", "description": "路边有一堆暴露垃圾", "grid": GRID_HB1}
DEADLINE_SECONDS = 60
AN_HOUR = timedelta(hours=1)


@pytest.fixture
def real_time_engines(db_url: str, tmp_path: Path) -> Iterator[Callable[[], Gridloop]]:
    """A factory of engines on the real clock, on the test's database with the one-second timer process."""
    made: list[Gridloop] = []
    process = one_second_process(tmp_path)

    def make() -> Gridloop:
        gl = Gridloop(db_url)
        if not made:
            gl.init_schema()
            gl.create_demo_district("test", password=None)
            gl.deploy(process, activate=True)
        made.append(gl)
        return gl

    yield make
    for gl in made:
        gl.db.dispose()


def _timers(gl: Gridloop) -> list[Timer]:
    with gl.db.reading() as session:
        return list(session.scalars(select(Timer).order_by(Timer.id)))


def _wait_until(outcome: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline and not outcome():
        time.sleep(0.1)


def _all_fired(gl: Gridloop, count: int) -> Callable[[], bool]:
    return lambda: [t.status for t in _timers(gl)] == ["fired"] * count


def test_a_scheduler_process_fires_timers_another_process_created(real_time_engines):
    gl = real_time_engines()
    with scheduler_process(gl.db.url) as scheduler_name:
        # the scheduler has started (and found nothing due): it learns of these timers only by the wake-up
        ids = [gl.report("gw_hb1", REPORT)["id"] for _ in range(3)]
        _wait_until(_all_fired(gl, 3))
    timers = _timers(gl)
    assert [(t.status, t.fired_by) for t in timers] == [("fired", scheduler_name)] * 3
    assert all(t.fired_at is not None and t.fired_at > t.due_at for t in timers)
    with gl.db.reading() as session:
        fired = session.execute(
            select(HistoryEntry.event_id, func.count())
            .where(HistoryEntry.action == "timer")
            .group_by(HistoryEntry.event_id)
        ).all()
    assert dict(fired) == {i: 1 for i in ids}
    for event_id in ids:
        steps = [t["step"] for t in gl.event_detail("admin", event_id)["tasks"] if t["status"] == "open"]
        assert steps == ["close"]


def test_a_scheduler_fires_a_timer_another_engine_created(real_time_engines):
    own, other = real_time_engines(), real_time_engines()
    name = f"own-{uuid.uuid4().hex[:8]}"
    scheduler = TimerScheduler(own, name=name, backstop=AN_HOUR)
    scheduler.start()
    try:
        assert scheduler.armed_for() is None
        other.report("gw_hb1", REPORT)  # a command of another engine: this scheduler is not its listener
        _wait_until(_all_fired(own, 1))
    finally:
        scheduler.shutdown()
    assert [(t.status, t.fired_by) for t in _timers(own)] == [("fired", name)]


# LISTEN/NOTIFY exists on PostgreSQL only: without a server to test on, these tests are not created (see conftest)
if POSTGRES_URL:

    def _listen_backends(gl: Gridloop, application_name: str) -> list[int]:
        """The server processes of the connections named ``application_name`` that LISTEN."""
        with gl.db.engine.connect() as connection:
            return list(
                connection.scalars(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = :name"
                        " AND query LIKE 'LISTEN%'"
                    ),
                    {"name": application_name},
                )
            )

    @pytest.mark.postgres
    @pytest.mark.parametrize("backend", ["postgres"])
    def test_a_notification_carries_the_due_time_of_a_committed_timer(real_time_engines):
        gl = real_time_engines()
        heard: list[datetime] = []
        rereads: list[bool] = []
        listener = TimerListener(gl, heard.append, lambda: rereads.append(True), f"t-{uuid.uuid4().hex}")
        listener.start()
        try:
            assert listener.listening.wait(DEADLINE_SECONDS)
            assert rereads == [True], "once listening, the listener reads what was announced meanwhile"
            real_time_engines().report("gw_hb1", REPORT)
            [timer] = _timers(gl)
            _wait_until(lambda: timer.due_at in heard)
        finally:
            listener.stop()
        assert heard == [timer.due_at]
        assert rereads == [True]

    @pytest.mark.postgres
    @pytest.mark.parametrize("backend", ["postgres"])
    def test_the_listener_reconnects_after_its_connection_is_killed(real_time_engines):
        own, other = real_time_engines(), real_time_engines()
        name = f"own-{uuid.uuid4().hex[:8]}"
        application_name = f"gridloop scheduler {name}"
        scheduler = TimerScheduler(own, name=name, backstop=AN_HOUR)
        scheduler.start()
        try:
            [first] = _listen_backends(own, application_name)
            with own.db.engine.begin() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            _wait_until(lambda: [p for p in _listen_backends(own, application_name) if p != first] != [])
            assert [p != first for p in _listen_backends(own, application_name)] == [True]
            other.report("gw_hb1", REPORT)
            _wait_until(_all_fired(own, 1))
        finally:
            scheduler.shutdown()
        assert [(t.status, t.fired_by) for t in _timers(own)] == [("fired", name)]
