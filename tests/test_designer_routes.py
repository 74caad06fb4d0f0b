"""The workbench's JSON routes through the web client (issue 13): the deploy check of a diagram as drawn, the
diff against the active version, a deploy from the page, the migration dry run and move, and the diagram diff
itself — what moved on the canvas is no change of the process."""

from __future__ import annotations

from pathlib import Path

import pytest
from web_support import app_with_staff, staff, token

from engine.bpmn.diff import DiagramUnreadable, diagram_diff

REPO = Path(__file__).resolve().parent.parent
VISIT = REPO / "processes" / "household_visit" / "household_visit.bpmn"
XML = VISIT.read_text(encoding="utf-8")


@pytest.fixture
def app(tmp_path):
    yield from app_with_staff(tmp_path, ("designer", "gw_hb1"))


def _post(client, path: str, body: dict) -> tuple[int, dict]:
    answer = client.post(path, json=body, headers={"X-CSRFToken": token(client, "/designer")})
    return answer.status_code, answer.get_json()


def test_the_deploy_check_names_each_problem_with_its_element_and_line(app):
    client = staff(app, "designer")
    bad = XML.replace('value="visit_due_at"', 'value="visit due"')
    status, body = _post(
        client, "/designer/household_visit/check", {"file": "household_visit.bpmn", "xml": bad}
    )
    assert status == 200
    [problem] = body["problems"]
    assert (problem["element"], problem["file"]) == (
        "record_visit",
        "processes/household_visit/household_visit.bpmn",
    )
    assert problem["line"] == next(n for n, line in enumerate(bad.splitlines(), 1) if '"visit due"' in line)
    status, body = _post(
        client, "/designer/household_visit/check", {"file": "household_visit.bpmn", "xml": XML}
    )
    assert (status, body["problems"]) == (200, [])
    status, body = _post(
        client, "/designer/household_visit/check", {"file": "household_visit.bpmn", "xml": "<bpmn"}
    )
    assert status == 200 and "malformed XML" in body["problems"][0]["message"]


def test_a_deploy_from_the_page_is_a_draft_and_a_refused_one_changes_nothing(app):
    client = staff(app, "designer")
    gl = app.extensions["gridloop"]
    renamed = XML.replace('name="审阅走访"', 'name="社区审阅走访"')
    status, body = _post(
        client, "/designer/household_visit/deploy", {"file": "household_visit.bpmn", "xml": renamed}
    )
    assert (status, body["status"], body["created"]) == (201, "draft", True)
    with gl.db.reading() as session:
        files = gl.parts.versions.get(session, body["version"]).bundle.files
    assert "processes/household_visit/visit_plan.json" in files, "the forms it did not upload come along"
    assert "社区审阅走访" in files["processes/household_visit/household_visit.bpmn"]
    status, again = _post(
        client, "/designer/household_visit/deploy", {"file": "household_visit.bpmn", "xml": renamed}
    )
    assert (status, again["version"], again["created"]) == (200, body["version"], False)
    broken = XML.replace('value="visit_review.json"', 'value="nope.json"')
    status, refused = _post(
        client, "/designer/household_visit/deploy", {"file": "household_visit.bpmn", "xml": broken}
    )
    assert status == 400 and [p["element"] for p in refused["problems"]] == ["review_visit"]


def test_the_diff_names_what_changed_against_the_active_version(app):
    client = staff(app, "designer")
    renamed = XML.replace('name="审阅走访"', 'name="社区审阅走访"')
    status, body = _post(
        client, "/designer/household_visit/diff", {"file": "household_visit.bpmn", "xml": renamed}
    )
    assert status == 200
    assert (body["added"], body["removed"], body["changed"]) == ([], [], ["review_visit"])
    status, body = _post(
        client, "/designer/household_visit/diff", {"file": "household_visit.bpmn", "xml": "<x"}
    )
    assert status == 400
    status, body = _post(client, "/designer/household_visit/check", {"xml": XML})
    assert status == 400 and body["error"] == "bad_request"


