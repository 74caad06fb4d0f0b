"""Escalation level by level (逐级上报): each level's platform dispatches its own cases (交办) or reports them up
(上报); the event keeps its level history, and each dispatch task is offered to the platform of its level only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import GRID_HB1
from test_loop_paths import ACCEPT, CLOSE, SATISFIED, VERIFY_PASSED, assert_closed, completed_steps, step
from test_requests import audited, data_of

from engine.evaluation import metrics

GRID_XS1 = "330199002001001"
UP = {"dispatch_action": "report_up", "dispatch_reason": "本级调解未果，需上级协调"}

# Per grid: its worker, its community's and town's dispatchers, a same-level dispatcher elsewhere, the town's
# justice office (司法所) and its handler, and a justice handler of the other town.
DISPUTE_PLACES = {
    "东湖街道": (
        GRID_HB1,
        "gw_hb1",
        "dispatcher_hb",
        "dispatcher_dh",
        "dispatcher_la",
        "dispatcher_xsz",
        "DH-SF",
        "h_dh_sf",
        "h_xs_sf",
    ),
    "西山镇": (
        GRID_XS1,
        "gw_xs1",
        "dispatcher_xs",
        "dispatcher_xsz",
        "dispatcher_qs",
        "dispatcher_dh",
        "XS-SF",
        "h_xs_sf",
        "h_dh_sf",
    ),
}


@pytest.mark.parametrize("town", sorted(DISPUTE_PLACES))
def test_the_community_reports_a_dispute_up_and_the_towns_justice_office_resolves_it(driver, town):
    grid, worker, community, town_dispatcher, other_community, other_town, justice, handler, other_justice = (
        DISPUTE_PLACES[town]
    )
    community_code, town_code = grid[:12], grid[:9]
    event_id = driver.report(
        worker, category="1101", grid=grid, description="楼上楼下噪音引发邻里纠纷，多次调解未果"
    )
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=(community,))
    opened = driver.event(event_id)
    assert (opened["state"], opened["handling_level"]) == ("open", "community")

    at_community = driver.open_task(event_id, "dispatch")
    assert (at_community["role"], at_community["scope"]) == ("dispatcher", community_code)
    assert at_community["id"] in driver.claimable("dispatcher"), "the district sees every level below"
    step(driver, event_id, "dispatch", community, UP, not_for=(other_community, other_town, worker))
    assert driver.event(event_id)["handling_level"] == "town"

    at_town = driver.open_task(event_id, "dispatch")
    assert at_town["id"] != at_community["id"]
    assert at_town["scope"] == town_code
    step(
        driver,
        event_id,
        "dispatch",
        town_dispatcher,
        {"dispatch_action": "assign", "department": justice, "instructions": "请司法所组织调解"},
        not_for=(community, other_town, other_community),
    )
    handle = driver.open_task(event_id, "handle")
    assert (handle["department"], handle["scope"]) == (justice, town_code)
    step(
        driver,
        event_id,
        "handle",
        handler,
        {"action": "done", "result": "司法所组织双方调解，达成协议"},
        not_for=(other_justice,),
    )
    step(driver, event_id, "verify", worker, VERIFY_PASSED, not_for=())
    # closed by the shift leader of the level that handled it: the town's, not the community's
    town_leader, community_leader = (
        who.replace("dispatcher_", "leader_") for who in (town_dispatcher, community)
    )
    step(driver, event_id, "close", town_leader, CLOSE, not_for=(community_leader,))
    step(driver, event_id, "follow_up", "intake", SATISFIED, not_for=())

    event = driver.event(event_id)
    assert_closed(event)
    assert (event["department"], event["handling_level"], event["closed_on_time"]) == (justice, "town", True)
    assert event["opened_level"] == "community"
    # each level's part (逐级上报): the grid and the community reported it up, the town closed it
    with driver.gl.db.reading() as session:
        flow = metrics.levels(session, event["opened_at"], event["opened_at"] + timedelta(days=1))
    assert [(f["level"], f["entered"], f["reported_up"], f["closed_here"]) for f in flow] == [
        ("grid", 1, 1, 0),
        ("community", 1, 1, 0),
        ("town", 1, 0, 1),
        ("district", 0, 0, 0),
    ]
    # each count drills into the case behind it, by the same conditions (the dashboard's links)
    with driver.gl.db.reading() as session:
        period = (event["opened_at"], event["opened_at"] + timedelta(days=1))
        behind = {
            (level, figure): metrics.level_cases(session, *period, level, figure)
            for level in ("grid", "community", "town", "district")
            for figure in metrics.LEVEL_FIGURES
        }
    assert {key for key, ids in behind.items() if ids} == {
        ("grid", "entered"),
        ("grid", "reported_up"),
        ("community", "entered"),
        ("community", "reported_up"),
        ("town", "entered"),
        ("town", "closed_here"),
    }
    assert all(ids == [event_id] for ids in behind.values() if ids)
    data = data_of(driver, event_id)
    assert data["level_history"] == ["grid", "community", "town"]
    assert [(h["department"], h["level"]) for h in data["departments_history"]] == [(justice, "town")]
    assert completed_steps(driver, event_id)[:3] == [
        ("accept", "intake"),
        ("dispatch", community),
        ("dispatch", town_dispatcher),
    ]
    audited(driver.gl)


def test_a_case_climbs_from_the_community_to_the_district(driver):
    event_id = driver.report("gw_hb1", category="1103", description="物业与业主纠纷，社区和街道协调未果")
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=())
    levels = []
    for who, not_for in (
        ("dispatcher_hb", ("dispatcher_la",)),
        ("dispatcher_dh", ("dispatcher_hb", "dispatcher_xsz")),
    ):
        levels.append(driver.open_task(event_id, "dispatch")["scope"])
        step(driver, event_id, "dispatch", who, UP, not_for=not_for)
    at_district = driver.open_task(event_id, "dispatch")
    assert levels + [at_district["scope"]] == ["330199001001", "330199001", "330199"]
    assert at_district["id"] not in driver.claimable("dispatcher_dh")
    assert driver.event(event_id)["handling_level"] == "district"
    step(
        driver,
        event_id,
        "dispatch",
        "dispatcher",
        {"department": "QH-ZJ"},
        not_for=("dispatcher_dh", "dispatcher_hb"),
    )
    assert driver.open_task(event_id, "handle")["department"] == "QH-ZJ"
    assert data_of(driver, event_id)["level_history"] == ["grid", "community", "town", "district"]
    audited(driver.gl)


def refused_back_to_dispatch(driver: Any, event_id: int, who: str, data: dict[str, Any]) -> dict[str, Any]:
    before = driver.open_task(event_id, "dispatch")
    step(driver, event_id, "dispatch", who, data, not_for=())
    again = driver.open_task(event_id, "dispatch")
    assert again["id"] != before["id"] and again["scope"] == before["scope"]
    return driver.gl.task_detail(who, again["id"])["data"]


def test_the_district_cannot_report_up_any_further(driver):
    event_id = driver.report("gw_hb1", category="0401", description="路面塌陷，已设置警示")
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=())
    assert driver.open_task(event_id, "dispatch")["scope"] == "330199"
    data = refused_back_to_dispatch(driver, event_id, "dispatcher", UP)
    assert data["level"] == "district"
    assert data["level_history"] == ["grid", "district"]
    assert "区级平台不能再上报" in data["dispatch_notice"]
    audited(driver.gl)


def test_only_the_district_convenes_a_joint_meeting(driver):
    event_id = driver.report("gw_hb1", category="1101", description="楼道堆物引发邻里纠纷")
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=())
    data = refused_back_to_dispatch(
        driver, event_id, "dispatcher_hb", {"dispatch_action": "joint_meeting", "dispatch_reason": "跨部门"}
    )
    assert (data["level"], data["joint_case"]) == ("community", False)
    assert [t["step"] for t in driver.open_tasks(event_id)] == ["dispatch"]
    audited(driver.gl)


def test_a_dispatch_form_without_an_action_assigns_as_before(driver):
    event_id = driver.report("gw_hb1")
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=())
    step(driver, event_id, "dispatch", "dispatcher", {"department": "DH-HW"}, not_for=())
    assert driver.open_task(event_id, "handle")["department"] == "DH-HW"
    recorded = driver.completions(event_id)[-1]["data"]["form"]
    assert recorded == {"department": "DH-HW", "dispatch_action": "assign"}
    audited(driver.gl)
