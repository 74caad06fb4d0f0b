"""Notices (通知): derived by the command pipeline from what each command did, one per recipient.

Each kind reaches the people it concerns and nobody else, never the actor; read and unread; a user sees and
marks only their own notices. The clock is the injected ManualClock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import START
from sqlalchemy import select
from test_loop_paths import VERIFY_FAILED, accept_and_dispatch, handle_done, step
from test_requests import request_extension, request_void

from engine.commands import pipeline
from engine.commands.pipeline import system
from engine.errors import NotFound
from engine.notices import derive
from engine.store.models import Notice


def notices(gl: Any, kind: str | None = None, event_id: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every notice by recipient (of ``kind`` and ``event_id`` when given), oldest first."""
    with gl.db.reading() as session:
        rows = session.scalars(select(Notice).order_by(Notice.id)).all()
    found: dict[str, list[dict[str, Any]]] = {}
    for n in rows:
        if (kind is None or n.kind == kind) and (event_id is None or n.event_id == event_id):
            found.setdefault(n.username, []).append({"kind": n.kind, "task": n.task_id, "data": n.data})
    return found


def since(gl: Any, mark: int, kind: str | None = None) -> dict[str, list[str]]:
    """The notices written after notice id ``mark``: recipient → kinds (of ``kind`` only when given)."""
    with gl.db.reading() as session:
        rows = session.scalars(select(Notice).where(Notice.id > mark).order_by(Notice.id)).all()
    found: dict[str, list[str]] = {}
    for n in rows:
        if kind is None or n.kind == kind:
            found.setdefault(n.username, []).append(n.kind)
    return found


def last_id(gl: Any) -> int:
    with gl.db.reading() as session:
        return session.scalar(select(Notice.id).order_by(Notice.id.desc()).limit(1)) or 0


def test_a_report_offers_intake_and_nobody_tells_the_reporter(driver):
    event_id = driver.report("gw_hb1")
    task = driver.open_task(event_id, "accept")
    offered = notices(driver.gl, "task_offered", event_id)
    assert set(offered) == {"intake"}, "only the district's intake clerk is offered intake"
    assert offered["intake"][0]["task"] == task["id"]
    assert offered["intake"][0]["data"]["step"] == task["name"]
    assert "gw_hb1" not in notices(driver.gl), "the reporter is not told of their own report"


def test_staff_added_or_disabled_are_offered_from_the_next_command_on(driver):
    gl = driver.gl
    driver.report("gw_hb1")  # who is offered intake is now known (and cached)
    gl.add_user("admin", "intake2", "受理员 新人", "intake", "330199")
    second = driver.report("gw_hb1")
    assert set(notices(gl, "task_offered", second)) == {"intake", "intake2"}
    gl.set_user_active(system("test"), "intake2", False)
    third = driver.report("gw_hb1")
    assert set(notices(gl, "task_offered", third)) == {"intake"}


def test_dispatch_offers_only_the_department_and_not_the_dispatcher(driver):
    event_id = driver.report("gw_hb1")
    mark = last_id(driver.gl)
    accept_and_dispatch(driver, event_id)
    new = since(driver.gl, mark, "task_offered")
    assert new.get("h_dh_hw") == ["task_offered"]
    assert "h_xs_hw" not in new and "h_dh_cg" not in new, "other departments hear nothing"
    assert "dispatcher" in new, "the dispatch step was offered to the district's dispatcher"
    assert "intake" not in new, "the intake clerk completed accept and is offered nothing"


def test_a_failed_verification_returns_the_task_to_the_same_department(driver):
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    step(driver, event_id, "handle", "h_dh_hw", handle_done(driver), not_for=("h_xs_hw",))
    mark = last_id(driver.gl)
    step(driver, event_id, "verify", "gw_hb1", VERIFY_FAILED, not_for=("gw_hb2",))
    new = since(driver.gl, mark)
    assert new == {"h_dh_hw": ["task_returned"]}, new


def test_an_approved_extension_tells_the_requester_and_the_department_hears_the_task_is_back(driver):
    gl = driver.gl
    gl.add_user("test", "h_dh_hw2", "环卫所处置员二", "handler", "330199001", "DH-HW")
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    driver.gl.clock.set(START + timedelta(hours=5))
    mark = last_id(gl)
    request_extension(driver, event_id)
    asked = since(gl, mark)
    # the community's case: its dispatchers and those of the town and district above; not the neighbours'
    assert asked == {u: ["task_offered"] for u in ("dispatcher", "dispatcher_dh", "dispatcher_hb")}, asked
    mark = last_id(gl)
    step(
        driver,
        event_id,
        "approve_extension",
        "dispatcher_hb",
        {"extension_approved": True, "extension_opinion": "同意"},
        not_for=(),
    )
    decided = since(gl, mark)
    assert decided == {"h_dh_hw": ["request_approved"], "h_dh_hw2": ["task_returned"]}, decided


