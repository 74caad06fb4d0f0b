"""Definition files are validated with file, line and element id, and clean ones build a hashed bundle."""

import json
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent

from engine.bpmn.definitions import (
    DefinitionError,
    Problem,
    build_bundle,
    content_hash,
    validate_files,
)
from engine.bpmn.folders import collect_files, load_bundle, validate_paths
from engine.org.roles import ROLE_KEYS

REPO = Path(__file__).resolve().parents[1]
BROKEN = Path(__file__).resolve().parent / "fixtures" / "broken"

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    'id="defs" targetNamespace="http://example.org/gridloop">\n'
)


def line_of(path: Path, needle: str) -> int:
    """1-based number of the first line of ``path`` containing ``needle``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def one_task_process(task_xml: str, lane: str = "网格员", extra_nodes: str = "") -> str:
    """A start -> task 'work' -> end process in one lane, with ``task_xml`` as the task element."""
    return (
        HEAD
        + '  <bpmn:process id="grid_event" isExecutable="true">\n'
        + f'    <bpmn:laneSet id="lanes"><bpmn:lane id="lane" name="{lane}">'
        + "<bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>work</bpmn:flowNodeRef>"
        + "<bpmn:flowNodeRef>end</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>\n"
        + '    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>\n'
        + '    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work" />\n'
        + f"    {task_xml}\n"
        + '    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end" />\n'
        + '    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>\n'
        + extra_nodes
        + "  </bpmn:process>\n</bpmn:definitions>\n"
    )


# --- the real definitions in processes/ and forms/ ---------------------------------------------------


def test_repository_definitions_validate_cleanly():
    files = collect_files(REPO, "grid_event")
    assert "processes/grid_event/grid_event.bpmn" in files
    assert any(name.startswith("forms/") for name in files)
    assert validate_files(files) == []
    assert validate_paths([REPO]) == []


def test_repository_bundle_has_roles_forms_and_categories():
    bundle = load_bundle(REPO, "grid_event")
    assert bundle.process_id == "grid_event"
    assert bundle.spec.name == "grid_event"
    assert bundle.user_tasks, "the loop has user tasks"
    for info in bundle.user_tasks.values():
        assert info.lane, f"{info.bpmn_id} has a lane"
        assert info.role in ROLE_KEYS, f"{info.bpmn_id}: lane {info.lane!r} maps to a role"
        assert info.form in bundle.forms, f"{info.bpmn_id}: form {info.form!r} is loaded"
        assert info.scope_level in ("grid", "community", "town", "district")
    assert bundle.start_form in bundle.forms
    start_ids = [bpmn_id for bpmn_id, info in bundle.user_tasks.items() if info.form == bundle.start_form]
    assert start_ids and all(isinstance(bundle.spec.task_specs[bpmn_id], StartEvent) for bpmn_id in start_ids)
    codes = {category.code: category for category in bundle.categories}
    assert codes["0101"].department_kind == "sanitation"
    assert codes["0101"].time_limit > 0
    assert len(codes) == len(bundle.categories), "category codes are unique"


def test_content_hash_is_stable_and_sees_one_byte():
    files = collect_files(REPO, "grid_event")
    first = build_bundle(files)
    again = load_bundle(REPO, "grid_event")
    assert first.content_hash == again.content_hash == content_hash(files)
    assert len(first.content_hash) == 64

    form = next(name for name in sorted(files) if name.startswith("forms/"))
    text = files[form]
    position = text.index(" ")
    changed = dict(files, **{form: text[:position] + "\t" + text[position + 1 :]})
    assert len(changed[form]) == len(text)
    assert build_bundle(changed).content_hash != first.content_hash


# --- broken fixtures: each yields exactly its problem -------------------------------------------------

BROKEN_CASES = [
    ("malformed_xml.bpmn", "</bpmn:process>", None, ["malformed XML", "mismatch"]),
    ("unknown_form.bpmn", 'value="no_such_form.json"', "check", ["'no_such_form.json'", "forms/"]),
    ("dangling_flow.bpmn", 'id="f_lost"', "f_lost", ["targetRef 'nowhere'"]),
    ("task_without_lane.bpmn", 'id="orphan"', "orphan", ["in no lane"]),
    ("unknown_role_lane.bpmn", 'id="lane_cleaner"', "lane_cleaner", ["'清洁工'", "网格员 (grid_worker)"]),
    ("script_import.bpmn", "<bpmn:script>", "open_case", ["imports are not allowed", "line 2: import os"]),
    ("missing_decision.bpmn", "<spiffworkflow:calledDecisionId>", "route", ["'no_such_decision'", "no DMN"]),
]


@pytest.mark.parametrize(("fixture", "needle", "element_id", "phrases"), BROKEN_CASES)
def test_broken_fixture_reports_file_line_and_element(fixture, needle, element_id, phrases):
    path = BROKEN / fixture
    problems = validate_paths([path])
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.file == str(path)
    assert problem.line == line_of(path, needle)
    assert problem.element_id == element_id
    for phrase in phrases:
        assert phrase in problem.message


def test_build_bundle_raises_with_all_problems():
    files = {
        "processes/unknown_form.bpmn": (BROKEN / "unknown_form.bpmn").read_text(encoding="utf-8"),
        "processes/task_without_lane.bpmn": (BROKEN / "task_without_lane.bpmn").read_text(encoding="utf-8"),
    }
    with pytest.raises(DefinitionError) as info:
        build_bundle(files, "unknown_form")
    assert {problem.element_id for problem in info.value.problems} == {"check", "orphan"}
    assert str(info.value).splitlines() == [str(problem) for problem in info.value.problems]


def test_validate_directory_of_fixtures_reports_each_file():
    problems = validate_paths([BROKEN])
    assert {Path(problem.file).name for problem in problems} == {case[0] for case in BROKEN_CASES}


def test_missing_path_is_a_problem(tmp_path):
    problems = validate_paths([tmp_path / "nope.bpmn"])
    assert [problem.file for problem in problems] == [str(tmp_path / "nope.bpmn")]


# --- further checks on in-memory files ----------------------------------------------------------------


def test_problem_str_uses_dashes_for_missing_parts():
    assert str(Problem("forms/a.json", None, None, "bad")) == "forms/a.json:-: -: bad"
    assert str(Problem("processes/p.bpmn", 42, "dispatch", "bad")) == "processes/p.bpmn:42: dispatch: bad"


def test_form_that_is_not_json_reports_its_line():
    files = {"forms/accept.json": '{\n  "type": "object",\n  "properties": {,}\n}\n'}
    assert [(p.file, p.line) for p in validate_files(files)] == [("forms/accept.json", 3)]


def test_form_that_is_not_a_schema_is_reported_with_its_path():
    files = {"forms/accept.json": json.dumps({"type": "object", "properties": {"decision": {"type": 5}}})}
    problems = validate_files(files)
    assert len(problems) == 1
    assert problems[0].element_id == "$.properties.decision.type"
    assert "draft 2020-12" in problems[0].message


def test_form_whose_pattern_only_python_reads_is_refused():
    schema = {"type": "object", "properties": {"note": {"type": "string", "pattern": "^done\\Z"}}}
    problems = validate_files({"forms/accept.json": json.dumps(schema)})
    assert [(p.file, p.message.split(":")[0]) for p in problems] == [
        ("forms/accept.json", "form cannot be compiled for checking submissions")
    ]
    assert "ECMA-262" in problems[0].message


def test_form_found_for_user_task_passes_and_bad_scope_level_fails():
    task = (
        '<bpmn:userTask id="work"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="formJsonSchemaFilename" value="work.json" />'
        '<spiffworkflow:property name="scopeLevel" value="{level}" />'
        "</spiffworkflow:properties></bpmn:extensionElements>"
        "<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>"
    )
    form = json.dumps({"type": "object", "properties": {}})
    good = {"processes/p.bpmn": one_task_process(task.format(level="town")), "forms/work.json": form}
    assert validate_files(good) == []
    bundle = build_bundle(good)
    assert bundle.user_tasks["work"].scope_level == "town"
    assert bundle.user_tasks["work"].role == "grid_worker"
    assert bundle.forms == {"work.json": {"type": "object", "properties": {}}}
    assert bundle.categories == []

    bad = dict(good, **{"processes/p.bpmn": one_task_process(task.format(level="province"))})
    problems = validate_files(bad)
    assert [(p.element_id, p.line) for p in problems] == [("work", 7)]
    assert "scopeLevel 'province'" in problems[0].message


def test_node_without_incoming_or_outgoing_is_reported():
    stray = '    <bpmn:task id="stray" name="孤立" />\n'
    problems = validate_files(
        {"processes/p.bpmn": one_task_process('<bpmn:task id="work" />', extra_nodes=stray)}
    )
    assert [(p.element_id, p.line) for p in problems] == [("stray", 10), ("stray", 10)]
    assert "no incoming" in problems[0].message and "no outgoing" in problems[1].message


def test_refused_condition_is_reported_on_its_flow():
    gateway = (
        '<bpmn:exclusiveGateway id="work" default="f2" />\n'
        '    <bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="end">'
        "<bpmn:conditionExpression>().__class__</bpmn:conditionExpression></bpmn:sequenceFlow>"
    )
    problems = validate_files({"processes/p.bpmn": one_task_process(gateway)})
    assert [(p.element_id, p.line) for p in problems] == [("f3", 8)]
    assert "condition" in problems[0].message and "'__class__'" in problems[0].message


def test_script_task_without_script_is_reported():
    problems = validate_files({"processes/p.bpmn": one_task_process('<bpmn:scriptTask id="work" />')})
    assert [(p.element_id, p.line) for p in problems] == [("work", 7)]
    assert "has no script" in problems[0].message


def test_xsd_error_names_line_and_element():
    problems = validate_files({"processes/p.bpmn": one_task_process('<bpmn:task id="work" color="red" />')})
    assert [(p.file, p.line, p.element_id) for p in problems] == [("processes/p.bpmn", 7, "work")]
    assert "attribute 'color'" in problems[0].message


def test_spiffworkflow_rejection_is_wrapped_with_line_and_element():
    service = '<bpmn:serviceTask id="work" />'
    problems = validate_files({"processes/p.bpmn": one_task_process(service)})
    assert [(p.file, p.line, p.element_id) for p in problems] == [("processes/p.bpmn", 7, "work")]
    assert "Service Task must have an operator" in problems[0].message


def test_unknown_process_id_is_a_definition_error():
    files = {"processes/p.bpmn": one_task_process('<bpmn:task id="work" />')}
    with pytest.raises(DefinitionError, match="no executable process 'other'"):
        build_bundle(files, "other")
