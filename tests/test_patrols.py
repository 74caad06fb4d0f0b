"""Patrols (巡查) and missed reports (漏报), issue 15 parts 7 and 8: a grid worker's patrol is a process like any
other — started with its route, recorded from the inbox when it ends; a public report, verified to exist, of a
kind a patrol should find, in a grid its worker patrolled within the window before it, is that worker's 漏报,
counted with 漏报率 in the position evaluation and its monthly sheet."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import GRID_HB1, GRID_HB2, Driver

from engine.app import Gridloop
from engine.evaluation import positions

HOTLINE = {"channel": "hotline", "reporter_name": "钱女士", "reporter_phone": "13812345600"}


def _patrol(gl: Gridloop, driver: Driver, username: str, grid: str) -> int:
    started = gl.start(username, "patrol", {"grid": grid, "route": "湖滨路—柳岸街—湖滨花园"})
    task = driver.open_task(started["id"], "record_patrol")
    assert task["id"] in driver.mine(username) + driver.claimable(username)
    return started["id"]


def _public_case(gl: Gridloop, driver: Driver, grid: str, category: str = "0101") -> int:
    event_id = gl.report(
        "intake",
        {"category": category, "description": "市民来电：路边有一堆暴露垃圾", "grid": grid, **HOTLINE},
    )["id"]
    worker = {GRID_HB1: "gw_hb1", GRID_HB2: "gw_hb2"}[grid]
    driver.complete(worker, event_id, "check_exists", {"exists": True})
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    return event_id


def _supervisors(gl: Gridloop) -> dict[str, dict[str, Any]]:
    with gl.db.reading() as session:
        rows = positions.evaluate(
            session, gl.now() - timedelta(days=10), gl.now() + timedelta(days=1), now=gl.now()
        )
    return {r["staff"]: r for r in rows if r["position"] == "supervisor"}


def test_a_patrol_is_started_with_its_route_and_recorded_from_the_inbox(gl: Gridloop, driver: Driver) -> None:
    patrol = _patrol(gl, driver, "gw_hb1", GRID_HB1)
    driver.complete(
        "gw_hb1", patrol, "record_patrol", {"seen": "路面整洁，一处垃圾已上报", "problems_reported": 1}
    )
    detail = gl.event_detail("admin", patrol)
    assert detail["state"] == "closed" and detail["completed"]


def test_a_verified_public_report_in_a_patrolled_grid_is_the_patrollers_missed_report(
    gl: Gridloop, driver: Driver
) -> None:
    _patrol(gl, driver, "gw_hb1", GRID_HB1)
    gl.clock.advance(timedelta(hours=10))
    missed = _public_case(gl, driver, GRID_HB1)  # 10 hours after the patrol, of 市容环境: missed
    _public_case(gl, driver, GRID_HB1, category="0201")  # another class: not one a patrol is held to
    _public_case(gl, driver, GRID_HB2)  # a grid nobody patrolled
    own = driver.report("gw_hb1")  # the worker's own patrol report: 上报数 1
    driver.complete("intake", own, "accept", {"decision": "accept"})
    found = _supervisors(gl)
    assert found["gw_hb1"]["missed_reports"] == 1
    with gl.db.reading() as session:  # the count drills into the case behind it
        behind = positions.cases(
            session,
            gl.now() - timedelta(days=10),
            gl.now() + timedelta(days=1),
            "gw_hb1",
            "missed_reports",
            now=gl.now(),
        )
    assert behind == [missed]
    # 漏报率 = 1 ÷ 立案数 in the worker's grid (the two public cases and the own report: 3)
    assert found["gw_hb1"]["missed_report_rate"] == round(1 / 3, 4)
    gl.change_setting("admin", "missed_report_rate_base", "reports")
    assert _supervisors(gl)["gw_hb1"]["missed_report_rate"] == 0.5  # 1 ÷ (1 reported + 1 missed)
    gl.change_setting("admin", "missed_report_rate_base", "opened")
    assert found.get("gw_hb2", {}).get("missed_reports", 0) == 0
    # a report beyond the window (48 hours) is not charged
    gl.clock.advance(timedelta(hours=50))
    _public_case(gl, driver, GRID_HB1)
    assert _supervisors(gl)["gw_hb1"]["missed_reports"] == 1
    gl.change_setting(
        "admin", "missed_report_rule", {"categories": ["01"], "window_hours": 72, "patrol_process": "patrol"}
    )
    assert _supervisors(gl)["gw_hb1"]["missed_reports"] == 2
