"""The Camunda 7 dialect (Camunda Modeler's files) translated into the spiff dialect gridloop reads.

Every tree comes from a fixture file under tests/fixtures/camunda/, parsed as the definitions loader parses it,
so line numbers are the file's own: a refusal must point at the line the designer drew the element on.
"""

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.camunda import CAMUNDA_NS, SPIFF_NS, Translation, translate

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "camunda"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "spiffworkflow": SPIFF_NS, "camunda": CAMUNDA_NS}
FORM_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def parsed(name: str) -> etree._Element:
    return etree.fromstring((FIXTURES / name).read_bytes())


def form_files() -> dict[str, str]:
    """A definition set holding the fixture Camunda forms and one of the house's JSON Schema forms."""
    files = {str(path.relative_to(REPO)): path.read_text("utf-8") for path in FIXTURES.glob("*.form")}
    files["forms/accept.json"] = (REPO / "forms" / "accept.json").read_text("utf-8")
    return files


def by_id(root: etree._Element, element_id: str) -> etree._Element:
    (found,) = root.xpath("//*[@id=$id]", id=element_id)
    return found


def properties(element: etree._Element) -> dict[str, str]:
    path = "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
    return {prop.get("name"): prop.get("value") for prop in element.findall(path, NS)}


def condition(root: etree._Element, flow_id: str) -> str:
    return by_id(root, flow_id).findtext("bpmn:conditionExpression", namespaces=NS)


def problems_of(translation: Translation, element_id: str) -> list[tuple[int | None, str]]:
    return [(line, message) for line, found_id, message in translation.problems if found_id == element_id]


@pytest.fixture
def invoice() -> tuple[etree._Element, Translation]:
    root = parsed("invoice_approval.bpmn")
    return root, translate(root)


def test_invoice_translates_cleanly_and_leaves_no_camunda_markup(invoice):
    root, translation = invoice
    assert translation.translated
    assert translation.problems == []
    assert root.xpath("//camunda:* | //@camunda:*", namespaces=NS) == []


def test_invoice_properties_sit_on_their_elements_lines(invoice):
    root, _ = invoice
    source = parsed("invoice_approval.bpmn")
    assert properties(by_id(root, "start_invoice")) == {
        "initiatorVariable": "starter",
        "formJsonSchemaFilename": "camunda-invoice_approval-start_invoice.json",
    }
    assert properties(by_id(root, "review_invoice")) == {
        "role": "shift_leader",
        "formJsonSchemaFilename": "camunda-invoice_approval-review_invoice.json",
    }
    assert properties(by_id(root, "confirm_invoice")) == {"assigneeVariable": "starter"}
    for element_id in ("start_invoice", "review_invoice", "confirm_invoice"):
        element = by_id(root, element_id)
        assert element.sourceline == by_id(source, element_id).sourceline
        added = element.find("bpmn:extensionElements", NS)
        assert {node.sourceline for node in added.iter()} == {element.sourceline}
    review = by_id(root, "review_invoice")
    assert [etree.QName(child).localname for child in review][:2] == ["documentation", "extensionElements"]


def test_invoice_forms_are_json_schema_in_the_house_shape(invoice):
    _, translation = invoice
    assert translation.forms == {
        "camunda-invoice_approval-start_invoice.json": {
            "$schema": FORM_DIALECT,
            "title": "提交发票",
            "type": "object",
            "properties": {
                "amount": {"type": "integer", "title": "金额（元）", "minimum": 1},
                "description": {"type": "string", "title": "说明", "maxLength": 200},
                "urgent": {"type": "boolean", "title": "加急", "default": False},
            },
            "required": ["amount"],
            "additionalProperties": False,
        },
        "camunda-invoice_approval-review_invoice.json": {
            "$schema": FORM_DIALECT,
            "title": "值班长审批",
            "type": "object",
            "properties": {
                "decision": {
                    "type": "string",
                    "title": "审批意见",
                    "oneOf": [{"const": "approve", "title": "批准"}, {"const": "reject", "title": "驳回"}],
                }
            },
            "required": ["decision"],
            "additionalProperties": False,
        },
    }


