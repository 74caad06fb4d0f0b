"""The restricted script engine refuses dangerous scripts with a clear ScriptError and runs the rest."""

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.spiff.parser import SpiffBpmnParser

from engine.bpmn import scripting
from engine.bpmn.scripting import (
    SAFE_BUILTINS,
    RestrictedScriptEngine,
    ScriptError,
    find_script_error,
    script_problems,
)

SCRIPT_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="defs" targetNamespace="http://example.org/gridloop">
  <bpmn:process id="tiny" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="open_case" />
    <bpmn:scriptTask id="open_case" name="立案">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="open_case" targetRef="gw" />
    <bpmn:exclusiveGateway id="gw" default="f_default">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f_cond</bpmn:outgoing>
      <bpmn:outgoing>f_default</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f_cond" sourceRef="gw" targetRef="end">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_default" sourceRef="gw" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f_cond</bpmn:incoming><bpmn:incoming>f_default</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

RULE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs" targetNamespace="http://example.org/gridloop">
  <bpmn:process id="rules" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="route" />
    <bpmn:businessRuleTask id="route">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>sneaky</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f2" sourceRef="route" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

RULE_DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="http://x">
  <decision id="sneaky" name="sneaky">
    <decisionTable id="table">
      <input id="in"><inputExpression id="ie" typeRef="string"><text>category</text></inputExpression></input>
      <output id="out" name="department_kind" typeRef="string" />
      <rule id="r1">
        <inputEntry id="r1_in"><text>-</text></inputEntry>
        <outputEntry id="r1_out"><text>().__class__.__name__</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""


def run_tiny(tmp_path, script, condition="False", functions=None):
    """Parse the tiny process with the given script and condition and run it to the end."""
    path = tmp_path / "tiny.bpmn"
    path.write_text(SCRIPT_BPMN.format(script=script, condition=condition), encoding="utf-8")
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(path))
    workflow = BpmnWorkflow(parser.get_spec("tiny"), script_engine=RestrictedScriptEngine(functions))
    workflow.do_engine_steps()
    return workflow


def test_import_in_script_task_is_refused_with_task_and_reason(tmp_path):
    with pytest.raises(Exception) as info:
        run_tiny(tmp_path, "import os")
    error = find_script_error(info.value)
    assert error is not None
    assert error.element_id == "open_case"
    message = str(error)
    assert "script in task 'open_case'" in message
    assert "imports are not allowed" in message
    assert "(line 1: import os)" in message


def test_open_is_refused(tmp_path):
    with pytest.raises(ScriptError, match="calling 'open' is not allowed") as info:
        run_tiny(tmp_path, "secret = open('/etc/passwd').read()")
    assert info.value.element_id == "open_case"


def test_dunder_attribute_walk_is_refused(tmp_path):
    with pytest.raises(ScriptError, match="names starting with '__'") as info:
        run_tiny(tmp_path, "bases = ().__class__.__bases__")
    assert "'__class__'" in str(info.value)
    assert "'__bases__'" in str(info.value)


def test_frame_walk_from_generator_is_refused(tmp_path):
    script = "frames = [g.gi_frame.f_back for g in [None]]"
    with pytest.raises(ScriptError, match="'gi_frame' exposes interpreter internals"):
        run_tiny(tmp_path, script)


def test_real_frame_escape_to_module_builtins_is_refused(tmp_path):
    script = (
        "g = (g.gi_frame.f_back.f_back.f_globals for _ in [1])\n"
        "imp = [*g][0]['__builtins__']['__import__']\n"
        "cwd = imp('os').getcwd()"
    )
    with pytest.raises(ScriptError) as info:
        run_tiny(tmp_path, script)
    assert "'f_globals' exposes interpreter internals" in str(info.value)
    assert "strings naming '__'" in str(info.value)


def test_dunder_strings_are_refused_but_ordinary_underscores_are_fine():
    assert script_problems("label = '{0.__class__}'.format(x)") == [
        "strings naming '__' attributes or keys are not allowed in process scripts "
        "(line 1: label = '{0.__class__}'.format(x))"
    ]
    assert script_problems("key = 'case__no'\nother = data['grid_code']") == []


