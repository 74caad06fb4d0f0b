"""One list of event states: read from the diagram's scripts (``outcome = "…"``), used by the searches, the
pages, the catalogs and the engine's rules; a state nobody sets is refused by name, not answered with everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from web_support import REPO, app_with_staff, at_handle, complete, html, report, staff

from engine.app import Gridloop
from engine.bpmn.definitions import UNSET_OUTCOME, build_bundle, validate_files
from engine.bpmn.folders import collect_files, load_bundle
from engine.errors import ValidationFailed
from engine.evaluation import metrics
from engine.supervision import rules

STAFF = ("intake", "dispatcher", "h_dh_hw", "gw_hb1")
ASSIGNED = re.compile(r'(?:^|>)\s*outcome = "([a-z_]+)"', re.MULTILINE)


def test_the_states_are_those_the_diagrams_scripts_set() -> None:
    written = set()
    for path in (REPO / "processes" / "grid_event").glob("*.bpmn"):
        written |= set(ASSIGNED.findall(path.read_text(encoding="utf-8")))
    outcomes = load_bundle(REPO, "grid_event").outcomes
    assert outcomes[0] == UNSET_OUTCOME
    assert set(outcomes) == written | {UNSET_OUTCOME}
    assert len(outcomes) == len(set(outcomes))
    assert {"on_hold", "legacy", "voided", "closed", "not_found", "rejected", "open"} <= set(outcomes)


def test_a_state_written_into_the_diagram_is_a_state_of_the_bundle() -> None:
    files = collect_files(REPO, "grid_event")
    files["processes/grid_event/grid_event.bpmn"] = files["processes/grid_event/grid_event.bpmn"].replace(
        'outcome = "voided"', 'outcome = "withdrawn"'
    )
    outcomes = build_bundle(files).outcomes
    assert "withdrawn" in outcomes and "voided" not in outcomes


def test_a_state_set_by_an_expression_is_refused_where_it_is_written() -> None:
    files = collect_files(REPO, "grid_event")
    bpmn = files["processes/grid_event/grid_event.bpmn"]
    line = next(n for n, text in enumerate(bpmn.splitlines(), 1) if 'outcome = "voided"' in text)
    files["processes/grid_event/grid_event.bpmn"] = bpmn.replace(
        'outcome = "voided"', 'outcome = "void" + "ed"'
    )
    problems = validate_files(files)
    assert [(p.file, p.line, p.element_id) for p in problems] == [
        ("processes/grid_event/grid_event.bpmn", line, "set_voided")
    ]
    assert 'outcome = "closed"' in problems[0].message


def test_every_state_the_engine_names_is_one_the_process_sets() -> None:
    outcomes = set(load_bundle(REPO, "grid_event").outcomes)
    named = {*metrics.NOT_CASES, *metrics.OFF_THE_CLOCK, *rules.FINISHED_STATES}
    assert named <= outcomes, f"states named in the engine that no script sets: {named - outcomes}"


def test_both_catalogs_name_every_state() -> None:
    outcomes = load_bundle(REPO, "grid_event").outcomes
    for lang in ("zh", "en"):
        with (REPO / "webui" / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
            catalog = {message.id: message.string for message in read_po(po) if message.id}
        assert not [s for s in outcomes if not catalog.get(f"state.{s}")], lang


def test_the_catalog_extraction_names_every_state_and_no_other() -> None:
    from webui.runtime_ids import RUNTIME_IDS

    shipped = sorted(folder.name for folder in (REPO / "processes").iterdir() if folder.is_dir())
    outcomes = {s for process in shipped for s in load_bundle(REPO, process).outcomes}
    assert set(RUNTIME_IDS["state."]) == {f"state.{s}" for s in outcomes}


def test_searching_for_a_state_nobody_sets_is_refused_by_name(gl: Gridloop) -> None:
    with pytest.raises(ValidationFailed) as refused:
        gl.list_events("admin", state="on-hold")
    assert list(refused.value.errors) == ["state"]
    (error,) = refused.value.errors["state"]
    assert error.code == "not_a_choice_of" and "on_hold" in error.params["choices"]
    assert gl.list_events("admin", state="on_hold") == ([], 0)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    yield from app_with_staff(tmp_path, STAFF)


def _on_hold(gl: Gridloop) -> dict[str, Any]:
    """An event its department put on hold (挂账), approved by the dispatcher."""
    event_id = at_handle(gl)
    complete(
        gl,
        "h_dh_hw",
        event_id,
        "handle",
        {
            "action": "hold",
            "hold_reason": "涉及产权纠纷，待法院判决",
            "review_date": "2026-12-23T01:00:00+00:00",
        },
    )
    complete(gl, "dispatcher", event_id, "approve_hold", {"hold_approved": True})
    event = gl.event_detail("admin", event_id)
    assert event["state"] == "on_hold"
    return event


def test_the_events_page_offers_every_state_and_finds_those_on_hold(app: Any) -> None:
    gl = app.extensions["gridloop"]
    held = _on_hold(gl)
    other = report(gl)
    client = staff(app, "dispatcher")
    page = html(client.get("/events"))
    offered = re.findall(r'<option value="([a-z_]+)"', page.split('name="state"')[1].split("</select>")[0])
    assert offered == list(gl.bundle().outcomes)
    found = client.get("/events?state=on_hold")
    assert found.status_code == 200
    assert held["code"] in html(found) and other["code"] not in html(found) and "挂账中" in html(found)


def test_an_unknown_state_gets_a_message_on_the_page_and_a_field_error_from_the_api(app: Any) -> None:
    gl = app.extensions["gridloop"]
    event = report(gl)
    client = staff(app, "intake")
    refused = client.get("/events?state=bogus")
    assert refused.status_code == 400
    page = html(refused)
    assert "没有这种状态" in page and event["code"] not in page
    answer = client.post("/api/v1/auth/token", json={"username": "intake", "password": "web-test-password"})
    bearer = {"Authorization": f"Bearer {answer.get_json()['token']}"}
    refused = client.get("/api/v1/events?state=bogus", headers=bearer)
    assert refused.status_code == 400
    body = refused.get_json()
    assert body["error"] == "validation_failed" and list(body["errors"]) == ["state"]
    assert client.get("/api/v1/events?state=reported", headers=bearer).get_json()["total"] == 1


def test_the_start_page_counts_every_state(app: Any) -> None:
    gl = app.extensions["gridloop"]
    _on_hold(gl)
    page = html(staff(app, "intake").get("/"))
    for state in gl.bundle().outcomes:
        assert f"state-{state}" in page, state
