"""The standard's stages a district keeps apart (``case_stages``): 受理 and 立案 — the shift leader decides on each
accepted report, open a case, decline one (不予立案) or send it back to intake, with a step limit of its own;
elsewhere intake opens the case as it accepts (受理即立案, the default) — and 核查 sent out by the platform once
the department reported back (elsewhere offered straight to the grid's workers). Both paths of each are walked
here, and the position evaluation credits each step to whoever took it.
"""

from __future__ import annotations

from datetime import timedelta

from conftest import START
from test_loop_paths import ACCEPT, advance, handle_to_follow_up, self_handle, step
from test_requests import audited

from engine.evaluation import metrics, positions

OPEN = {"registration": "open"}
PERIOD = (START - timedelta(days=1), START + timedelta(days=2))


def separate(driver, checks: bool = False) -> None:
    stages = {"separate_registration": not checks, "platform_dispatches_checks": checks}
    driver.gl.change_setting("admin", "case_stages", stages)


def accepted_and_decided(driver, registration: str, reason: str) -> int:
    """A grid worker's report, accepted at intake and decided on by the district's shift leader."""
    separate(driver)
    event_id = driver.report("gw_hb1")
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=())
    decision = {"registration": registration, "registration_reason": reason}
    step(driver, event_id, "register", "leader", decision, not_for=())
    return event_id


def rows_of(driver, position: str) -> dict[str, dict]:
    with driver.gl.db.reading() as session:
        rows = positions.evaluate(session, *PERIOD, now=driver.gl.clock.now())
    return {r["staff"]: r for r in rows if r["position"] == position}


def test_by_default_intake_opens_the_case_as_it_accepts(driver):
    event_id = driver.report("gw_hb1")
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=())
    assert [t["step"] for t in driver.open_tasks(event_id)] == ["dispatch"]
    event = driver.event(event_id)
    assert event["state"] == "open"
    assert rows_of(driver, "intake")["intake"]["opened"] == 1
    assert "leader" not in rows_of(driver, "shift_leader")


def test_the_shift_leader_opens_the_case_after_intake_where_the_district_keeps_them_apart(driver):
    separate(driver)
    event_id = driver.report("gw_hb1")
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=())
    assert driver.event(event_id)["state"] == "reported", "accepted, not yet a case"
    register = driver.open_task(event_id, "register")
    assert (register["role"], register["scope"]) == ("shift_leader", "330199")
    assert register["due_at"] is not None, "立案 has a step limit of its own"
    step(driver, event_id, "register", "leader", OPEN, not_for=("intake", "dispatcher", "leader_hb"))

    event = driver.event(event_id)
    assert event["state"] == "open"
    assert event["opened_at"] == START + timedelta(minutes=15), "opened at the shift leader's decision"
    assert [t["step"] for t in driver.open_tasks(event_id)] == ["dispatch"]
    leader = rows_of(driver, "shift_leader")["leader"]
    assert (leader["registrations"], leader["opened"], leader["on_time_opening_rate"]) == (1, 1, 1.0)
    intake = rows_of(driver, "intake")["intake"]
    assert (intake["accepts"], intake["opened"]) == (1, 0), "intake accepted it; the shift leader opened it"


def test_a_case_the_shift_leader_declines_is_never_opened(driver):
    event_id = accepted_and_decided(driver, "not_open", "属物业管理范围，已告知上报人")
    event = driver.event(event_id)
    assert (event["state"], event["completed"], event["opened_at"]) == ("rejected", True, None)
    with driver.gl.db.reading() as session:
        [row] = metrics.evaluate(session, *PERIOD, by="district")
    assert (row["reported"], row["opened"]) == (1, 0), "a report, no case"
    assert rows_of(driver, "shift_leader")["leader"]["opened"] == 0
    audited(driver.gl)


