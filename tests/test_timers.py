"""BPMN timers: mirrored in the timers table, fired at their due time by the injected clock, exactly once."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from engine.audit import verification
from engine.demo.district import create_demo_district
from engine.store.models import HistoryEntry, Setting, Timer
from engine.time import timelights
from engine.time.calendar import BusinessCalendar
from engine.time.scheduler import TimerScheduler
from tests.conftest import GRID_HB1, START

FIXTURE = Path(__file__).parent / "fixtures" / "timer_process"
REPORT = {"category": "0101", "description": "路边有一堆暴露垃圾", "grid": GRID_HB1}
# 2 working hours from Monday 09:00 Shanghai = 11:00 Shanghai = 03:00 UTC
DUE = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def _timer_engine(make_gridloop):
    gl = make_gridloop()
    gl.init_schema()
    with gl.db.unit_of_work() as session:
        create_demo_district(session, password=None)
    gl.deploy(FIXTURE, activate=True)
    return gl


def _timers(gl):
    with gl.db.reading() as session:
        return list(session.scalars(select(Timer).order_by(Timer.id)))


def _open_steps(gl, event_id):
    return [t["step"] for t in gl.event_detail("admin", event_id)["tasks"] if t["status"] == "open"]


def test_timer_fires_at_its_working_hour_due_time_and_replays(make_gridloop):
    gl = _timer_engine(make_gridloop)
    event_id = gl.report("gw_hb1", REPORT)["id"]
    [timer] = _timers(gl)
    assert (timer.bpmn_id, timer.status, timer.due_at) == ("wait", "pending", DUE)
    assert gl.next_timer_due() == DUE
    assert _open_steps(gl, event_id) == []

    gl.clock.set(DUE)
    assert gl.tick() == 0, "a timer fires once its due time is past, not at it"
    assert _open_steps(gl, event_id) == []

    fired_at = DUE + timedelta(seconds=1)
    gl.clock.set(fired_at)
    assert gl.tick() == 1
    assert _open_steps(gl, event_id) == ["close"]
    [timer] = _timers(gl)
    assert (timer.status, timer.fired_at, timer.fired_by) == ("fired", fired_at, "tick")
    assert gl.tick() == 0

    history = gl.event_detail("admin", event_id)["history"]
    fired = [h for h in history if h["action"] == "timer"]
    assert len(fired) == 1 and fired[0]["data"]["timer"] == "wait" and fired[0]["at"] == fired_at
    assert verification.verify_all(gl) == {"instances": 1, "verified": 1, "mismatches": []}


def test_timers_missed_while_down_fire_at_start_up(make_gridloop):
    gl = _timer_engine(make_gridloop)
    ids = [gl.report("gw_hb1", REPORT)["id"] for _ in range(3)]
    gl.clock.set(DUE + timedelta(days=2))
    scheduler = TimerScheduler(gl, name="restarted")
    assert scheduler.catch_up() == 3
    assert all(_open_steps(gl, i) == ["close"] for i in ids)
    assert {t.fired_by for t in _timers(gl)} == {"restarted"}


def test_scheduler_arms_itself_for_the_next_due_time(make_gridloop):
    gl = _timer_engine(make_gridloop)
    scheduler = TimerScheduler(gl, name="s1")
    scheduler.start(paused=True)
    try:
        assert scheduler.armed_for() is None
        gl.report("gw_hb1", REPORT)
        assert scheduler.armed_for() == DUE
        gl.clock.set(START + timedelta(minutes=30))
        gl.report("gw_hb1", REPORT)
        assert scheduler.armed_for() == DUE, "a later timer must not push the earlier one back"
    finally:
        scheduler.shutdown()


def test_a_limit_without_a_due_time_never_changes_colour():
    scheme = timelights.Scheme((("green", 0.0), ("yellow", 0.8), ("red", 1.0)))
    calendar = BusinessCalendar()
    assert timelights.next_change(calendar, scheme, START, None, "work_hours", START) is None
    assert timelights.next_change(calendar, scheme, None, DUE, "work_hours", START) is None
    # 80 % of the two working hours from 09:00 Shanghai: 10:36 Shanghai = 02:36 UTC
    yellow = datetime(2026, 11, 23, 2, 36, tzinfo=UTC)
    assert timelights.next_change(calendar, scheme, START, DUE, "work_hours", START) == yellow
    assert timelights.next_change(calendar, scheme, START, DUE, "work_hours", yellow) == DUE


def test_the_rearm_arms_for_timers_when_the_supervision_moments_cannot_be_worked_out(make_gridloop):
    gl = _timer_engine(make_gridloop)
    gl.report("gw_hb1", REPORT)
    with gl.db.unit_of_work() as session:
        # stored by hand, past the validation a change through the engine gets: no moment can be computed
        session.add(
            Setting(key="time_lights", value=[["green", 0], ["yellow", None], ["red", 1]], updated_at=START)
        )
    scheduler = TimerScheduler(gl, name="s1", backstop=timedelta(hours=1))
    scheduler.start(paused=True)
    try:
        assert scheduler.armed_for() == DUE
    finally:
        scheduler.shutdown()


def test_two_scheduler_processes_fire_each_timer_exactly_once(make_gridloop):
    gl = _timer_engine(make_gridloop)
    ids = [gl.report("gw_hb1", REPORT)["id"] for _ in range(30)]
    url = gl.db.url
    now = (DUE + timedelta(minutes=1)).isoformat()
    command = [sys.executable, "-m", "webui.cli", "--db", url, "tick", "--now", now, "--json"]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    fired_counts = [int(__import__("json").loads(out)["fired"]) for out, _ in outputs]
    assert sum(fired_counts) == 30
    with gl.db.reading() as session:
        per_event = dict(
            session.execute(
                select(HistoryEntry.event_id, func.count())
                .where(HistoryEntry.action == "timer")
                .group_by(HistoryEntry.event_id)
            ).all()
        )
    assert per_event == {i: 1 for i in ids}
    assert {t.status for t in _timers(gl)} == {"fired"}


def test_two_running_scheduler_processes_catch_up_and_fire_each_timer_once(make_gridloop):
    import time

    gl = _timer_engine(make_gridloop)
    gl.clock.set(datetime(2026, 9, 1, 1, 0, tzinfo=UTC))  # in the past: due while no scheduler ran
    ids = [gl.report("gw_hb1", REPORT)["id"] for _ in range(20)]
    command = [sys.executable, "-m", "webui.cli", "--db", gl.db.url, "scheduler"]
    schedulers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if {t.status for t in _timers(gl)} == {"fired"}:
                break
            time.sleep(0.2)
    finally:
        for process in schedulers:
            process.terminate()
        outputs = [process.communicate(timeout=30) for process in schedulers]
    assert {t.status for t in _timers(gl)} == {"fired"}, outputs
    with gl.db.reading() as session:
        per_event = dict(
            session.execute(
                select(HistoryEntry.event_id, func.count())
                .where(HistoryEntry.action == "timer")
                .group_by(HistoryEntry.event_id)
            ).all()
        )
    assert per_event == {i: 1 for i in ids}
    assert all(_open_steps(gl, i) == ["close"] for i in ids)
