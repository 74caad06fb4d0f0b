"""Other people's BPMN over the API (issue 13): a model drawn in Camunda Modeler (camunda:formData, candidate
groups, an assignee, JUEL conditions) and one in SpiffArena's dialect (spiffworkflow properties, lanes, a
pre-script) deploy through ``POST /api/v1/processes``, are activated, started by a grid worker through
``POST /api/v1/processes/{id}/instances`` and run to their end by completing their user tasks through the API;
a refused deploy answers every problem and changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from web_support import PASSWORD, app_with_staff

from engine.bpmn.folders import collect_models

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "designers"
MODELS = {m.model_id: m.files for m in collect_models(FIXTURE)}


@pytest.fixture
def app(tmp_path):
    yield from app_with_staff(tmp_path, ("designer", "gw_hb1", "leader_hb"))


def _client(app: Any, username: str) -> tuple[FlaskClient, dict[str, str]]:
    client = app.test_client()
    answer = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.get_json()
    return client, {"Authorization": f"Bearer {answer.get_json()['token']}", "Accept-Language": "en"}


def _deploy(app: Any, model: str) -> dict[str, Any]:
    client, auth = _client(app, "designer")
    answer = client.post("/api/v1/processes", json={"files": MODELS[model], "activate": True}, headers=auth)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def _complete(app: Any, username: str, task_id: int, data: dict[str, Any]) -> dict[str, Any]:
    client, auth = _client(app, username)
    mine, _ = app.extensions["gridloop"].inbox(username, "mine", per_page=1000)
    if task_id not in {
        r["id"] for r in mine
    }:  # a task given to its assignee (camunda:assignee) is theirs already
        claimed = client.post(f"/api/v1/tasks/{task_id}/claim", headers=auth)
        assert claimed.status_code == 200, claimed.get_json()
    answer = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": data}, headers=auth)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def _start(app: Any, model: str, data: dict[str, Any]) -> dict[str, Any]:
    client, auth = _client(app, "gw_hb1")
    answer = client.post(f"/api/v1/processes/{model}/instances", json={"data": data}, headers=auth)
    assert answer.status_code == 201, answer.get_json()
    assert answer.headers["Location"].endswith(f"/api/v1/events/{answer.get_json()['id']}")
    return answer.get_json()


def test_a_camunda_modeler_model_deploys_starts_and_runs_both_branches(app):
    deployed = _deploy(app, "invoice_approval")
    assert (deployed["process_id"], deployed["status"]) == ("invoice_approval", "active")
    large = _start(app, "invoice_approval", {"amount": 1500, "description": "办公用品", "urgent": False})
    [review] = large["open_tasks"]
    assert (review["name"], review["role"]) == ("值班长审批", "shift_leader")
    client, auth = _client(app, "leader_hb")
    form = client.get(f"/api/v1/tasks/{review['id']}", headers=auth).get_json()["form"]
    assert [c["const"] for c in form["properties"]["decision"]["oneOf"]] == ["approve", "reject"]
    refused = client.post(
        f"/api/v1/tasks/{review['id']}/complete", json={"data": {"decision": "maybe"}}, headers=auth
    )
    assert refused.status_code == 400 and "decision" in refused.get_json()["errors"]
    assert _complete(app, "leader_hb", review["id"], {"decision": "approve"})["state"] == "reported"
    small = _start(app, "invoice_approval", {"amount": 300})
    [confirm] = small["open_tasks"]
    assert (confirm["name"], confirm["assignee"]) == ("提交人确认", "gw_hb1"), "camunda:assignee ${starter}"
    _complete(app, "gw_hb1", confirm["id"], {})
    client, auth = _client(app, "gw_hb1")
    for event in (large, small):
        detail = client.get(f"/api/v1/events/{event['id']}", headers=auth).get_json()
        assert detail["completed"] is True
        assert detail["history"][0]["action"] == "start"


def test_a_start_that_fails_the_generated_form_gives_field_errors(app):
    _deploy(app, "invoice_approval")
    client, auth = _client(app, "gw_hb1")
    answer = client.post(
        "/api/v1/processes/invoice_approval/instances", json={"data": {"amount": 0}}, headers=auth
    )
    assert answer.status_code == 400
    assert set(answer.get_json()["errors"]) == {"amount"}


def test_a_spiffarena_model_deploys_starts_and_its_lane_decides_who_approves(app):
    _deploy(app, "leave_request")
    started = _start(app, "leave_request", {"days": 5, "reason": "家中有事"})
    [approve] = started["open_tasks"]
    assert (approve["role"], approve["scope"]) == ("shift_leader", "330199001001")
    done = _complete(app, "leader_hb", approve["id"], {"approved": False, "comment": "本周人手不足"})
    assert done["state"] == "rejected"


def test_a_refused_deploy_answers_every_problem_and_changes_nothing(app):
    client, auth = _client(app, "designer")
    before = client.get("/api/v1/processes", headers=auth).get_json()
    files = dict(MODELS["leave_request"])
    bpmn = "processes/leave_request/leave_request.bpmn"
    files[bpmn] = files[bpmn].replace('value="approve_leave.json"', 'value="missing.json"')
    answer = client.post("/api/v1/processes", json={"files": files}, headers=auth)
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error"] == "validation_failed" and list(body["errors"]) == [bpmn]
    assert body["problems"] == [
        f"{bpmn}:31: approve_leave: form 'missing.json' is not in forms/ — add forms/missing.json or fix "
        "formJsonSchemaFilename"
    ]
    assert client.get("/api/v1/processes", headers=auth).get_json() == before


def test_only_designers_deploy_and_a_grid_worker_is_refused(app):
    client, auth = _client(app, "gw_hb1")
    answer = client.post("/api/v1/processes", json={"files": MODELS["leave_request"]}, headers=auth)
    assert answer.status_code == 403
    assert [m["id"] for m in client.get("/api/v1/processes", headers=auth).get_json()] == [
        "grid_event",
        "household_visit",
        "patrol",
        "sheet_appeal",
    ]


def test_the_life_cycle_over_the_api(app):
    first = _deploy(app, "leave_request")
    client, auth = _client(app, "designer")
    files = dict(MODELS["leave_request"])
    bpmn = "processes/leave_request/leave_request.bpmn"
    files[bpmn] = files[bpmn].replace('name="审批请假"', 'name="值班长审批请假"')
    draft = client.post("/api/v1/processes", json={"files": files}, headers=auth).get_json()
    assert draft["status"] == "draft"
    assert (
        client.post(f"/api/v1/versions/{draft['id']}/activate", headers=auth).get_json()["status"] == "active"
    )
    again = client.post(f"/api/v1/versions/{draft['id']}/activate", headers=auth)
    assert (again.status_code, again.get_json()["error"]) == (409, "conflict")
    back = client.post("/api/v1/processes/leave_request/rollback", headers=auth).get_json()
    assert back["id"] == first["id"]
    models = {m["id"]: m for m in client.get("/api/v1/processes", headers=auth).get_json()}
    assert models["leave_request"]["active"] == first["id"]
    assert {v["id"]: v["status"] for v in models["leave_request"]["versions"]} == {
        first["id"]: "active",
        draft["id"]: "retired",
    }
    retired = client.post(f"/api/v1/versions/{first['id']}/retire", headers=auth).get_json()
    assert retired["status"] == "retired"
    client, auth = _client(app, "gw_hb1")
    answer = client.post(
        "/api/v1/processes/leave_request/instances",
        json={"data": {"days": 1, "reason": "看病"}},
        headers=auth,
    )
    assert (answer.status_code, answer.get_json()["error"]) == (409, "conflict")
    assert "leave_request" in answer.get_json()["message"] and "activate" in answer.get_json()["message"]
    unknown = client.post("/api/v1/processes/nonesuch/instances", json={"data": {}}, headers=auth)
    assert (unknown.status_code, unknown.get_json()["error"]) == (404, "not_found")