def test_generated_forms_are_valid_schemas_that_check_submissions(invoice):
    _, translation = invoice
    forms = {**translation.forms, **translate(parsed("forms.bpmn"), form_files()).forms}
    for schema in forms.values():
        Draft202012Validator.check_schema(schema)
    start = Draft202012Validator(translation.forms["camunda-invoice_approval-start_invoice.json"])
    assert start.is_valid({"amount": 1500, "description": "办公用品", "urgent": True})
    assert not start.is_valid({"amount": 0})
    assert not start.is_valid({"description": "no amount"})
    assert not start.is_valid({"amount": 5, "payee": "someone"})


def test_invoice_conditions_become_python_over_task_data(invoice):
    root, _ = invoice
    assert condition(root, "flow_large") == "amount > 1000"
    assert condition(root, "flow_small") == "amount <= 1000"
    assert eval(condition(root, "flow_large"), {"__builtins__": {}}, {"amount": 1500}) is True
    assert eval(condition(root, "flow_small"), {"__builtins__": {}}, {"amount": 1500}) is False
    expression = by_id(root, "flow_large").find("bpmn:conditionExpression", NS)
    assert expression.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "bpmn:tFormalExpression"


@pytest.mark.parametrize(
    ("flow_id", "python", "data", "value"),
    [
        ("words", 'status == "open" and not urgent', {"status": "open", "urgent": False}, True),
        (
            "dotted",
            'order["amount"] >= 10 and not order["paid"]',
            {"order": {"amount": 12, "paid": False}},
            True,
        ),
        ("indexed", 'order["customer"]["name"] == "张三"', {"order": {"customer": {"name": "张三"}}}, True),
        ("emptiness", "not comment or owner == None", {"comment": "", "owner": "li"}, True),
        ("negated_group", "not (approved or escalated)", {"approved": False, "escalated": True}, False),
        ("negated_operand", "(not approved) == False", {"approved": True}, True),
        (
            "arithmetic",
            "price * (qty - returned) % 7 > 2.5 or -price < -100",
            {"price": 3, "qty": 5, "returned": 4},
            True,
        ),
        ("deferred", "approved == True", {"approved": True}, True),
        ("already_python", 'decision == "approve"', {"decision": "approve"}, True),
    ],
)
def test_juel_conditions_translate_with_their_meaning(flow_id, python, data, value):
    root = parsed("conditions.bpmn")
    translate(root)
    assert condition(root, flow_id) == python
    assert eval(python, {"__builtins__": {}}, data) is value


def test_a_file_whose_only_camunda_dialect_is_juel_is_translated():
    translation = translate(parsed("conditions.bpmn"))
    assert translation.translated
    assert translation.forms == {}


@pytest.mark.parametrize(
    ("flow_id", "reason"),
    [
        ("function_call", "it calls a function: fn"),
        ("instance_check", "it uses instanceof"),
        ("lambda", "it calls a method: stream"),
        ("variable_index", "it indexes with an expression"),
        ("engine_object", "it reads Camunda's execution object"),
        ("dunder", "strings naming '__' attributes or keys are not allowed"),
    ],
)
def test_untranslatable_conditions_are_refused_by_name_and_kept(flow_id, reason):
    root = parsed("conditions.bpmn")
    original = condition(root, flow_id)
    translation = translate(root)
    ((line, message),) = problems_of(translation, flow_id)
    assert line == by_id(root, flow_id).find("bpmn:conditionExpression", NS).sourceline
    assert message.startswith(f"condition '{original}' is a Camunda expression gridloop cannot translate (")
    assert reason in message
    assert message.endswith(" — write it as a Python expression over task data")
    assert condition(root, flow_id) == original


# Each refused element of refusals.bpmn: where its problem points (the element, or the camunda extension
# element inside it) and what the message names.
REFUSALS = [
    ("offer_people", None, "camunda:candidateUsers 'zhangsan,lisi' offers the task to named people"),
    ("notify_java", None, "camunda:class 'com.example.invoice.NotifyDelegate' calls Java"),
    (
        "archive_external",
        None,
        "camunda:type=\"external\" (topic 'archive') hands the task to an external worker",
    ),
    ("flow_method", "bpmn:conditionExpression", "(it calls a method: getVariable)"),
    ("flow_ternary", "bpmn:conditionExpression", "(it uses the ternary operator ?:)"),
    ("html_form", None, "camunda:formKey 'embedded:app:forms/approve.html' is an HTML form page"),
    ("odd_field", ".//camunda:formField", "camunda:formField 'colour' has type 'color'"),
    (
        "two_groups",
        None,
        "camunda:candidateGroups 'dispatcher,shift_leader' offers the task to several groups",
    ),
    (
        "unknown_group",
        None,
        "camunda:candidateGroups 'accounting' names no known role — use one of: grid_worker",
    ),
    ("dispatch_by_label", None, "camunda:assignee '${starter.toUpperCase()}' cannot be translated"),
    ("rate_invoice", None, "camunda:resultVariable 'rating' cannot be kept"),
    ("remind_due", ".//bpmn:timeDuration", "timer expression '${reminder}' is a Camunda expression"),
]


