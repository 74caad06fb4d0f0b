"""Every path through processes/grid_event.bpmn, as staff walk it through the engine's services.

At each step the event's single open task must be the expected BPMN step, offered to the right person
(in their "claimable" inbox) and not to a colleague of the same role in another scope; the final state,
counters and deadlines must be what the loop decided. The request paths (回退/延期/挂账/作废) are in
test_requests.py, escalation in test_escalation.py, the joint meeting in test_joint_meeting.py. The last test
here checks that every diagram a designer opens is complete: a shape for every node and lane, an edge for every
flow, nothing on top of anything else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import REPO, START
from lxml import etree
from sqlalchemy import select

from engine.audit import history
from engine.bpmn.definitions import FLOW_NODE_TAGS
from engine.reads.lights import Lights
from engine.store.models import Event, HistoryEntry

ACCEPT = {"decision": "accept", "note": "信息完整，予以受理"}
VERIFY_PASSED = {"passed": True, "note": "现场已处置到位"}
VERIFY_FAILED = {"passed": False, "note": "现场仍有残留垃圾"}
CLOSE = {"opinion": "同意结案"}
SATISFIED = {"satisfaction": "satisfied", "note": "居民表示满意"}
# 0101 暴露垃圾: the department's handling limit (处置时限), 4 working hours from its dispatch, a quarter of an
# hour after the opening at Monday 09:00 Shanghai (:func:`step` lets that pass): 09:15-12 + 14-15:15 → 15:15.
DUE_0101 = datetime(2026, 11, 23, 7, 15, tzinfo=UTC)


def advance(driver: Any, minutes: int = 15) -> datetime:
    """Let some working time pass between two steps."""
    return driver.gl.clock.advance(timedelta(minutes=minutes))


def step(
    driver: Any, event_id: int, step_id: str, who: str, data: dict[str, Any], not_for: tuple[str, ...]
) -> dict[str, Any]:
    """Check the open task is ``step_id``, offered to ``who`` and to none of ``not_for``; complete it as ``who``."""
    task = driver.open_task(event_id, step_id)
    assert task["id"] in driver.claimable(who), f"{step_id} is not in {who}'s claimable inbox"
    for other in not_for:
        assert task["id"] not in driver.claimable(other), f"{step_id} is offered to {other} too"
    driver.gl.complete(who, task["id"], data)
    done = next(t for t in driver.event(event_id)["tasks"] if t["id"] == task["id"])
    assert (done["status"], done["completed_by"]) == ("completed", who)
    advance(driver)
    return task


def accept_and_dispatch(driver: Any, event_id: int, department: str = "DH-HW") -> dict[str, Any]:
    """Accept at intake (opening the case now) and dispatch to ``department``."""
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=("dispatcher", "gw_hb1", "leader"))
    dispatch = driver.open_task(event_id, "dispatch")
    assert driver.gl.task_detail("dispatcher", dispatch["id"])["data"]["proposed_department"] == "DH-HW"
    step(
        driver,
        event_id,
        "dispatch",
        "dispatcher",
        {"department": department, "instructions": "请按时限处置"},
        not_for=("intake", "leader_hb"),
    )
    return driver.open_task(event_id, "handle")


def handle_done(driver: Any) -> dict[str, Any]:
    """A handler's report that the work is done, with a photo of the result."""
    return {"action": "done", "result": "已清运完毕，现场已清洁", "photos": [driver.photo("h_dh_hw")]}


def handle_to_follow_up(driver: Any, event_id: int, satisfaction: dict[str, Any] = SATISFIED) -> None:
    """From an open DH-HW handle task on gw_hb1's grid through verify and close to the follow-up."""
    step(driver, event_id, "handle", "h_dh_hw", handle_done(driver), not_for=("h_dh_cg", "h_xs_hw"))
    step(driver, event_id, "verify", "gw_hb1", VERIFY_PASSED, not_for=("gw_hb2", "gw_la1"))
    step(driver, event_id, "close", "leader_hb", CLOSE, not_for=("leader_la", "leader_xs"))
    step(driver, event_id, "follow_up", "intake", satisfaction, not_for=("dispatcher",))


def completed_steps(driver: Any, event_id: int) -> list[tuple[str, str]]:
    """(step, completed_by) of the event's completed tasks, in creation order."""
    return [
        (t["step"], t["completed_by"]) for t in driver.event(event_id)["tasks"] if t["status"] == "completed"
    ]


def assert_closed(event: dict[str, Any]) -> None:
    """The event ended closed, with no task left open."""
    assert event["state"] == "closed"
    assert event["completed"] is True
    assert event["closed_at"] is not None
    assert [t for t in event["tasks"] if t["status"] == "open"] == []