def test_refused_condition_names_the_gateway(tmp_path):
    with pytest.raises(ScriptError, match="expression in task 'gw'"):
        run_tiny(tmp_path, "x = 1", condition="x.__class__ is int")


def test_allowed_script_uses_functions_and_sets_data(tmp_path):
    def add_hours(start, hours):
        return start + hours

    workflow = run_tiny(
        tmp_path,
        "due = add_hours(8, 4)\ncount = len(sorted([3, 1, 2]))\nlate = due &gt; 10",
        condition="late == True",
        functions={"add_hours": add_hours},
    )
    assert workflow.is_completed()
    data = workflow.get_tasks(spec_name="open_case")[0].data
    assert data["due"] == 12
    assert data["count"] == 3
    assert data["late"] is True
    assert "add_hours" not in data and "__builtins__" not in data


def test_script_that_slips_past_the_check_still_cannot_import(tmp_path, monkeypatch):
    monkeypatch.setattr(scripting, "script_problems", lambda source, mode="exec": [])
    with pytest.raises(WorkflowTaskException, match="__import__ not found"):
        run_tiny(tmp_path, "import os")
    with pytest.raises(WorkflowTaskException, match="name 'open' is not defined"):
        run_tiny(tmp_path, "secret = open('/etc/passwd')")


def test_safe_builtins_hold_nothing_that_reaches_outside():
    for name in (
        "__import__",
        "open",
        "eval",
        "exec",
        "compile",
        "getattr",
        "globals",
        "vars",
        "type",
        "object",
    ):
        assert name not in SAFE_BUILTINS
    engine = RestrictedScriptEngine({"helper": len})
    assert engine.environment.globals["__builtins__"] is SAFE_BUILTINS
    assert engine.environment.globals["helper"] is len


def test_task_data_cannot_replace_builtins_in_expressions():
    engine = RestrictedScriptEngine()
    context = {"__builtins__": {"len": len}, "items": [1, 2]}
    assert engine.environment.evaluate("max(items)", context) == 2


def test_dmn_wrapping_keeps_the_script_error_findable(tmp_path):
    (tmp_path / "rules.bpmn").write_text(RULE_BPMN, encoding="utf-8")
    (tmp_path / "rules.dmn").write_text(RULE_DMN, encoding="utf-8")
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(tmp_path / "rules.bpmn"))
    parser.add_dmn_file(str(tmp_path / "rules.dmn"))
    workflow = BpmnWorkflow(parser.get_spec("rules"), script_engine=RestrictedScriptEngine())
    workflow.get_tasks(spec_name="start")[0].data["category"] = "0101"
    with pytest.raises(WorkflowTaskException) as info:
        workflow.do_engine_steps()
    error = find_script_error(info.value)
    assert error is not None
    assert "expression in task 'route'" in str(error)
    assert "'__class__'" in str(error)


def test_find_script_error_returns_none_for_other_errors():
    try:
        try:
            raise KeyError("x")
        except KeyError as err:
            raise ValueError("wrapped") from err
    except ValueError as err:
        assert find_script_error(err) is None


def test_script_problems_reports_syntax_with_line_and_allows_lambda():
    assert script_problems("x = 1\ny = (2") == ["syntax error: '(' was never closed (line 2: y = (2)"]
    assert script_problems("pick = lambda items: max(items)\nbest = pick([1, 2])") == []
    assert script_problems("  a == 1", "eval") == []
    assert script_problems("from os import path") == [
        "imports are not allowed in process scripts (line 1: from os import path)"
    ]
    assert script_problems("e = eval('1')") == [
        "calling 'eval' is not allowed in process scripts (line 1: e = eval('1'))"
    ]


def test_script_problems_is_cached():
    before = scripting._cached_problems.cache_info().hits
    source = "cached_probe = 41 + 1"
    script_problems(source)
    script_problems(source)
    assert scripting._cached_problems.cache_info().hits == before + 1
