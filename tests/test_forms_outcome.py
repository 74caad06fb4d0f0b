"""Forms that fit the outcome, without a browser: the show/require conditions webui.formdata derives from a
schema's conditional keywords, the hints that say them, the case's own choices (a joint case's rework
departments), and the task page as a browser without JavaScript gets it — every field, each with its hint."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Driver
from test_joint_meeting import all_report_back, convene, to_joint_meeting
from test_loop_paths import ACCEPT
from web_support import app_with_staff, html, staff

from engine.bpmn import forms
from webui.formdata import FieldRule, condition_text, drawn_fields, field_rules, needed, rule_hint

REPO = Path(__file__).resolve().parent.parent
STAFF = ("gw_hb1", "intake", "dispatcher", "dispatcher_dh", "h_dh_hw", "leader")
CHOICE = {"type": "string", "oneOf": [{"const": "a", "title": "甲"}, {"const": "b", "title": "乙"}]}
TEXT = {"type": "string", "title": "说明"}


def shipped(name: str) -> dict[str, Any]:
    return json.loads((REPO / "forms" / f"{name}.json").read_text(encoding="utf-8"))


def rules_of(schema: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {name: (r.show_when, r.require_when) for name, r in field_rules(schema).items()}


# ------------------------------------------------------------------ the derivation


def test_if_then_else_ties_required_and_named_fields_to_their_branch() -> None:
    schema = {
        "type": "object",
        "properties": {"pick": CHOICE, "why": TEXT, "extra": TEXT, "other": TEXT, "free": TEXT},
        "required": ["pick"],
        "if": {"properties": {"pick": {"const": "a"}}, "required": ["pick"]},
        "then": {"required": ["why"], "properties": {"extra": True}},
        "else": {"required": ["other"]},
    }
    assert rules_of(schema) == {
        "pick": (None, None),
        "why": ({"pick": ["a"]}, {"pick": ["a"]}),
        "extra": ({"pick": ["a"]}, None),
        "other": ({"pick": ["b", ""]}, {"pick": ["b", ""]}),
        "free": (None, None),
    }
    assert needed(schema) == {"pick", "why", "other"}


def test_an_if_that_does_not_require_its_field_also_holds_when_nothing_is_chosen() -> None:
    schema = {
        "properties": {"pick": CHOICE, "why": TEXT},
        "allOf": [{"if": {"properties": {"pick": {"enum": ["a"]}}}, "then": {"required": ["why"]}}],
    }
    assert rules_of(schema)["why"] == ({"pick": ["a", ""]}, {"pick": ["a", ""]})
    every = {
        **schema,
        "allOf": [{"if": {"properties": {"pick": {"enum": ["a", "b"]}}}, "then": {"required": ["why"]}}],
    }
    assert rules_of(every)["why"] == (None, None), "a, b or nothing: whatever is chosen"


def test_a_field_tied_to_a_branch_and_its_else_is_always_shown_but_required_only_in_one() -> None:
    verify = shipped("verify")
    rules = field_rules(verify)
    assert rules["note"] == FieldRule(show_when=None, require_when={"passed": ["false"]})
    assert rules["rework_departments"] == FieldRule(show_when={"passed": ["false"]})
    assert rules["photos"] == FieldRule()


def test_dependent_required_schemas_and_draft7_dependencies_tie_fields_to_a_filled_field() -> None:
    schema = {
        "properties": {"phone": TEXT, "name": TEXT, "ext": TEXT, "fax": TEXT, "note": TEXT},
        "dependentRequired": {"phone": ["name"]},
        "dependentSchemas": {"name": {"properties": {"ext": True}}},
        "dependencies": {"fax": ["note"]},
    }
    assert rules_of(schema) == {
        "phone": (None, None),
        "name": ({"phone": True}, {"phone": True}),
        "ext": ({"name": True}, None),
        "fax": (None, None),
        "note": ({"fax": True}, {"fax": True}),
    }


def test_one_of_branches_are_told_apart_by_their_const() -> None:
    schema = {
        "properties": {"pick": CHOICE, "why": TEXT, "count": {"type": "integer"}},
        "required": ["pick"],
        "oneOf": [
            {"properties": {"pick": {"const": "a"}, "why": {"minLength": 2}}, "required": ["why"]},
            {"properties": {"pick": {"const": "b"}, "count": True}},
        ],
    }
    assert rules_of(schema) == {
        "pick": (None, None),
        "why": ({"pick": ["a", ""]}, {"pick": ["a", ""]}),
        "count": ({"pick": ["b", ""]}, None),
    }


def test_nested_conditions_combine_and_booleans_compare_as_form_values() -> None:
    schema = {
        "properties": {"ok": {"type": "boolean", "title": "同意"}, "pick": CHOICE, "why": TEXT},
        "if": {"properties": {"ok": {"const": False}}, "required": ["ok"]},
        "then": {
            "allOf": [
                {
                    "if": {"properties": {"pick": {"const": "b"}}, "required": ["pick"]},
                    "then": {"required": ["why"]},
                }
            ]
        },
    }
    both = {"allOf": [{"ok": ["false"]}, {"pick": ["b"]}]}
    assert rules_of(schema)["why"] == (both, both)


def test_what_the_derivation_does_not_understand_is_always_shown() -> None:
    schema = {
        "properties": {"pick": CHOICE, "why": TEXT, "text": TEXT, "more": TEXT},
        "allOf": [
            {"if": {"properties": {"pick": {"pattern": "^a"}}}, "then": {"required": ["why"]}},
            {"if": {"not": {"required": ["pick"]}}, "then": {"properties": {"more": True}}},
            # the else of a free-text value has no finite complement
            {
                "if": {"properties": {"text": {"const": "x"}}, "required": ["text"]},
                "else": {"properties": {"more": True}},
            },
        ],
    }
    assert rules_of(schema)["why"] == (None, None)
    assert rules_of(schema)["more"] == (None, None)


def test_the_shipped_handle_form_shows_each_outcomes_fields_only() -> None:
    rules = rules_of(shipped("handle"))
    assert rules["action"] == (None, None)
    assert rules["photos"] == ({"action": ["done"]}, None)
    assert rules["result"] == ({"action": ["done"]}, {"action": ["done"]})
    for name in ("extension_limit", "extension_unit", "extension_reason"):
        assert rules[name] == ({"action": ["extension"]}, {"action": ["extension"]})
    assert rules["review_date"] == ({"action": ["hold"]}, {"action": ["hold"]})


def test_every_conditional_field_of_a_shipped_form_names_a_field_and_choices_of_the_form() -> None:
    for path in sorted((REPO / "forms").glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        for name, rule in field_rules(schema).items():
            for condition in (rule.show_when, rule.require_when):
                for part in (condition or {}).get("allOf", [condition] if condition else []):
                    for field, wanted in part.items():
                        assert field in schema["properties"], f"{path.name}: {name} depends on {field}"
                        assert wanted is True or isinstance(wanted, list), f"{path.name}: {name}"


# ------------------------------------------------------------------ hints, and the case's own choices


def test_conditions_are_said_in_staffs_words(app: Any) -> None:
    dispatch = shipped("dispatch")
    with app.test_request_context():
        reason = field_rules(dispatch)["dispatch_reason"]
        assert rule_hint(reason, dispatch["properties"]) == (
            "「派遣方式」为「上报上一级平台」或「提请联席会议（区级）」或「申请作废」时必填"
        )
        assert rule_hint(field_rules(dispatch)["instructions"], dispatch["properties"]) == (
            "「派遣方式」为「交办处置部门」时填写"
        )
        properties = {"phone": {"title": "电话"}, "ok": {"type": "boolean", "title": "同意"}}
        assert condition_text({"allOf": [{"phone": True}, {"ok": ["false", ""]}]}, properties) == (
            "已填写「电话」且「同意」为「否」或未选"
        )
        assert rule_hint(FieldRule(), properties) == ""


def test_case_choices_keep_only_what_the_case_names_in_its_order() -> None:
    schema = {
        "properties": {
            "pick": {
                "type": "array",
                "items": {
                    "x-gridloop-case-options": "assignments.department",
                    "oneOf": [{"const": c, "title": c.lower()} for c in ("A", "B", "C", "D")],
                },
            }
        }
    }
    data = {
        "assignments": [{"department": "C"}, {"department": "A"}, {"department": "C"}, {"department": "X"}]
    }
    narrowed = forms.case_choices(schema, data)
    assert narrowed["properties"]["pick"]["items"]["oneOf"] == [
        {"const": "C", "title": "c"},
        {"const": "A", "title": "a"},
    ]
    assert len(schema["properties"]["pick"]["items"]["oneOf"]) == 4, "the schema given is not changed"
    assert forms.case_choices(schema, {})["properties"]["pick"]["items"]["oneOf"] == []
    assert drawn_fields(forms.case_choices(schema, {})) == []
    assert drawn_fields(narrowed) == ["pick"]


# ------------------------------------------------------------------ the task pages without JavaScript


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    """The app with the demo district and real passwords for STAFF, on a manual clock."""
    yield from app_with_staff(tmp_path, STAFF)


@pytest.fixture
def driver(app: Any) -> Driver:
    """Helpers over the app's engine."""
    return Driver(app.extensions["gridloop"])


