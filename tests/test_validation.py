"""What validate and deploy say about bad definition files: every problem as ``file:line: element: message — fix``,
on one line, in line order, and a refused deploy changes nothing.

Each fixture under tests/fixtures/validation/ holds one kind of bad input: ``single/`` files checked alone (a
Latin-1 file, a name drawn on two lines, several problems in one file, a non-executable process, a Camunda
condition), ``repr_forms/`` schemas whose problems jsonschema says with Python reprs, ``called/`` a call
activity whose process is in the file beside it, and report-process folders that lint accepts but that would
fail once deployed (no diagram, no start form, a start form without the fields a report fills in, a business
rule task whose DMN is not in the set) beside ``ready/``, which deploys and takes a report.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import GRID_HB1
from sqlalchemy import func, select
from web_support import app_with_staff

from engine.app import Gridloop, check_paths
from engine.bpmn.definitions import DefinitionError, build_bundle, validate_files
from engine.bpmn.folders import collect_files, validate_paths
from engine.commands import versions
from engine.commands.pipeline import system
from engine.store.models import ProcessVersion
from webui.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "validation"
SINGLE = FIXTURES / "single"
REPO = Path(__file__).resolve().parent.parent
REPORT = {"category": "0101", "description": "路边有一堆暴露垃圾，无人清运", "grid": GRID_HB1}
ROLES = (
    "网格员 (grid_worker), 受理员 (intake), 派遣员 (dispatcher), 值班长 (shift_leader), 部门处置员 (handler), "
    "核查员 (verifier), 考核员 (evaluator), 督办员 (supervisor), 审计员 (auditor), 流程设计员 (designer), "
    "系统管理员 (admin)"
)
NO_DIAGRAM = (
    "the file has no diagram (BPMNDI), so the workbench, bpmn.io and Camunda Modeler cannot show it — open it "
    "in a modeler, lay it out and save it"
)


def lines(paths: list[Path]) -> list[str]:
    return [str(problem) for problem in check_paths(paths)]


# --- lint: each problem fixed --------------------------------------------------------------------------------


def test_a_latin1_file_is_one_problem_at_its_first_bad_byte():
    path = SINGLE / "latin1.bpmn"
    assert lines([path]) == [
        f"{path}:3: -: the file is not UTF-8 (byte 0xe9 at line 3) — save it as UTF-8 "
        '(and declare encoding="UTF-8" in an XML file)'
    ]


def test_a_latin1_file_in_a_deployed_folder_is_refused_by_name(tmp_path):
    (tmp_path / "processes").mkdir()
    (tmp_path / "processes" / "grid_event.bpmn").write_bytes((SINGLE / "latin1.bpmn").read_bytes())
    with pytest.raises(DefinitionError) as info:
        collect_files(tmp_path)
    assert [str(p) for p in info.value.problems] == [
        "processes/grid_event.bpmn:3: -: the file is not UTF-8 (byte 0xe9 at line 3) — save it as UTF-8 "
        '(and declare encoding="UTF-8" in an XML file)'
    ]


def test_form_schema_problems_name_values_as_json_not_python_reprs():
    folder = FIXTURES / "repr_forms"
    assert lines([folder]) == [
        f"{folder / 'kinds.json'}:-: $.properties.kind.type: form is not a valid JSON Schema (draft 2020-12): "
        '["a", "b"] is not valid under any of the given schemas — correct the keyword at $.properties.kind.type',
        f"{folder / 'size.json'}:-: $.properties.size.type: form is not a valid JSON Schema (draft 2020-12): "
        '{"x": 1} is not valid under any of the given schemas — correct the keyword at $.properties.size.type',
    ]


def test_a_name_drawn_on_two_lines_is_said_on_one():
    path = SINGLE / "multiline_name.bpmn"
    assert lines([path]) == [
        f"{path}:6: inspect: task '现场 核查' has no outgoing sequence flow, so the process stops there — "
        "connect it onward or to an end event"
    ]


def test_several_problems_of_one_file_come_in_line_order():
    path = SINGLE / "several.bpmn"
    assert lines([path]) == [
        f"{path}:5: lane_cleaner: lane '清洁工' names no known role — rename it to one of: {ROLES}",
        f"{path}:14: f2: sequence flow's targetRef 'nowhere' is no element of process 'several' — connect the "
        "flow to an existing element or delete it",
        f"{path}:15: end: endEvent 'end' has no incoming sequence flow, so it can never run — connect a flow "
        "into it",
    ]


def test_a_non_executable_file_gets_one_verdict():
    path = SINGLE / "not_executable.bpmn"
    assert lines([path]) == [
        f"{path}:3: visit: not executable: process 'visit' is marked isExecutable=\"false\", so no engine runs "
        'it — set isExecutable="true" (the modeler\'s "Executable" checkbox)'
    ]


def test_a_camunda_condition_is_refused_by_name_with_its_python():
    path = SINGLE / "camunda_condition.bpmn"
    assert lines([path]) == [
        f"{path}:8: large: condition '${{amount > 100}}' is a Camunda (JUEL) expression, which gridloop's "
        "script engine does not run — write it as the Python expression amount > 100"
    ]


def test_a_file_checked_alone_is_checked_with_the_process_it_calls_beside_it():
    caller = FIXTURES / "called" / "processes" / "caller.bpmn"
    assert validate_paths([caller]) == []
    assert validate_paths([REPO / "processes" / "grid_event" / "grid_event.bpmn"]) == []


def test_a_called_process_no_file_defines_is_named_on_the_call_activity(tmp_path):
    caller = tmp_path / "caller.bpmn"
    caller.write_bytes((FIXTURES / "called" / "processes" / "caller.bpmn").read_bytes())
    assert lines([caller]) == [
        f"{caller}:6: meet: call activity calls process 'meeting', which no BPMN file of the set defines "
        "(defined: caller) — add the file that defines it beside this one or fix calledElement"
    ]


def test_the_shipped_definitions_validate_cleanly():
    assert check_paths([REPO]) == []
    assert check_paths([REPO / "processes" / "grid_event" / "grid_event.bpmn"]) == []


# --- what deploy refuses besides ----------------------------------------------------------------------------

DEPLOY_REFUSALS = [
    ("no_diagram", "processes/grid_event.bpmn:2: defs: " + NO_DIAGRAM),
    (
        "no_start_form",
        "processes/grid_event.bpmn:5: start: process 'grid_event' starts without a form, so nothing can be "
        "filled in to start it — set the start event's formJsonSchemaFilename property to a form in forms/ "
        "(e.g. report.json)",
    ),
    (
        "start_form_lacks_channel",
        "forms/start.json:-: properties: the start form of process 'grid_event' lacks the field(s) channel, "
        'which starting it fills in — add them under "properties"',
    ),
    (
        "missing_dmn",
        "processes/grid_event.bpmn:6: route: business rule task calls decision 'routing_rules', which no DMN "
        "file defines (available: none) — add processes/routing_rules.dmn or fix calledDecisionId",
    ),
]


@pytest.mark.parametrize(("fixture", "problem"), DEPLOY_REFUSALS)
def test_validate_names_what_deploy_would_refuse(fixture, problem):
    folder = FIXTURES / fixture
    assert lines([folder]) == [f"{folder}/{problem}"]


def _versions(gl: Gridloop) -> list[int]:
    with gl.db.reading() as session:
        return list(session.scalars(select(ProcessVersion.id).order_by(ProcessVersion.id)))


@pytest.mark.parametrize(("fixture", "problem"), DEPLOY_REFUSALS)
def test_a_refused_deploy_changes_nothing(make_gridloop, fixture, problem):
    gl = make_gridloop()
    gl.init_schema()
    gl.create_demo_district("test", password=None)
    current = [d.id for d in gl.deploy(REPO, activate=True)]
    with pytest.raises(DefinitionError) as info:
        gl.deploy(FIXTURES / fixture, activate=True)
    assert [str(p) for p in info.value.problems] == [problem]
    assert _versions(gl) == current
    assert gl.report("gw_hb1", REPORT)["state"] == "reported", "reports still start on the current version"
    with gl.db.reading() as session:
        version = session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == "grid_event"))
        assert version is not None and version.status == "active"
        assert version.files == collect_files(REPO, "grid_event")


def test_a_ready_folder_deploys_and_takes_a_report(make_gridloop):
    gl = make_gridloop()
    gl.init_schema()
    gl.create_demo_district("test", password=None)
    assert gl.deploy(FIXTURES / "ready", activate=True)[0].created
    assert gl.report("gw_hb1", REPORT)["state"] == "reported"


# --- the command line ---------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_gridloop_validate_prints_each_problem_in_line_order(capsys):
    path = SINGLE / "several.bpmn"
    status, out, err = run(capsys, "validate", str(path))
    assert status == 1
    assert [line for line in out.splitlines() if not line.startswith("warning:")] == lines([path])
    assert err == "3 problem(s) found\n"


def test_gridloop_validate_accepts_the_shipped_definitions(capsys):
    status, out, _ = run(capsys, "validate", str(REPO))
    assert (status, out.splitlines()[-1]) == (0, "ok: no problems found")


@pytest.mark.parametrize(("fixture", "problem"), DEPLOY_REFUSALS)
def test_gridloop_deploy_refuses_with_each_problem_and_changes_nothing(capsys, tmp_path, fixture, problem):
    url = f"sqlite:///{tmp_path}/cli.sqlite3"
    assert run(capsys, "--db", url, "init")[0] == 0
    assert run(capsys, "--db", url, "deploy", str(REPO))[0] == 0
    status, out, err = run(capsys, "--db", url, "deploy", str(FIXTURES / fixture))
    assert (status, out) == (2, "")
    assert err.splitlines() == [problem, "error: 1 problem(s) in the definitions; nothing was changed"]
    gl = Gridloop(url)
    try:
        assert _versions(gl) == [1, 2, 3, 4]
    finally:
        gl.db.dispose()


# --- the API, should such a version still be stored ----------------------------------------------------------


@pytest.fixture
def app(tmp_path):
    yield from app_with_staff(tmp_path, ("gw_hb1",))


def test_a_stored_version_without_the_report_fields_is_a_clear_400_not_a_500(app):
    from web_support import PASSWORD

    gl = app.extensions["gridloop"]
    bundle = build_bundle(
        collect_files(FIXTURES / "start_form_lacks_channel")
    )  # as deployed before the check
    gl.pipeline.run(system("test"), versions.deploy_all, [bundle], True)
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "gw_hb1", "password": PASSWORD}).get_json()
    answer = client.post(
        "/api/v1/events",
        json=REPORT,
        headers={"Authorization": f"Bearer {token['token']}", "Accept-Language": "en"},
    )
    assert answer.status_code == 400
    assert answer.get_json()["message"] == (
        "The report form start.json of process grid_event lacks the field(s) channel, so no report can be taken; "
        "a process designer has to add them and deploy again."
    )
    with gl.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ProcessVersion)) == 5, (
            "the shipped four models and the stored version"
        )


# --- SpiffArena's form conventions gridloop does not read ------------------------------------------------------


def test_a_ui_schema_named_is_a_warning_that_it_is_ignored(tmp_path):
    from engine.bpmn.folders import label_warnings

    root = tmp_path / "ui"
    shutil.copytree(FIXTURES / "ready", root)
    bpmn = root / "processes" / "grid_event.bpmn"
    bpmn.write_text(
        bpmn.read_text(encoding="utf-8").replace(
            '<spiffworkflow:property name="formJsonSchemaFilename" value="start.json"/>',
            '<spiffworkflow:property name="formJsonSchemaFilename" value="start.json"/>'
            '<spiffworkflow:property name="formUiSchemaFilename" value="start-uischema.json"/>',
        ),
        encoding="utf-8",
    )
    (root / "forms" / "start-uischema.json").write_text('{"ui:order": ["description", "category"]}')
    warnings = [str(w) for w in label_warnings([root]) if "UI schema" in w.message]
    assert warnings == [
        f"{root}/processes/grid_event.bpmn:5: start: the UI schema 'start-uischema.json' is ignored: gridloop draws "
        "a form from its JSON Schema alone (order as in properties, widgets with x-gridloop-widget, help in "
        "description) — move what it says into the form, or remove formUiSchemaFilename"
    ]
    assert check_paths([root]) == [], "a warning, not a refusal"


def test_spiffarena_choices_from_task_data_are_refused_by_name():
    form = {
        "type": "object",
        "properties": {"fruit": {"type": "string", "anyOf": ["options_from_task_data_var:fruits"]}},
    }
    problems = validate_files({"forms/pick.json": json.dumps(form)})
    assert [str(p) for p in problems] == [
        "forms/pick.json:-: -: form takes its choices from task data the SpiffArena way "
        "(options_from_task_data_var:fruits), which gridloop does not read — list the choices in a oneOf, or "
        'narrow them to the case\'s data with "x-gridloop-case-options": "fruits"'
    ]