def test_the_migration_dry_run_and_move(app):
    client = staff(app, "designer")
    gl = app.extensions["gridloop"]
    started = gl.start(
        "gw_hb1", "household_visit", {"grid": "330199001001001", "household": "1幢", "purpose": "care"}
    )
    renamed = XML.replace('name="审阅走访"', 'name="社区审阅走访"')
    _status, draft = _post(
        client, "/designer/household_visit/deploy", {"file": "household_visit.bpmn", "xml": renamed}
    )
    active = gl.event_detail("gw_hb1", started["id"])["process_version_id"]
    answer = client.get(f"/designer/household_visit/migration?from={active}&to={draft['version']}")
    [plan] = answer.get_json()["plans"]
    assert (plan["event"], plan["problems"], plan["timers"]) == (started["id"], [], 0)
    assert [(w["step"], w["kept"]) for w in plan["waiting"]] == [("record_visit", True)]
    assert client.get(f"/designer/household_visit/migration?from={active}&to={active}").status_code == 404
    status, moved = _post(
        client, "/designer/household_visit/migration", {"event": started["id"], "to": draft["version"]}
    )
    assert (status, moved["to"]) == (200, draft["version"])
    status, again = _post(
        client, "/designer/household_visit/migration", {"event": started["id"], "to": draft["version"]}
    )
    assert status == 409 and again["error"] == "refused"


def test_the_step_mapping_is_proposed_by_name_and_a_renamed_step_moves_by_it(app):
    client = staff(app, "designer")
    gl = app.extensions["gridloop"]
    started = gl.start(
        "gw_hb1", "household_visit", {"grid": "330199001001001", "household": "1幢", "purpose": "care"}
    )
    active = gl.event_detail("gw_hb1", started["id"])["process_version_id"]
    renamed = XML.replace('"record_visit"', '"record_household_visit"').replace(
        ">record_visit<", ">record_household_visit<"
    )
    _status, draft = _post(
        client, "/designer/household_visit/deploy", {"file": "household_visit.bpmn", "xml": renamed}
    )
    pair = f"from={active}&to={draft['version']}"
    steps = client.get(f"/designer/household_visit/steps?{pair}").get_json()
    assert [(s["id"], s["name"], s["proposed"]) for s in steps["gone"]] == [
        ("record_visit", "入户走访", "record_household_visit")
    ]
    assert client.get(f"/designer/household_visit/steps?from={active}&to=9999").status_code == 404
    answer = client.get(f"/designer/household_visit/migration?{pair}&map=record_visit:record_household_visit")
    [plan] = answer.get_json()["plans"]
    assert (plan["problems"], plan["aligned"]) == ([], {"record_visit": "record_household_visit"})
    assert [(w["step"], w["becomes"]) for w in plan["waiting"]] == [
        ("record_visit", "record_household_visit")
    ]
    wrong = client.get(f"/designer/household_visit/migration?{pair}&map=record_visit:nowhere")
    assert wrong.status_code == 409 and "nowhere" in wrong.get_json()["message"]
    status, _body = _post(
        client,
        "/designer/household_visit/migration",
        {"event": started["id"], "to": draft["version"], "mapping": {"record_visit": 7}},
    )
    assert status == 400, "a mapping of other than step ids is a bad request"
    status, moved = _post(
        client,
        "/designer/household_visit/migration",
        {
            "event": started["id"],
            "to": draft["version"],
            "mapping": {"record_visit": "record_household_visit"},
        },
    )
    assert status == 200
    [row] = [t for t in gl.event_detail("gw_hb1", started["id"])["tasks"] if t["status"] == "open"]
    assert row["step"] == "record_household_visit"


def test_the_what_if_plays_the_period_and_refuses_half_a_period(app):
    client = staff(app, "designer")
    gl = app.extensions["gridloop"]
    started = gl.start(
        "gw_hb1", "household_visit", {"grid": "330199001001001", "household": "1幢", "purpose": "care"}
    )
    [row] = [t for t in gl.event_detail("gw_hb1", started["id"])["tasks"] if t["status"] == "open"]
    gl.claim("gw_hb1", row["id"])
    gl.complete("gw_hb1", row["id"], {"met": True, "findings": "正常", "needs_follow_up": False})
    always = XML.replace("needs_follow_up == True", "True")
    _status, draft = _post(
        client, "/designer/household_visit/deploy", {"file": "household_visit.bpmn", "xml": always}
    )
    path = f"/designer/household_visit/what-if?version={draft['version']}"
    answer = client.get(f"{path}&from=2026-11-01&to=2026-11-30")
    assert answer.status_code == 200
    found = answer.get_json()
    assert (found["played"], found["outcomes"]["waits_at_new_step"]) == (1, 1)
    assert found["listed"] == [
        {"event": started["id"], "code": found["listed"][0]["code"], "outcome": "waits_at_new_step",
         "detail": "review_visit"}
    ]  # fmt: skip
    assert client.get(path).get_json()["first"] == "2026-10-01", "by default the last full month"
    assert client.get(f"{path}&from=2026-11-01").status_code == 400
    assert client.get(f"{path}&from=2026-11-30&to=2026-11-01").status_code == 400
    assert client.get(f"{path}&from=2026-13-01&to=2026-11-01").status_code == 400
    assert client.get("/designer/household_visit/what-if?version=9999").status_code == 404
    assert staff(app, "gw_hb1").get(path).status_code == 403