def field_div(page: str, name: str) -> str:
    found = re.search(
        rf'<div class="field[^"]*" id="field-{re.escape(name)}"[^>]*>.*?(?=<div class="field|</form>)',
        page,
        re.S,
    )
    assert found, f"field {name} is not on the page"
    return found.group(0)


def test_the_handle_page_draws_every_field_with_when_it_is_needed(app: Any, driver: Driver) -> None:
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", ACCEPT)
    driver.complete("dispatcher", event_id, "dispatch", {"dispatch_action": "assign", "department": "DH-HW"})
    task = driver.open_task(event_id, "handle")
    page = html(staff(app, "h_dh_hw").get(f"/tasks/{task['id']}"))
    assert 'src="/static/js/forms.js"' in page
    for name in shipped("handle")["properties"]:
        field_div(page, name)
    extension = field_div(page, "extension_reason")
    assert "「办理结果」为「申请延期」时必填" in extension
    assert """data-show-when='{"action": ["extension"]}'""" in extension
    assert """data-require-when='{"action": ["extension"]}'""" in extension
    assert '<abbr class="req" title="必填" hidden>*</abbr>' in extension
    assert " required" not in extension.split("<textarea", 1)[1].split(">", 1)[0]
    photos = field_div(page, "photos")
    assert "「办理结果」为「处置完毕」时填写" in photos and "abbr" not in photos
    action = field_div(page, "action")
    assert "data-show-when" not in action and '<abbr class="req" title="必填">*</abbr>' in action
    unit = field_div(page, "extension_unit")
    assert 'type="radio"' in unit, "a choice required by an outcome is drawn as radio buttons"