def test_grid_report_runs_the_whole_loop_and_closes_on_time(driver):
    result = driver.gl.report("gw_hb1", {"category": "0101", "description": "路边有一堆暴露垃圾，无人清运"})
    event_id = result["id"]
    assert result["next"] == [t["id"] for t in driver.open_tasks(event_id)]
    assert driver.open_task(event_id, "accept")
    reported = driver.event(event_id)
    assert (reported["state"], reported["channel"], reported["reporter"]) == ("reported", "grid", "gw_hb1")

    handle = accept_and_dispatch(driver, event_id)
    opened = driver.event(event_id)
    assert opened["state"] == "open"
    assert opened["opened_at"] == START
    assert opened["due_at"] == DUE_0101
    assert (opened["department"], opened["handling_level"]) == ("DH-HW", "community")
    assert (handle["department"], handle["scope"], handle["due_at"]) == ("DH-HW", "330199001", DUE_0101)

    handle_to_follow_up(driver, event_id)

    event = driver.event(event_id)
    assert_closed(event)
    assert event["closed_on_time"] is True
    assert event["closed_at"] < DUE_0101
    assert event["due_at"] == DUE_0101
    assert (event["rework_count"], event["reassign_count"], event["reopen_count"]) == (0, 0, 0)
    assert event["satisfaction"] == "satisfied"
    assert completed_steps(driver, event_id) == [
        ("accept", "intake"),
        ("dispatch", "dispatcher"),
        ("handle", "h_dh_hw"),
        ("verify", "gw_hb1"),
        ("close", "leader_hb"),
        ("follow_up", "intake"),
    ]


def test_a_report_back_after_the_handling_limit_is_not_on_time(driver):
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    driver.gl.clock.set(DUE_0101 + timedelta(minutes=1))
    step(driver, event_id, "handle", "h_dh_hw", handle_done(driver), not_for=())
    assert driver.event(event_id)["handled_at"] == DUE_0101 + timedelta(minutes=1)
    step(driver, event_id, "verify", "gw_hb1", VERIFY_PASSED, not_for=())
    step(driver, event_id, "close", "leader", CLOSE, not_for=())
    step(driver, event_id, "follow_up", "intake", SATISFIED, not_for=())

    event = driver.event(event_id)
    assert_closed(event)
    assert event["closed_on_time"] is False


def test_the_platforms_own_steps_after_an_on_time_report_back_do_not_make_the_case_late(driver):
    """The department reported back inside its handling limit; 核查 and 结案 came after the limit ran out: the
    case is on time (the standard's verdict follows the department's limit), the late 核查 is late on its own
    step limit, and the case's light stays as it stood at the report back instead of running on to red."""
    gl = driver.gl
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    step(driver, event_id, "handle", "h_dh_hw", handle_done(driver), not_for=())
    reported_back = driver.event(event_id)
    assert reported_back["handled_at"] is not None and reported_back["handled_at"] < DUE_0101
    gl.clock.set(DUE_0101 + timedelta(hours=2))  # 核查 is waited for past the department's limit
    verify = driver.open_task(event_id, "verify")
    assert verify["due_at"] < DUE_0101 + timedelta(hours=2)  # the step's own limit ran out
    assert gl.supervise()["issued"] == 1
    # the one sheet is the late step's (charged to the grid's workers), none the case's or its department's
    assert [(s["task_id"], s["department"]) for s in gl.sheets("leader")] == [(verify["id"], None)]
    waiting = gl.event_detail("leader", event_id)
    # listed by its late step; the case's own light stands as it was at the report back
    assert (waiting["light"].step, waiting["light"].colour) == ("verify", "red")
    [listed], _ = gl.list_events("leader", code=waiting["code"])
    assert listed["light"].step == "verify"
    with gl.reading("leader") as reader:
        own = Lights.of(reader, reader.bundle(waiting["process_version_id"])).event(waiting)
    assert own is not None and own.colour == "green", "the case's own light stood still at the report back"
    step(driver, event_id, "verify", "gw_hb1", VERIFY_PASSED, not_for=())
    step(driver, event_id, "close", "leader", CLOSE, not_for=())
    step(driver, event_id, "follow_up", "intake", SATISFIED, not_for=())

    event = driver.event(event_id)
    assert_closed(event)
    assert event["closed_at"] > DUE_0101
    assert event["closed_on_time"] is True
    late = next(t for t in event["tasks"] if t["step"] == "verify")
    assert late["completed_at"] > late["due_at"]