def test_a_refused_void_request_tells_the_dispatcher_who_asked_and_the_others_see_dispatch_back(driver):
    event_id = driver.report("gw_hb1")
    request_void(driver, event_id)
    mark = last_id(driver.gl)
    approval = driver.open_task(event_id, "approve_void")
    driver.gl.complete("leader", approval["id"], {"void_approved": False, "void_opinion": "并非重复事件"})
    assert since(driver.gl, mark) == {
        "dispatcher_hb": ["request_refused"],
        "dispatcher": ["task_returned"],
        "dispatcher_dh": ["task_returned"],
    }
    refusal = notices(driver.gl, "request_refused")["dispatcher_hb"][0]
    assert refusal["task"] == approval["id"] and refusal["data"]["step"] == approval["name"]


def test_a_leader_sheet_is_an_instruction_to_the_department_and_the_reply_goes_back(driver):
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    mark = last_id(driver.gl)
    sheet = driver.gl.issue_sheet("supervisor", event_id, "DH-HW", "请今日内处置完毕")
    assert since(driver.gl, mark) == {"h_dh_hw": ["leader_instruction"]}
    instruction = notices(driver.gl, "leader_instruction")["h_dh_hw"][0]
    assert instruction["data"]["reason"] == "请今日内处置完毕"
    mark = last_id(driver.gl)
    driver.gl.reply_to_sheet("h_dh_hw", sheet["id"], "已安排清运")
    assert since(driver.gl, mark) == {"supervisor": ["sheet_replied"]}


def test_lights_and_automatic_sheets_reach_the_task_holder(driver):
    event_id = driver.report("gw_hb1")
    handle = accept_and_dispatch(driver, event_id)
    driver.gl.claim("h_dh_hw", handle["id"])
    mark = last_id(driver.gl)
    driver.gl.clock.set(START + timedelta(hours=6, minutes=30))  # 15:30: past the 15:00 deadline
    driver.gl.supervise()
    new = since(driver.gl, mark)
    assert set(new) == {"h_dh_hw"}, new
    assert "light" in new["h_dh_hw"] and "sheet_issued" in new["h_dh_hw"]
    colours = [n["data"]["colour"] for n in notices(driver.gl, "light")["h_dh_hw"]]
    assert colours and "green" not in colours


def test_an_assignment_and_a_delegation_notify_whom_they_hand_the_task_to(driver):
    assert set(derive.ADDRESSED_ACTIONS) <= pipeline.HISTORY_ACTIONS
    gl = driver.gl
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    dispatch = driver.open_task(event_id, "dispatch")["id"]
    mark = last_id(gl)
    gl.assign("leader", dispatch, "dispatcher")
    assert since(gl, mark) == {"dispatcher": ["assigned"]}, "the assignee, not the leader who assigned"
    mark = last_id(gl)
    gl.delegate("dispatcher", dispatch, "dispatcher_hb")
    assert since(gl, mark) == {"dispatcher_hb": ["delegated"]}
    mark = last_id(gl)
    gl.give_back("dispatcher_hb", dispatch)
    assert since(gl, mark) == {"dispatcher": ["delegated"]}, "given back: the delegator hears of it"


def test_read_and_unread_and_only_ones_own(driver):
    gl = driver.gl
    driver.report("gw_hb1")
    driver.report("gw_hb1")
    listing = gl.notices("intake")
    assert listing.total == 2 and listing.counts["unread"] == 2
    assert [r["unread"] for r in listing.rows] == [True, True]
    newest, oldest = listing.rows
    assert newest["id"] > oldest["id"], "newest first"
    read = gl.mark_notice_read("intake", oldest["id"])
    assert read["read_at"] == gl.now() and not read["unread"]
    assert gl.notices("intake").counts["unread"] == 1
    assert gl.notices("intake", unread_only=True).total == 1
    with pytest.raises(NotFound):
        gl.mark_notice_read("dispatcher", newest["id"])  # another's notice: as if there were none
    with pytest.raises(NotFound):
        gl.mark_notice_read("intake", 10_000)
    assert gl.notices("intake").counts["unread"] == 1, "nothing changed"
    assert gl.notices("dispatcher").total == 0, "nobody sees another's notices"
    assert gl.mark_all_notices_read("intake") == 1
    assert gl.notices("intake").counts["unread"] == 0


def test_a_yellow_light_warns_the_whole_department_before_the_limit(driver):
    """The standard's early warning (预警): a department's task nobody has taken yet turns yellow before its
    limit, and every handler of the department is told — before any sheet is issued."""
    gl = driver.gl
    gl.add_user("test", "h_dh_hw2", "环卫所处置员二", "handler", "330199001", "DH-HW")
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    mark = last_id(gl)
    gl.clock.set(START + timedelta(hours=5, minutes=40))  # 14:40: past 80 % of the limit, which is 15:00
    gl.supervise()
    new = since(gl, mark)
    assert new == {"h_dh_hw": ["light"], "h_dh_hw2": ["light"]}, new
    colours = {n["data"]["colour"] for n in notices(gl, "light")["h_dh_hw2"]}
    assert colours == {"yellow"}, "a warning, not yet overdue"