def test_a_diagram_diff_ignores_layout_and_names_additions_removals_and_changes():
    moved = XML.replace('<dc:Bounds x="630" y="350"', '<dc:Bounds x="640" y="360"')
    assert diagram_diff(XML, moved).changed == []
    added = XML.replace(
        '<bpmn:endEvent id="end_visit"',
        '<bpmn:task id="extra" name="额外" />\n    <bpmn:endEvent id="end_visit"',
    )
    found = diagram_diff(XML, added)
    assert (found.added, found.removed, found.names["extra"]) == (["extra"], [], "额外")
    found = diagram_diff(added, XML)
    assert found.removed == ["extra"]
    scripted = XML.replace('outcome = "closed"', 'outcome = "closed"\nvisit_filed = True')
    assert diagram_diff(XML, scripted).changed == ["file_visit"]
    with pytest.raises(DiagramUnreadable):
        diagram_diff(XML, "<bpmn:definitions")


FORM = (REPO / "processes" / "household_visit" / "visit_record.json").read_text(encoding="utf-8")


def test_the_form_editor_opens_a_models_form_and_previews_it_as_staff_see_it(app):
    client = staff(app, "designer")
    opened = client.get("/designer/household_visit/files/visit_record.json")
    assert (opened.status_code, opened.get_data(as_text=True)) == (200, FORM)
    assert client.get("/designer/household_visit/files/nothing.json").status_code == 404
    status, _ = _post(client, "/designer/household_visit/form-preview", {"file": "visit_record.json"})
    assert status == 400, "a preview without the form's text is a bad request"

    answer = client.post(
        "/designer/household_visit/form-preview",
        json={"file": "visit_record.json", "text": FORM},
        headers={"X-CSRFToken": token(client, "/designer")},
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "frame-ancestors 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert 'id="field-findings"' in page and 'name="needs_follow_up"' in page, "drawn by the staff renderer"

    # the preview's own form: what was typed is checked as a submission would be
    tried = client.post(
        "/designer/household_visit/form-preview",
        data={
            "csrf_token": token(client, "/designer"),
            "_form_file": "visit_record.json",
            "_form_text": FORM,
        },
    )
    assert tried.status_code == 200 and 'class="field field-boolean has-error"' in tried.get_data(
        as_text=True
    )
    filled = client.post(
        "/designer/household_visit/form-preview",
        data={
            "csrf_token": token(client, "/designer"),
            "_form_file": "visit_record.json",
            "_form_text": FORM,
            "met": "true",
            "findings": "正常",
            "needs_follow_up": "false",
        },
    )
    assert "填写有效" in filled.get_data(as_text=True)

    broken = client.post(
        "/designer/household_visit/form-preview",
        json={"file": "visit_record.json", "text": FORM.replace('"type": "object"', '"type": "objet"', 1)},
        headers={"X-CSRFToken": token(client, "/designer")},
    )
    assert broken.status_code == 400 and "visit_record.json" in broken.get_data(as_text=True)


def test_an_edited_form_is_checked_and_deployed_with_the_diagram(app):
    client = staff(app, "designer")
    gl = app.extensions["gridloop"]
    stricter = FORM.replace('"minLength": 2', '"minLength": -2', 1)
    status, body = _post(
        client,
        "/designer/household_visit/check",
        {"file": "household_visit.bpmn", "xml": XML, "files": {"visit_record.json": stricter}},
    )
    assert status == 200 and any(p["file"].endswith("visit_record.json") for p in body["problems"]), (
        "a form that is no valid JSON Schema is refused with the diagram's check"
    )
    edited = FORM.replace('"title": "走访情况"', '"title": "走访情况（已修改）"')
    assert edited != FORM
    status, body = _post(
        client,
        "/designer/household_visit/deploy",
        {"file": "household_visit.bpmn", "xml": XML, "files": {"visit_record.json": edited}},
    )
    assert (status, body["status"]) == (201, "draft")
    with gl.db.reading() as session:
        files = gl.parts.versions.get(session, body["version"]).bundle.files
    assert files["processes/household_visit/visit_record.json"] == edited
