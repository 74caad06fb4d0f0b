"""Migrating running instances: explicit, refused when unsafe, claims kept, recorded, replayable across versions."""

from __future__ import annotations

import shutil
from itertools import pairwise
from pathlib import Path

import pytest

from engine.audit import verification
from engine.errors import Conflict, Forbidden
from tests.conftest import GRID_HB1, REPO
from tests.diagram_support import with_diagram


def _variant(tmp_path: Path, name: str, edit) -> Path:  # noqa: ANN001
    root = tmp_path / name
    shutil.copytree(REPO / "processes", root / "processes")
    shutil.copytree(REPO / "forms", root / "forms")
    bpmn = root / "processes" / "grid_event" / "grid_event.bpmn"
    bpmn.write_text(edit(bpmn.read_text(encoding="utf-8")), encoding="utf-8")
    return root / "processes" / "grid_event"


def _rename_dispatch(xml: str) -> str:
    """The same diagram with the dispatch step's id changed: to SpiffWorkflow a removed step and a new one."""
    return xml.replace('"dispatch"', '"dispatch_v3"').replace(">dispatch<", ">dispatch_v3<")


def _at_handle(driver) -> tuple[int, int]:  # noqa: ANN001
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    task = driver.open_task(event_id, "handle")
    driver.gl.claim("h_dh_hw", task["id"])
    return event_id, task["id"]


def test_a_running_event_moves_to_a_renamed_step_version_keeping_its_claim(gl, driver, tmp_path):
    event_id, task_id = _at_handle(driver)
    v1 = driver.event(event_id)["process_version_id"]
    v2 = gl.deploy(_variant(tmp_path, "v2", lambda x: x.replace('name="核查"', 'name="现场核查"')))[0].id
    assert v2 != v1

    assert gl.migration_plan(event_id, v2)["problems"] == []
    with pytest.raises(Forbidden):
        gl.migrate_event("dispatcher", event_id, v2)
    assert gl.migrate_event("admin", event_id, v2) == {
        "event": event_id, "code": driver.event(event_id)["code"], "from": v1, "to": v2,
    }  # fmt: skip
    event = driver.event(event_id)
    assert event["process_version_id"] == v2
    handle = driver.open_task(event_id, "handle")
    assert (handle["id"], handle["assignee"]) == (task_id, "h_dh_hw"), "the claim survives the migration"
    assert event["history"][-1]["action"] == "migrate" and event["history"][-1]["data"]["to"] == v2

    driver.complete("h_dh_hw", event_id, "handle", {"action": "done", "result": "已清运"})
    assert driver.open_task(event_id, "verify")["name"] == "现场核查", "new steps come from the new version"
    driver.complete("gw_hb1", event_id, "verify", {"passed": True})
    driver.complete("leader", event_id, "close", {"opinion": "同意"})
    driver.complete("intake", event_id, "follow_up", {"satisfaction": "satisfied"})
    assert driver.event(event_id)["state"] == "closed"
    assert verification.verify_all(gl)["mismatches"] == [], (
        "the replay switches versions where the history says"
    )


FIXTURE = Path(__file__).parent / "fixtures" / "timer_process"


def _two_step_process(root: Path, steps: list[str]) -> Path:
    """A minimal grid_event process whose user tasks run in the given order (the shift leader does them)."""
    shutil.copytree(FIXTURE / "forms", root / "forms")
    (root / "processes").mkdir(parents=True)
    shutil.copy(FIXTURE / "processes" / "dispatch_routing.dmn", root / "processes")
    shutil.copy(FIXTURE / "processes" / "process_model.json", root / "processes")
    nodes = ["start", *steps, "end"]
    tasks = "".join(
        f'<bpmn:userTask id="{s}" name="{s}"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="formJsonSchemaFilename" value="close.json"/>'
        '<spiffworkflow:property name="scopeLevel" value="district"/>'
        f"</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>"
        for s in steps
    )
    flows = "".join(
        f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>'
        for i, (a, b) in enumerate(pairwise(nodes))
    )
    refs = "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in nodes)
    (root / "processes" / "grid_event.bpmn").write_text(
        with_diagram(
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">'
            '<bpmn:process id="grid_event" isExecutable="true">'
            f'<bpmn:laneSet id="ls"><bpmn:lane id="l" name="值班长">{refs}</bpmn:lane></bpmn:laneSet>'
            '<bpmn:startEvent id="start"><bpmn:extensionElements><spiffworkflow:properties>'
            '<spiffworkflow:property name="formJsonSchemaFilename" value="report.json"/>'
            f"</spiffworkflow:properties></bpmn:extensionElements></bpmn:startEvent>{tasks}"
            f'<bpmn:endEvent id="end"/>{flows}</bpmn:process></bpmn:definitions>'
        ),
        encoding="utf-8",
    )
    return root


def _past_first_check(make_gridloop, tmp_path: Path):  # noqa: ANN001, ANN202
    """An engine on the demo district with the two-step process first_check → second_check deployed and active,
    and an event past its first check: the engine, the version and the event."""
    from engine.demo.district import create_demo_district

    gl = make_gridloop()
    gl.init_schema()
    with gl.db.unit_of_work() as session:
        create_demo_district(session, password=None)
    v1 = gl.deploy(_two_step_process(tmp_path / "v1", ["first_check", "second_check"]), activate=True)[0].id
    event_id = gl.report(
        "gw_hb1", {"category": "0101", "description": "路边有一堆暴露垃圾", "grid": GRID_HB1}
    )["id"]
    [task] = [t for t in gl.event_detail("admin", event_id)["tasks"] if t["status"] == "open"]
    gl.complete("leader", task["id"], {})
    return gl, v1, event_id