def test_every_refusal_points_at_its_element_and_names_the_camunda_markup():
    root = parsed("refusals.bpmn")
    translation = translate(root)
    assert translation.translated
    for element_id, inside, named in REFUSALS:
        element = by_id(root, element_id)
        line = element.sourceline if inside is None else element.find(inside, NS).sourceline
        naming = [at for at, message in problems_of(translation, element_id) if named in message]
        assert naming == [line], element_id
    assert all(" — " in message and "\n" not in message for _, _, message in translation.problems)
    listener = by_id(root, "with_listener")
    assert sorted(message.split()[0] for _, message in problems_of(translation, "with_listener")) == [
        "camunda:inputOutput",
        "camunda:property",
        "camunda:taskListener",
    ]
    assert {line for line, _ in problems_of(translation, "with_listener")} == {
        listener.find(".//camunda:taskListener", NS).sourceline,
        listener.find(".//camunda:inputOutput", NS).sourceline,
        listener.find(".//camunda:property[@name='colour']", NS).sourceline,
    }
    (out,) = problems_of(translation, "call_archive")
    assert out[1].startswith("camunda:out maps variables out of the called process")
    assert [line for line, _, _ in translation.problems] == sorted(
        line for line, _, _ in translation.problems
    )


def test_refused_markup_stays_and_the_rest_of_the_element_is_translated():
    root = parsed("refusals.bpmn")
    translate(root)
    assert by_id(root, "offer_people").get(f"{{{CAMUNDA_NS}}}candidateUsers") == "zhangsan,lisi"
    dispatch = by_id(root, "dispatch_by_label")
    assert properties(dispatch) == {"role": "dispatcher"}  # the role's Chinese label, 派遣员
    assert dispatch.get(f"{{{CAMUNDA_NS}}}assignee") == "${starter.toUpperCase()}"
    listener = by_id(root, "with_listener")
    assert properties(listener) == {"name.en": "Listener"}
    assert [p.get("name") for p in listener.iterfind(".//camunda:property", NS)] == ["colour"]
    rate = by_id(root, "rate_invoice")
    assert (
        rate.findtext("bpmn:extensionElements/spiffworkflow:calledDecisionId", namespaces=NS)
        == "invoice_rules"
    )
    assert rate.get(f"{{{CAMUNDA_NS}}}decisionRef") is None
    assert rate.get(f"{{{CAMUNDA_NS}}}mapDecisionResult") == "singleResult"  # it goes with resultVariable
    call = by_id(root, "call_archive")
    assert [etree.QName(child).localname for child in call.find("bpmn:extensionElements", NS)] == ["out"]
    assert call.get(f"{{{CAMUNDA_NS}}}calledElementBinding") is None
    assert by_id(root, "escalate_due").findtext(".//bpmn:timeDuration", namespaces=NS) == '"PT2H"'


