"""Scope is enforced in the engine: who may see which events and act on which tasks, and claiming."""

from __future__ import annotations

import pytest
from conftest import GRID_HB1, GRID_HB2, GRID_LA1

from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed

ACCEPT = {"decision": "accept"}


def event_ids(gl, username: str) -> set[int]:
    """Ids of every event ``username`` can list."""
    rows, total = gl.list_events(username, per_page=1000)
    assert total == len(rows)
    return {r["id"] for r in rows}


def dispatched(driver, grid: str, reporter: str, department: str) -> int:
    """An event in ``grid`` accepted and dispatched to ``department``, waiting at its handle task."""
    event_id = driver.report(reporter, grid=grid)
    driver.complete("intake", event_id, "accept", ACCEPT)
    driver.complete("dispatcher", event_id, "dispatch", {"department": department})
    return event_id


def test_grid_worker_neither_sees_nor_acts_on_another_grids_event(driver):
    gl = driver.gl
    own = driver.report("gw_hb1")
    other = driver.report("intake", grid=GRID_HB2, channel="hotline")
    check = driver.open_task(other, "check_exists")
    before = driver.event(other)

    assert event_ids(gl, "gw_hb1") == {own}
    assert event_ids(gl, "gw_hb2") == {other}
    assert gl.event_detail("gw_hb1", own)["id"] == own
    with pytest.raises(NotFound):
        gl.event_detail("gw_hb1", other)
    with pytest.raises(NotFound):
        gl.task_detail("gw_hb1", check["id"])
    with pytest.raises(NotFound):
        gl.claim("gw_hb1", check["id"])
    with pytest.raises(NotFound):
        gl.complete("gw_hb1", check["id"], {"exists": False})
    assert check["id"] not in driver.claimable("gw_hb1")

    after = driver.open_task(other, "check_exists")
    assert (after["id"], after["assignee"]) == (check["id"], None)
    unchanged = driver.event(other)
    assert (unchanged["version"], unchanged["history"]) == (before["version"], before["history"])
    gl.complete("gw_hb2", check["id"], {"exists": True})
    assert driver.open_task(other)["step"] == "accept"


def test_district_intake_sees_every_event(driver):
    hb1 = driver.report("gw_hb1")
    hb2 = driver.report("gw_hb2", grid=GRID_HB2)
    la1 = driver.report("gw_la1", grid=GRID_LA1)
    xs = driver.report("intake", grid="330199002001001", channel="app")

    assert event_ids(driver.gl, "intake") == {hb1, hb2, la1, xs}
    assert event_ids(driver.gl, "leader_hb") == {hb1, hb2}
    assert event_ids(driver.gl, "gw_la1") == {la1}
    assert event_ids(driver.gl, "leader_xs") == {xs}


def test_department_handler_sees_only_events_its_department_worked_on(driver):
    gl = driver.gl
    for_hw = dispatched(driver, GRID_HB1, "gw_hb1", "DH-HW")
    for_cg = dispatched(driver, GRID_HB2, "gw_hb2", "DH-CG")
    not_dispatched = driver.report("gw_la1", grid=GRID_LA1)

    assert event_ids(gl, "h_dh_hw") == {for_hw}
    assert event_ids(gl, "h_dh_cg") == {for_cg}
    assert event_ids(gl, "h_xs_hw") == set()
    assert gl.event_detail("h_dh_hw", for_hw)["department"] == "DH-HW"
    for event_id in (for_cg, not_dispatched):
        with pytest.raises(NotFound):
            gl.event_detail("h_dh_hw", event_id)
    handle_cg = driver.open_task(for_cg, "handle")
    with pytest.raises(NotFound):
        gl.complete("h_dh_hw", handle_cg["id"], {"action": "done", "result": "已处置"})
    assert driver.open_task(for_cg, "handle")["status"] == "open"

    gl.complete("h_dh_hw", driver.open_task(for_hw, "handle")["id"], {"action": "done", "result": "已处置"})
    assert event_ids(gl, "h_dh_hw") == {for_hw}, "a handled event stays visible to its department"


def test_auditor_sees_everything_but_cannot_complete_a_task(driver):
    gl = driver.gl
    ids = {driver.report("gw_hb1"), driver.report("gw_la1", grid=GRID_LA1)}
    assert event_ids(gl, "auditor") == ids
    event_id = min(ids)
    accept = driver.open_task(event_id, "accept")
    before = driver.event(event_id)
    assert accept["id"] not in driver.claimable("auditor")

    with pytest.raises(Forbidden):
        gl.complete("auditor", accept["id"], ACCEPT)
    with pytest.raises(Forbidden):
        gl.claim("auditor", accept["id"])

    after = driver.event(event_id)
    assert driver.open_task(event_id, "accept") == accept
    assert (after["version"], len(after["history"]), after["state"]) == (
        before["version"],
        len(before["history"]),
        "reported",
    )