def test_a_report_sent_back_to_intake_is_accepted_again_and_opened_once(driver):
    event_id = accepted_and_decided(driver, "back", "地址不详，请与上报人核对")
    assert [t["step"] for t in driver.open_tasks(event_id)] == ["accept"]
    step(driver, event_id, "accept", "intake", {**ACCEPT, "note": "已核对地址"}, not_for=())
    step(driver, event_id, "register", "leader", OPEN, not_for=())
    assert driver.event(event_id)["state"] == "open"
    leader = rows_of(driver, "shift_leader")["leader"]
    assert (leader["registrations"], leader["opened"]) == (2, 1)
    assert rows_of(driver, "intake")["intake"]["accepts"] == 2


def test_registration_apart_runs_the_whole_loop_and_passes_the_audit(driver):
    separate(driver)
    event_id = driver.report("gw_hb1")
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=())
    step(driver, event_id, "register", "leader", OPEN, not_for=())
    step(driver, event_id, "dispatch", "dispatcher", {"department": "DH-HW"}, not_for=())
    handle_to_follow_up(driver, event_id)
    event = driver.event(event_id)
    assert (event["state"], event["closed_on_time"]) == ("closed", True)
    assert [t["step"] for t in event["tasks"]][:3] == ["accept", "register", "dispatch"]
    audited(driver.gl)


def test_a_self_handled_case_is_settled_in_its_grid(driver):
    event_id = driver.report("gw_hb1", self_handle=True)
    self_handle(driver, event_id)
    step(driver, event_id, "close_self", "leader_hb", {"decision": "close"}, not_for=())
    advance(driver)
    event = driver.event(event_id)
    assert (event["state"], event["handling_level"], event["department"]) == ("closed", "grid", None)
    with driver.gl.db.reading() as session:
        flow = {f["level"]: f for f in metrics.levels(session, *PERIOD)}
    assert (flow["grid"]["entered"], flow["grid"]["reported_up"], flow["grid"]["closed_here"]) == (1, 0, 1)
    assert flow["community"]["entered"] == 0


def test_the_platform_sends_out_the_check_where_the_district_chooses_it(driver):
    separate(driver, checks=True)
    event_id = driver.report("gw_hb1")
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=())
    step(driver, event_id, "dispatch", "dispatcher", {"department": "DH-HW"}, not_for=())
    step(driver, event_id, "handle", "h_dh_hw", {"action": "done", "result": "已清运"}, not_for=())
    sent = driver.open_task(event_id, "dispatch_check")
    assert (sent["role"], sent["scope"]) == ("intake", "330199001001")
    assert sent["due_at"] is not None, "sending out the check has a step limit of its own"
    assert [t["step"] for t in driver.open_tasks(event_id)] == ["dispatch_check"], (
        "no check before it is sent"
    )
    step(
        driver,
        event_id,
        "dispatch_check",
        "intake",
        {"check_instructions": "核查垃圾是否清运干净"},
        not_for=(),
    )
    verify = driver.open_task(event_id, "verify")
    assert verify["id"] in driver.claimable("gw_hb1") and verify["id"] not in driver.claimable("gw_hb2")
    step(driver, event_id, "verify", "gw_hb1", {"passed": True, "note": "已清运"}, not_for=())
    step(driver, event_id, "close", "leader_hb", {"opinion": "同意结案"}, not_for=())
    step(driver, event_id, "follow_up", "intake", {"satisfaction": "satisfied"}, not_for=())
    event = driver.event(event_id)
    assert (event["state"], event["closed_on_time"]) == ("closed", True)
    intake = rows_of(driver, "intake")["intake"]
    assert (intake["check_dispatches"], intake["check_dispatch_on_time_rate"]) == (1, 1.0)
    audited(driver.gl)


def test_by_default_the_check_goes_straight_to_the_grids_workers(driver):
    event_id = driver.report("gw_hb1")
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=())
    step(driver, event_id, "dispatch", "dispatcher", {"department": "DH-HW"}, not_for=())
    step(driver, event_id, "handle", "h_dh_hw", {"action": "done", "result": "已清运"}, not_for=())
    assert [t["step"] for t in driver.open_tasks(event_id)] == ["verify"]
    assert rows_of(driver, "intake")["intake"]["check_dispatches"] == 0