def test_a_migration_that_would_lose_a_step_is_refused_and_changes_nothing(make_gridloop, tmp_path):
    gl, v1, event_id = _past_first_check(make_gridloop, tmp_path)
    before = gl.event_detail("admin", event_id)
    v2 = gl.deploy(_two_step_process(tmp_path / "v2", ["second_check"]), activate=True)[0].id

    problems = gl.migration_plan(event_id, v2)["problems"]
    assert problems == ["step first_check is not in the new version"]
    result = gl.migrate_version("admin", v1, v2)
    assert result == {
        "migrated": [],
        "refused": [{"event": event_id, "code": before["code"], "problems": problems}],
    }
    after = gl.event_detail("admin", event_id)
    assert (after["process_version_id"], after["version"], len(after["history"])) == (
        v1,
        before["version"],
        len(before["history"]),
    )


def test_steps_renamed_in_the_new_version_are_aligned_shown_and_keep_their_claims(gl, driver, tmp_path):
    event_id, task_id = _at_handle(driver)
    v1 = driver.event(event_id)["process_version_id"]

    def rename(xml: str) -> str:
        return _rename_dispatch(xml).replace('"handle"', '"handle_v3"').replace(">handle<", ">handle_v3<")

    v3 = gl.deploy(_variant(tmp_path, "v3", rename))[0].id
    proposed = gl.step_mapping(v1, v3)
    assert {s["id"]: s["proposed"] for s in proposed["gone"]} == {
        "dispatch": "dispatch_v3",
        "handle": "handle_v3",
    }
    assert {s["id"] for s in proposed["new"]} == {"dispatch_v3", "handle_v3"}

    found = gl.migration_plan(event_id, v3)
    assert (found["problems"], found["aligned"]) == (
        [],
        {"dispatch": "dispatch_v3", "handle": "handle_v3"},
    ), "SpiffWorkflow aligns a renamed step by the diagram's structure, and the plan says so"
    assert found["waiting"] == [
        {"step": "handle", "name": "处置", "assignee": "h_dh_hw", "kept": True, "becomes": "handle_v3"}
    ]
    before = driver.event(event_id)
    with pytest.raises(Conflict) as wrong:
        gl.migrate_event("admin", event_id, v3, {"dispatch": "no_such_step"})
    assert (wrong.value.code, wrong.value.params) == (
        "migration.unknown_element",
        {"version": v3, "elements": "no_such_step"},
    )
    with pytest.raises(Conflict) as wrong:
        gl.migration_plan(event_id, v3, {"no_such_step": "dispatch_v3"})
    assert wrong.value.code == "migration.unknown_step"
    assert driver.event(event_id)["version"] == before["version"], "a refused mapping changes nothing"

    gl.migrate_event("admin", event_id, v3)
    handle = driver.open_task(event_id, "handle_v3")
    assert (handle["id"], handle["assignee"]) == (task_id, "h_dh_hw"), (
        "a renamed step keeps its row and claim"
    )
    assert driver.event(event_id)["history"][-1]["data"]["renamed"] == {str(task_id): "handle_v3"}
    driver.complete("h_dh_hw", event_id, "handle_v3", {"action": "done", "result": "已清运"})
    driver.complete("gw_hb1", event_id, "verify", {"passed": True})
    driver.complete("leader", event_id, "close", {"opinion": "同意"})
    driver.complete("intake", event_id, "follow_up", {"satisfaction": "satisfied"})
    assert driver.event(event_id)["state"] == "closed"
    assert verification.verify_all(gl)["mismatches"] == []


def test_a_wrong_structural_guess_is_corrected_by_the_step_mapping_recorded_and_replayed(
    make_gridloop, tmp_path
):
    gl, v1, event_id = _past_first_check(make_gridloop, tmp_path)
    # first_check renamed check_one, and a new step put after it
    v2 = gl.deploy(_two_step_process(tmp_path / "v2", ["check_one", "extra", "second_check"]))[0].id

    proposed = gl.step_mapping(v1, v2)
    assert [(s["id"], s["proposed"]) for s in proposed["gone"]] == [("first_check", None)], "no name matches"
    assert sorted(s["id"] for s in proposed["new"]) == ["check_one", "extra"]
    assert gl.migration_plan(event_id, v2)["aligned"] == {"first_check": "extra"}, (
        "SpiffWorkflow's guess: the step next to the one that kept its id"
    )
    mapping = {"first_check": "check_one"}
    found = gl.migration_plan(event_id, v2, mapping)
    assert (found["problems"], found["aligned"]) == ([], mapping)
    assert found["waiting"][0] | {"name": None} == {
        "step": "second_check", "name": None, "assignee": None, "kept": True, "becomes": None,
    }  # fmt: skip
    gl.migrate_event("admin", event_id, v2, mapping)
    detail = gl.event_detail("admin", event_id)
    assert detail["history"][-1]["data"]["mapping"] == mapping
    [waiting] = [t for t in detail["tasks"] if t["status"] == "open"]
    assert waiting["step"] == "second_check"
    gl.complete("leader", waiting["id"], {})
    assert gl.event_detail("admin", event_id)["completed"]
    assert verification.verify_all(gl)["mismatches"] == [], "the replay moves the steps as the mapping said"