def test_public_report_not_found_on_site_is_never_opened(driver):
    event_id = driver.report("intake", channel="hotline", description="市民来电：小区门口有垃圾堆放")
    assert driver.event(event_id)["channel"] == "hotline"

    step(
        driver,
        event_id,
        "check_exists",
        "gw_hb1",
        {"exists": False, "note": "现场未发现所述垃圾"},
        not_for=("gw_hb2", "gw_la1", "intake"),
    )

    event = driver.event(event_id)
    assert event["state"] == "not_found"
    assert event["completed"] is True
    assert (event["opened_at"], event["due_at"], event["closed_at"]) == (None, None, None)
    assert [t["step"] for t in event["tasks"]] == ["check_exists"]


def test_report_rejected_at_intake(driver):
    event_id = driver.report("gw_hb1")

    step(
        driver,
        event_id,
        "accept",
        "intake",
        {"decision": "reject", "reason": "重复上报，已有同一事件"},
        not_for=("dispatcher",),
    )

    event = driver.event(event_id)
    assert event["state"] == "rejected"
    assert event["completed"] is True
    assert (event["opened_at"], event["due_at"]) == (None, None)
    assert [t["step"] for t in event["tasks"]] == ["accept"]


def self_handle(driver: Any, event_id: int) -> None:
    """Accept a self-handle report and let gw_hb1 handle it on the spot."""
    step(driver, event_id, "accept", "intake", ACCEPT, not_for=("dispatcher",))
    step(
        driver,
        event_id,
        "self_handle_task",
        "gw_hb1",
        {
            "result": "已现场清理",
            "before_photos": [driver.photo()],
            "after_photos": [driver.photo(), driver.photo()],
        },
        not_for=("gw_hb2", "gw_la1"),
    )


def test_self_handled_report_is_closed_by_the_community(driver):
    event_id = driver.report("gw_hb1", self_handle=True)
    self_handle(driver, event_id)

    close_self = driver.open_task(event_id, "close_self")
    assert close_self["scope"] == "330199001001"
    step(
        driver, event_id, "close_self", "leader_hb", {"decision": "close"}, not_for=("leader_la", "leader_xs")
    )

    event = driver.event(event_id)
    assert_closed(event)
    assert event["closed_on_time"] is True
    assert event["department"] is None, "a self-handled case is no department's"
    assert [t["step"] for t in event["tasks"]] == ["accept", "self_handle_task", "close_self"]
    assert completed_steps(driver, event_id)[-1] == ("close_self", "leader_hb")


def test_self_handled_report_sent_on_goes_to_the_dispatcher(driver):
    event_id = driver.report("gw_hb1", self_handle=True)
    self_handle(driver, event_id)

    step(
        driver,
        event_id,
        "close_self",
        "leader_hb",
        {"decision": "dispatch", "opinion": "未处置到位，需专业部门处置"},
        not_for=("leader_la",),
    )

    dispatch = driver.open_task(event_id, "dispatch")
    assert dispatch["id"] in driver.claimable("dispatcher")
    assert dispatch["id"] not in driver.claimable("leader_hb")
    event = driver.event(event_id)
    assert (event["state"], event["completed"]) == ("open", False)


def test_failed_verification_is_reworked_by_the_same_department_with_the_same_deadline(driver):
    event_id = driver.report("gw_hb1")
    first_handle = accept_and_dispatch(driver, event_id)
    step(driver, event_id, "handle", "h_dh_hw", handle_done(driver), not_for=("h_dh_cg",))
    step(driver, event_id, "verify", "gw_hb1", VERIFY_FAILED, not_for=("gw_hb2",))

    rework = driver.open_task(event_id, "handle")
    assert rework["id"] != first_handle["id"]
    assert rework["department"] == "DH-HW"
    assert rework["due_at"] == first_handle["due_at"] == DUE_0101
    event = driver.event(event_id)
    assert (event["state"], event["due_at"], event["rework_count"]) == ("open", DUE_0101, 1)

    handle_to_follow_up(driver, event_id)

    event = driver.event(event_id)
    assert_closed(event)
    assert event["due_at"] == DUE_0101
    assert (event["rework_count"], event["reassign_count"], event["reopen_count"]) == (1, 0, 0)
    assert [s for s, _ in completed_steps(driver, event_id)] == [
        "accept",
        "dispatch",
        "handle",
        "verify",
        "handle",
        "verify",
        "close",
        "follow_up",
    ]


