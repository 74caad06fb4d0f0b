"""engine/runtime.py's own way of finding the waiting user tasks gives what SpiffWorkflow's tree walk gives."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.util.task import TaskState
from test_joint_meeting import all_report_back, convene, to_joint_meeting

from engine.bpmn import runtime
from engine.demo.simulate import simulate


def test_waiting_user_tasks_are_spiffworkflows_ready_manual_tasks_in_tree_order(
    driver: Any, monkeypatch
) -> None:
    seen = {"calls": 0, "in_subprocess": 0, "several": 0}
    find = runtime.waiting_user_tasks

    def checked(workflow: Any) -> list[Any]:
        found = find(workflow)
        assert found == workflow.get_tasks(state=TaskState.READY, manual=True)
        seen["calls"] += 1
        seen["in_subprocess"] += any(task.workflow is not workflow for task in found)
        seen["several"] += len(found) > 1
        return found

    monkeypatch.setattr(runtime, "waiting_user_tasks", checked)
    simulate(driver.gl, 20, seed=5)
    event_id = to_joint_meeting(driver)
    convene(driver, event_id)  # the departments' tasks wait inside the meeting's subprocess, several at once
    all_report_back(driver, event_id)
    assert seen["calls"] > 100 and seen["in_subprocess"] > 0 and seen["several"] > 0


def test_is_completed_answers_as_spiffworkflow_does(driver: Any, monkeypatch) -> None:
    seen = {"running": 0, "completed": 0}
    check = runtime.is_completed

    def checked(workflow: Any) -> bool:
        answer = check(workflow)
        fresh = workflow.completed
        workflow.completed = False  # make SpiffWorkflow walk the tree again
        assert workflow.is_completed() == answer
        workflow.completed = fresh or answer
        seen["completed" if answer else "running"] += 1
        return answer

    monkeypatch.setattr(runtime, "is_completed", checked)
    simulate(driver.gl, 15, seed=2)
    assert seen["running"] > 50 and seen["completed"] > 5