def test_form_keys_convert_camunda_forms_and_name_json_schema_forms():
    root = parsed("forms.bpmn")
    translation = translate(root, form_files())
    review_form = {
        "$schema": FORM_DIALECT,
        "title": "复核",
        "type": "object",
        "properties": {
            "decision": {
                "type": "string",
                "title": "复核意见",
                "oneOf": [{"const": "pass", "title": "通过"}, {"const": "return", "title": "退回"}],
            },
            "note": {
                "type": "string",
                "title": "说明",
                "description": "退回时写明原因",
                "minLength": 2,
                "maxLength": 500,
                "x-gridloop-widget": "textarea",
            },
            "approved_amount": {"type": "integer", "title": "核定金额", "minimum": 0, "maximum": 100000},
            "pay_on": {"type": "string", "title": "付款日期", "format": "date"},
            "checked": {"type": "boolean", "title": "已核对原件", "default": False},
        },
        "required": ["decision"],
        "additionalProperties": False,
    }
    report_form = {
        "$schema": FORM_DIALECT,
        "title": "上报",
        "type": "object",
        "properties": {
            "case_no": {
                "type": "string",
                "title": "案卷号",
                "readOnly": True,
                "minLength": 3,
                "default": "待分配",
            },
            "seen_on": {"type": "string", "title": "发现日期", "format": "date", "default": "2025-01-31"},
            "count": {"type": "integer", "title": "数量", "maximum": 99, "default": 2},
            "channel": {
                "type": "string",
                "title": "渠道",
                "oneOf": [{"const": "grid", "title": "网格员"}, {"const": "hotline", "title": "热线"}],
                "default": "grid",
            },
        },
        "required": [],
        "additionalProperties": False,
    }
    assert translation.forms == {
        "camunda-form_keys-review.json": review_form,
        "camunda-form_keys-linked.json": {**review_form, "title": "关联表单"},
        "camunda-form_keys-report.json": report_form,
    }
    assert properties(by_id(root, "review")) == {"formJsonSchemaFilename": "camunda-form_keys-review.json"}
    assert properties(by_id(root, "linked")) == {"formJsonSchemaFilename": "camunda-form_keys-linked.json"}
    assert properties(by_id(root, "accept")) == {"formJsonSchemaFilename": "accept.json"}
    assert by_id(root, "linked").get(f"{{{CAMUNDA_NS}}}formRefBinding") is None


def test_form_keys_that_name_no_usable_form_are_refused():
    root = parsed("forms.bpmn")
    translation = translate(root, form_files())
    line = {
        element_id: by_id(root, element_id).sourceline
        for element_id in ("missing", "unsupported", "custom_key")
    }
    assert problems_of(translation, "missing") == [
        (
            line["missing"],
            "camunda:formKey 'camunda-forms:deployment:nowhere.form': form nowhere.form is not in the set — add it "
            "beside the BPMN file",
        )
    ]
    unsupported = [message for _, message in problems_of(translation, "unsupported")]
    assert [message.split(" of unsupported.form ")[1].split(",")[0] for message in unsupported] == [
        "has type 'taglist'",
        "has the validation 'validationType'",
        "uses conditional (computed when shown) — write fixed values and options",
    ]
    prefix = "camunda:formKey 'camunda-forms:app:forms/unsupported.form': component '"
    assert all(message.startswith(prefix) for message in unsupported)
    ((at, message),) = problems_of(translation, "custom_key")
    assert at == line["custom_key"]
    assert message.startswith("camunda:formKey 'invoice-approval' names no form file")
    assert properties(by_id(root, "unsupported")) == {}


@pytest.mark.parametrize(
    "path", sorted(REPO.glob("processes/**/*.bpmn")), ids=lambda path: path.relative_to(REPO).as_posix()
)
def test_spiff_dialect_files_come_back_byte_identical(path):
    root = etree.fromstring(path.read_bytes())
    before = etree.tostring(root)
    translation = translate(root, {path.name: path.read_text("utf-8")})
    assert translation == Translation(forms={}, problems=[], translated=False)
    assert etree.tostring(root) == before


def test_the_translated_invoice_parses_and_runs_with_spiffworkflow(invoice):
    root, _ = invoice
    VALIDATOR.validate(root, "invoice_approval.bpmn")
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(root, filename="x.bpmn")
    spec = parser.get_spec("invoice_approval")
    assert spec.task_specs["review_invoice"].extensions["properties"] == {
        "role": "shift_leader",
        "formJsonSchemaFilename": "camunda-invoice_approval-review_invoice.json",
    }
    assert spec.task_specs["confirm_invoice"].extensions["properties"] == {"assigneeVariable": "starter"}
    for amount, ready in ((1500, "review_invoice"), (1000, "confirm_invoice")):
        workflow = BpmnWorkflow(spec)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(amount=amount)
        workflow.do_engine_steps()
        assert [task.task_spec.bpmn_id for task in workflow.get_tasks(state=TaskState.READY)] == [ready]