def test_wrong_department_sends_back_and_the_dispatcher_reassigns(driver):
    event_id = driver.report("gw_hb1")
    wrong = accept_and_dispatch(driver, event_id, department="DH-CG")
    assert wrong["department"] == "DH-CG"
    step(
        driver,
        event_id,
        "handle",
        "h_dh_cg",
        {"action": "send_back", "send_back_reason": "非本部门职责，应由环卫所处置"},
        not_for=("h_dh_hw", "h_xs_cg"),
    )

    reassign = driver.open_task(event_id, "reassign")
    assert driver.gl.task_detail("dispatcher", reassign["id"])["data"]["proposed_department"] == "DH-HW"
    step(
        driver,
        event_id,
        "reassign",
        "dispatcher",
        {"department": "DH-HW", "reason": "按职责改派"},
        not_for=("intake",),
    )
    assert driver.open_task(event_id, "handle")["department"] == "DH-HW"
    handle_to_follow_up(driver, event_id)

    event = driver.event(event_id)
    assert_closed(event)
    assert event["department"] == "DH-HW"
    assert (event["rework_count"], event["reassign_count"], event["reopen_count"]) == (0, 1, 0)
    chosen = [
        (h["step"], h["data"]["form"]["department"])
        for h in driver.completions(event_id)
        if "department" in h["data"]["form"]
    ]
    assert chosen == [("dispatch", "DH-CG"), ("reassign", "DH-HW")]


def test_dissatisfied_follow_up_reopens_to_the_same_department(driver):
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    handle_to_follow_up(driver, event_id, {"satisfaction": "dissatisfied", "note": "垃圾又堆起来了"})

    reopened = driver.event(event_id)
    assert (reopened["state"], reopened["completed"], reopened["reopen_count"]) == ("open", False, 1)
    assert reopened["closed_at"] is None
    assert driver.open_task(event_id, "handle")["department"] == "DH-HW"

    handle_to_follow_up(driver, event_id)

    event = driver.event(event_id)
    assert_closed(event)
    assert event["satisfaction"] == "satisfied"
    assert (event["rework_count"], event["reassign_count"], event["reopen_count"]) == (0, 0, 1)
    assert [s for s, _ in completed_steps(driver, event_id)].count("handle") == 2


def test_wechat_report_found_on_site_runs_the_whole_loop(driver):
    event_id = driver.report("intake", channel="wechat", description="微信群反映：河边步道有暴露垃圾")

    step(
        driver,
        event_id,
        "check_exists",
        "gw_hb1",
        {"exists": True, "photos": [driver.photo()]},
        not_for=("gw_hb2",),
    )
    accept_and_dispatch(driver, event_id)
    handle_to_follow_up(driver, event_id)

    event = driver.event(event_id)
    assert_closed(event)
    assert (event["channel"], event["reporter"], event["closed_on_time"]) == ("wechat", "intake", True)
    # Accepted 15 minutes after the report (the check took that long): opened 09:15, due 15:15 Shanghai.
    assert event["opened_at"] == START + timedelta(minutes=15)
    assert event["due_at"] == DUE_0101 + timedelta(minutes=15)
    assert [s for s, _ in completed_steps(driver, event_id)] == [
        "check_exists",
        "accept",
        "dispatch",
        "handle",
        "verify",
        "close",
        "follow_up",
    ]


def test_history_of_a_closed_event_is_ordered_and_hash_chained(driver):
    event_id = driver.report("gw_hb1")
    accept_and_dispatch(driver, event_id)
    handle_to_follow_up(driver, event_id)

    shown = driver.event(event_id)["history"]
    with driver.gl.db.reading() as session:
        rows = list(session.scalars(select(HistoryEntry).where(HistoryEntry.event_id == event_id)))
        rows.sort(key=lambda h: h.seq)
        event = session.get(Event, event_id)
        head, length = event.history_head, event.history_length

    assert [h.seq for h in rows] == list(range(1, len(rows) + 1))
    assert [h["seq"] for h in shown] == [h.seq for h in rows]
    assert [h["hash"] for h in shown] == [h.hash for h in rows]
    assert rows[0].prev_hash is None
    for previous, entry in zip(rows, rows[1:], strict=False):
        assert entry.prev_hash == previous.hash
    for entry in rows:
        assert history.entry_hash(entry) == entry.hash
    assert (head, length) == (rows[-1].hash, len(rows))
    assert rows[0].action == "report" and rows[0].actor == "gw_hb1"
    assert [h.bpmn_id for h in rows if h.action == "complete"] == [
        "accept",
        "dispatch",
        "handle",
        "verify",
        "close",
        "follow_up",
    ]
    assert [h.at for h in rows] == sorted(h.at for h in rows)
    assert shown[0]["at"] == START