def test_the_rework_departments_are_the_joint_cases_and_absent_on_a_single_department_case(
    app: Any, driver: Driver
) -> None:
    single = driver.report("gw_hb1")
    driver.complete("intake", single, "accept", ACCEPT)
    driver.complete("dispatcher", single, "dispatch", {"dispatch_action": "assign", "department": "DH-HW"})
    driver.complete("h_dh_hw", single, "handle", {"action": "done", "result": "已清运"})
    worker = staff(app, "gw_hb1")
    page = html(worker.get(f"/tasks/{driver.open_task(single, 'verify')['id']}"))
    assert 'id="field-note"' in page
    assert "rework_departments" not in page

    joint = to_joint_meeting(driver)
    convene(driver, joint)
    all_report_back(driver, joint)
    verify = driver.open_task(joint, "verify")
    page = html(staff(app, "gw_hb1").get(f"/tasks/{verify['id']}"))  # days later: a new sign-in
    rework = field_div(page, "rework_departments")
    offered = re.findall(r'name="rework_departments" value="([^"]+)"', rework)
    assert offered == ["QH-ZJ", "DH-CG", "QH-ST"], "the case's lead and supports, in the meeting's order"
    assert "「核查通过」为「否」时填写" in rework
    detail = driver.gl.task_detail("gw_hb1", verify["id"])
    assert [
        c["const"] for c in detail["form"]["properties"]["rework_departments"]["items"]["oneOf"]
    ] == offered
