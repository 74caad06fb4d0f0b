"""English names of what the definitions name: every shipped step, form text, choice and category has an
English label in its own file (engine.bpmn.labels), and the English pages show them where the Chinese pages show
the Chinese names."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from web_support import app_with_staff, html, post, report, staff

from engine.bpmn.folders import collect_files, label_warnings, load_bundle
from engine.bpmn.labels import (
    SOURCE_LANGUAGE,
    TRANSLATED_LANGUAGES,
    UNLABELLED,
    element_labels,
    labelled_elements,
    localize_bpmn,
    missing_labels,
)

REPO = Path(__file__).resolve().parent.parent
SHIPPED_BPMN = sorted(REPO.glob("processes/**/*.bpmn"))
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NAME = re.compile(r'(\sname=)"[^"]*"')


def test_every_shipped_name_has_a_label_in_every_shipped_language():
    assert TRANSLATED_LANGUAGES == ("en",)
    assert missing_labels(collect_files(REPO, "grid_event")) == []
    bundle = load_bundle(REPO, "grid_event").in_language("en")
    assert all(info.labels.get("en") == info.name for info in bundle.user_tasks.values())
    assert all(c.name_labels.get("en") == c.name and c.class_labels.get("en") for c in bundle.categories)
    assert (
        load_bundle(REPO, "grid_event", "joint_meeting").in_language("en").user_tasks["joint_handle"].name
        == "Joint handling"
    )


@pytest.mark.parametrize("path", SHIPPED_BPMN, ids=lambda p: p.name)
def test_every_named_element_of_the_shipped_diagrams_has_a_short_english_label(path):
    root = etree.parse(str(path)).getroot()
    named = [
        e
        for e in root.iter(f"{{{BPMN_NS}}}*")
        if e.get("name") and etree.QName(e).localname not in UNLABELLED
    ]
    assert named == list(labelled_elements(root))
    kinds = {etree.QName(e).localname for e in named}
    assert {"startEvent", "endEvent", "lane", "participant", "userTask"} <= kinds
    if path.name == "grid_event.bpmn":
        assert {"sequenceFlow", "exclusiveGateway", "boundaryEvent", "intermediateThrowEvent"} <= kinds
        assert {"scriptTask", "callActivity"} <= kinds
    untranslated = [e.get("id") for e in named if not element_labels(e).get("en")]
    assert untranslated == []
    flows = [element_labels(e)["en"] for e in named if etree.QName(e).localname == "sequenceFlow"]
    assert all(len(label) <= 16 for label in flows), flows  # flow labels stay short ("Agree", "Report up")
    assert missing_labels({f"processes/{path.name}": path.read_text(encoding="utf-8")}) == []


def test_a_sequence_flow_without_its_english_label_is_a_warning_too():
    text = (REPO / "processes" / "grid_event" / "grid_event.bpmn").read_text(encoding="utf-8")
    stripped = text.replace('<spiffworkflow:property name="name.en" value="Report up" />', "", 1)
    found = missing_labels({"processes/grid_event/grid_event.bpmn": stripped})
    assert [(element_id, message.split(" has")[0]) for _, _, element_id, message in found] == [
        ("flow_report_up", "'上报'")
    ]


@pytest.mark.parametrize("path", SHIPPED_BPMN, ids=lambda p: p.name)
def test_the_english_diagram_has_the_english_names_and_is_the_same_file_otherwise(path):
    text = path.read_text(encoding="utf-8")
    assert localize_bpmn(text, SOURCE_LANGUAGE) == text
    assert localize_bpmn(text, "fr") == text  # a language without labels: the Chinese names
    english = localize_bpmn(text, "en")
    assert NAME.sub(r'\1""', english) == NAME.sub(r'\1""', text)  # only names changed, byte for byte
    source, localized = etree.fromstring(text.encode()), etree.fromstring(english.encode())
    for element in labelled_elements(source):
        (drawn,) = localized.xpath("//*[@id=$id]", id=element.get("id"))
        assert drawn.get("name") == element_labels(element)["en"]
    assert not re.search(r'\sname="[^"]*[\u4e00-\u9fff]', english)  # no Chinese name left


def test_the_english_diagrams_still_parse_with_spiffworkflow():
    parser = SpiffBpmnParser()
    for path in SHIPPED_BPMN:
        english = localize_bpmn(path.read_text(encoding="utf-8"), "en")
        parser.add_bpmn_xml(etree.fromstring(english.encode()), filename=path.name)
    parser.add_dmn_files([str(p) for p in REPO.glob("processes/**/*.dmn")])
    spec = parser.get_spec("grid_event")
    subprocesses = parser.get_subprocess_specs("grid_event")
    assert spec.task_specs["dispatch"].bpmn_name == "Dispatch"
    assert spec.task_specs["gw_dispatch_action"].bpmn_name == "Dispatch action"
    assert subprocesses["joint_meeting"].task_specs["record_meeting"].bpmn_name == "Hold the joint meeting"


def test_a_name_without_its_english_label_is_a_warning_naming_the_fix(tmp_path):
    for folder in ("processes", "forms"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    bpmn = tmp_path / "processes" / "grid_event" / "grid_event.bpmn"
    bpmn.write_text(
        bpmn.read_text().replace('<spiffworkflow:property name="name.en" value="Dispatch" />', "", 1)
    )
    form = tmp_path / "forms" / "follow_up.json"
    form.write_text(form.read_text().replace('"basically_satisfied": "Mostly satisfied",', ""))
    warnings = [str(w) for w in label_warnings([tmp_path])]
    assert len(warnings) == 2, warnings
    assert "dispatch: '派遣' has no en label" in warnings[1] and 'name="name.en"' in warnings[1]
    assert (
        "follow_up.json" in warnings[0]
        and "properties.satisfaction.choices.basically_satisfied" in warnings[0]
    )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    """The app with an intake clerk, a dispatcher and a supervisor who can sign in."""
    yield from app_with_staff(tmp_path, ("gw_hb1", "intake", "supervisor", "admin"))


def english(app: Any, username: str) -> Any:
    """A client of ``username`` who switched the interface to English."""
    client = staff(app, username)
    post(client, "/language", {"language": "en", "next": "/inbox"}, page="/inbox")
    return client


def test_english_pages_show_english_step_form_and_category_names(app):
    gl = app.extensions["gridloop"]
    event_id = report(gl, description="路边垃圾无人清运")["id"]
    intake = english(app, "intake")
    inbox = unescape(html(intake.get("/inbox?view=claimable")))
    assert ">Accept</a>" in inbox and "Exposed rubbish" in inbox and "暴露垃圾" not in inbox
    task_id = gl.inbox("intake", view="claimable")[0][0]["id"]
    task = unescape(html(intake.get(f"/tasks/{task_id}")))
    assert (
        "The intake clerk reviews the report" in task
        and "Reject (no case)" in task
        and "受理意见" not in task
    )
    event = unescape(html(intake.get(f"/events/{event_id}")))
    assert "Report an event" in event and "City appearance" in event and "事件上报" not in event
    events = unescape(html(intake.get("/events")))
    assert "Exposed rubbish" in events
    new = unescape(html(english(app, "gw_hb1").get("/report")))
    assert "Sub-category" in new and "Exposed rubbish" in new and "事件小类" not in new
    post(intake, "/language", {"language": "zh", "next": "/inbox"}, page="/inbox")
    chinese = unescape(html(intake.get(f"/events/{event_id}")))
    assert "事件上报" in chinese and "暴露垃圾" in chinese and "Exposed rubbish" not in chinese


def diagram_of(client: Any, page: str) -> tuple[str, Any]:
    """The diagram URL a page hands bpmn-js (its data-src) and what that URL answers."""
    src = re.search(r'class="bpmn-diagram" data-src="([^"]+)"', html(client.get(page)))
    assert src is not None
    url = unescape(src.group(1))
    return url, client.get(url)


def test_the_diagram_is_drawn_in_the_readers_language_and_cached_by_language(app):
    gl = app.extensions["gridloop"]
    event_id = report(gl, description="路边垃圾无人清运")["id"]
    intake = english(app, "intake")
    for page in ("/processes", f"/events/{event_id}"):
        url, answer = diagram_of(intake, page)
        xml = answer.get_data(as_text=True)
        assert url.endswith("lang=en") and answer.mimetype == "application/xml"
        assert (
            'id="dispatch" name="Dispatch"' in xml and 'name="Report up"' in xml and 'name="派遣"' not in xml
        )
        assert "immutable" in answer.headers["Cache-Control"]
    chinese = staff(app, "supervisor")
    url, answer = diagram_of(chinese, "/processes")
    xml = answer.get_data(as_text=True)
    assert url.endswith("lang=zh") and 'id="dispatch" name="派遣"' in xml and 'name="Dispatch"' not in xml
    assert xml == (REPO / "processes" / "grid_event" / "grid_event.bpmn").read_text(encoding="utf-8")
    assert "immutable" in answer.headers["Cache-Control"]
    # a URL without the language answers the reader's, and is never kept for another reader's language
    bare = url.split("?")[0]
    for client, name in ((intake, "Dispatch"), (chinese, "派遣")):
        answer = client.get(bare)
        assert f'id="dispatch" name="{name}"' in answer.get_data(as_text=True)
        assert "no-cache" in answer.headers["Cache-Control"] and "Cookie" in answer.headers["Vary"]
    # the download link gives the file as deployed, whatever the reader's language
    download = re.search(r'<a href="([^"]+)" download=', html(intake.get("/processes")))
    assert download is not None
    assert intake.get(unescape(download.group(1))).get_data(as_text=True) == xml