# ------------------------------------------------------------------ the diagrams

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
BPMNDI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
DC = "{http://www.omg.org/spec/DD/20100524/DC}"
DI = "{http://www.omg.org/spec/DD/20100524/DI}"
Box = tuple[float, float, float, float]


def _box(shape: Any) -> Box:
    bounds = shape.find(f"{DC}Bounds")
    return tuple(float(bounds.get(k)) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _inside(inner: Box, outer: Box) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and inner[0] + inner[2] <= outer[0] + outer[2]
        and inner[1] + inner[3] <= outer[1] + outer[3]
    )


def _on_border(point: tuple[float, float], box: Box, tolerance: float = 1.0) -> bool:
    x, y = point
    bx, by, bw, bh = box
    within_x = bx - tolerance <= x <= bx + bw + tolerance
    within_y = by - tolerance <= y <= by + bh + tolerance
    on_vertical = min(abs(x - bx), abs(x - bx - bw)) <= tolerance and within_y
    on_horizontal = min(abs(y - by), abs(y - by - bh)) <= tolerance and within_x
    return on_vertical or on_horizontal


def _chinese(text: str | None) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text or "")


@pytest.mark.parametrize("name", ["grid_event.bpmn", "joint_meeting.bpmn"])
def test_every_diagram_is_complete_named_in_chinese_and_without_overlaps(name):
    root = etree.parse(str(REPO / "processes" / "grid_event" / name)).getroot()
    shapes = {s.get("bpmnElement"): _box(s) for s in root.iter(f"{BPMNDI}BPMNShape")}
    edges = {
        e.get("bpmnElement"): [(float(w.get("x")), float(w.get("y"))) for w in e.iter(f"{DI}waypoint")]
        for e in root.iter(f"{BPMNDI}BPMNEdge")
    }
    nodes = {el.get("id"): el for el in root.iter() if etree.QName(el).localname in FLOW_NODE_TAGS}
    lanes = list(root.iter(f"{BPMN}lane"))
    assert nodes and lanes

    for element_id, element in [*nodes.items(), *((lane.get("id"), lane) for lane in lanes)]:
        assert element_id in shapes, f"{element_id} has no shape"
        assert _chinese(element.get("name")), f"{element_id} needs a Chinese name"

    flows = list(root.iter(f"{BPMN}sequenceFlow"))
    for flow in flows:
        points = edges.get(flow.get("id"))
        assert points and len(points) >= 2, f"{flow.get('id')} has no edge with waypoints"
        assert _on_border(points[0], shapes[flow.get("sourceRef")]), f"{flow.get('id')} leaves off its source"
        assert _on_border(points[-1], shapes[flow.get("targetRef")]), f"{flow.get('id')} ends off its target"
        for a, b in zip(points, points[1:], strict=False):
            assert a[0] == b[0] or a[1] == b[1], f"{flow.get('id')} has a slanted segment"
    assert set(edges) == {flow.get("id") for flow in flows}

    boxes = {element_id: shapes[element_id] for element_id, el in nodes.items()}
    for element_id, element in nodes.items():
        if etree.QName(element).localname == "boundaryEvent":
            box = boxes[element_id]
            centre = (box[0] + box[2] / 2, box[1] + box[3] / 2)
            assert _on_border(centre, boxes[element.get("attachedToRef")]), f"{element_id} is off its host"
    containers = {el.get("id"): el for el in nodes.values() if etree.QName(el).localname == "subProcess"}
    parent = {el.get("id"): el.getparent().get("id") for el in nodes.values()}
    placed = [i for i, el in nodes.items() if etree.QName(el).localname != "boundaryEvent"]
    for i, a in enumerate(placed):
        for b in placed[i + 1 :]:
            if parent[a] == b or parent[b] == a or parent[a] != parent[b]:
                continue
            assert not _overlap(boxes[a], boxes[b]), f"{a} and {b} overlap"
    for element_id, container in parent.items():
        if container in containers:
            assert _inside(boxes[element_id], boxes[container]), f"{element_id} sticks out of {container}"

    lane_boxes = [shapes[lane.get("id")] for lane in lanes]
    for i, a in enumerate(lane_boxes):
        for b in lane_boxes[i + 1 :]:
            assert not _overlap(a, b), "lanes overlap"
    for lane in lanes:
        for ref in lane.iter(f"{BPMN}flowNodeRef"):
            assert _inside(boxes[ref.text], shapes[lane.get("id")]), f"{ref.text} is drawn outside its lane"