def test_a_visible_task_not_offered_to_the_user_is_forbidden(driver):
    gl = driver.gl
    event_id = driver.report("gw_hb1")
    accept = driver.open_task(event_id, "accept")
    before = driver.event(event_id)

    with pytest.raises(Forbidden):
        gl.claim("gw_hb1", accept["id"])
    with pytest.raises(Forbidden):
        gl.complete("gw_hb1", accept["id"], ACCEPT)

    after = driver.event(event_id)
    assert (after["version"], after["history"], after["tasks"]) == (
        before["version"],
        before["history"],
        before["tasks"],
    )
    assert gl.task_detail("gw_hb1", accept["id"])["can_complete"] is False


def close_self_task(driver) -> tuple[int, dict]:
    """A self-handled event in 湖滨社区 waiting for its community close: offered to leader_hb and to leader."""
    event_id = driver.report("gw_hb1", self_handle=True)
    driver.complete("intake", event_id, "accept", ACCEPT)
    driver.complete(
        "gw_hb1",
        event_id,
        "self_handle_task",
        {"result": "已现场清理", "before_photos": [driver.photo()], "after_photos": [driver.photo()]},
    )
    task = driver.open_task(event_id, "close_self")
    assert task["id"] in driver.claimable("leader_hb")
    assert task["id"] in driver.claimable("leader")
    assert task["id"] not in driver.claimable("leader_la")
    return event_id, task


def test_claimed_task_cannot_be_completed_or_claimed_by_another_candidate(driver):
    gl = driver.gl
    event_id, task = close_self_task(driver)
    assert gl.claim("leader_hb", task["id"]) == {"task": task["id"], "assignee": "leader_hb"}
    version = driver.event(event_id)["version"]

    with pytest.raises(Conflict):
        gl.complete("leader", task["id"], {"decision": "close"})
    with pytest.raises(Conflict):
        gl.claim("leader", task["id"])
    with pytest.raises(Conflict):
        gl.claim("leader_hb", task["id"])

    assert driver.event(event_id)["version"] == version
    still = driver.open_task(event_id, "close_self")
    assert still["assignee"] == "leader_hb"
    assert gl.task_detail("leader", task["id"])["can_complete"] is False
    assert gl.task_detail("leader_hb", task["id"])["can_complete"] is True
    gl.complete("leader_hb", task["id"], {"decision": "close"})
    assert driver.event(event_id)["state"] == "closed"


def test_unclaim_by_someone_who_does_not_hold_the_task_is_a_conflict(driver):
    gl = driver.gl
    event_id, task = close_self_task(driver)
    with pytest.raises(Conflict):
        gl.unclaim("leader_hb", task["id"])
    gl.claim("leader_hb", task["id"])
    with pytest.raises(Conflict):
        gl.unclaim("leader", task["id"])
    with pytest.raises(NotFound):
        gl.unclaim("leader_la", task["id"])
    assert driver.open_task(event_id, "close_self")["assignee"] == "leader_hb"


def test_claim_and_unclaim_move_the_task_between_inbox_views(driver):
    gl = driver.gl
    event_id, task = close_self_task(driver)
    assert driver.mine("leader_hb") == []

    gl.claim("leader_hb", task["id"])
    assert driver.mine("leader_hb") == [task["id"]]
    assert task["id"] not in driver.claimable("leader_hb")
    assert task["id"] not in driver.claimable("leader")
    assert driver.mine("leader") == []

    gl.unclaim("leader_hb", task["id"])
    assert driver.mine("leader_hb") == []
    assert task["id"] in driver.claimable("leader_hb")
    assert task["id"] in driver.claimable("leader")
    assert [h["action"] for h in driver.event(event_id)["history"]][-2:] == ["claim", "unclaim"]

    gl.claim("leader", task["id"])
    gl.complete("leader", task["id"], {"decision": "close"})
    assert driver.mine("leader") == []
    done, total = gl.inbox("leader", "done")
    assert (total, done[0]["id"], done[0]["completed_by"]) == (1, task["id"], "leader")


@pytest.mark.parametrize(
    ("username", "grid"),
    [
        ("gw_hb1", GRID_HB2),
        ("gw_hb1", GRID_LA1),
        ("leader_hb", GRID_LA1),
        ("h_dh_hw", GRID_HB1),
    ],
)
def test_reporting_into_a_grid_outside_ones_scope_is_forbidden(driver, username, grid):
    with pytest.raises(Forbidden):
        driver.gl.report(
            username,
            {"category": "0101", "description": "路边有一堆暴露垃圾", "grid": grid, "channel": "app"},
        )
    assert event_ids(driver.gl, "intake") == set()


@pytest.mark.parametrize("username", ["intake", "leader_hb", "leader"])
def test_patrol_channel_by_someone_not_the_grids_worker_is_invalid(driver, username):
    with pytest.raises(ValidationFailed) as caught:
        driver.gl.report(
            username,
            {"category": "0101", "description": "路边有一堆暴露垃圾", "grid": GRID_HB1, "channel": "grid"},
        )
    assert list(caught.value.errors) == ["channel"]
    assert event_ids(driver.gl, "intake") == set()
