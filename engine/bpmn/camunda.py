"""Translate BPMN drawn in Camunda Modeler (the Camunda 7 dialect) into the SpiffArena dialect gridloop reads.

Designers bring diagrams from Camunda Modeler, which keeps what an engine needs in ``camunda:`` attributes and
extension elements and writes conditions in JUEL (``${amount > 1000}``). :func:`translate` rewrites a parsed
tree in place, so that everything after it only reads spiff properties and Python; new elements take the
``sourceline`` of the element they belong to, so later problems still point at the designer's lines. What has
no meaning in gridloop (Java delegates, listeners, variable mappings, tasks offered to named people) is refused
by name and left in place: a file with a refusal does not deploy, and its other checks still see the original.

Business rule tasks: SpiffWorkflow merges a decision's outputs into task data under their column names
(``DeepMerge.merge(task.data, dmn_engine.result(task))``), so there is no variable ``camunda:resultVariable``
could name; it is refused, and ``camunda:mapDecisionResult`` (which only shapes that variable) is dropped when
there is none. ``camunda:in``/``camunda:out`` with ``variables="all"`` on a call activity are dropped too: a
SpiffWorkflow call activity already hands the called process all task data and takes all of it back.
"""

import json
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from lxml import etree
from lxml.etree import _Element as Element

from engine.bpmn import juel
from engine.bpmn.scripting import script_problems
from engine.org.roles import ROLE_KEYS, ROLE_LABELS, role_for_lane

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
FORM_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# The spiff properties gridloop reads besides ``name.<language>``: a camunda:property of such a name carries over.
GRIDLOOP_PROPERTIES = frozenset(
    {"formJsonSchemaFilename", "formUiSchemaFilename", "scopeLevel", "decisionVariable"}
)
GRIDLOOP_PROPERTIES |= {"departmentVariable", "dueAtVariable", "scopeLevelVariable"}
# Settings of Camunda's job executor, history and modeler templates: nothing runs differently in gridloop.
HARMLESS = frozenset({"asyncBefore", "asyncAfter", "exclusive", "jobPriority", "taskPriority", "versionTag"})
HARMLESS |= {"historyTimeToLive", "isStartableInTasklist", "modelerTemplate", "modelerTemplateVersion"}
HARMLESS |= {"failedJobRetryTimeCycle"}
# gridloop deploys a file set as a whole, so a reference always means the element of the same set.
BINDINGS = frozenset({"calledElementBinding", "decisionRefBinding", "formRefBinding"})
JAVA = ("class", "delegateExpression", "expression", "type")
NO_JAVA = "make it a script task, a user task, or a business rule task calling a DMN table"
USER, FORMS = ("userTask",), ("userTask", "startEvent")
IN_SCRIPT = "which gridloop does not do — move the code into a script task"
EXTENSION_FIXES = {
    "inputOutput": "maps variables in and out of the element, which gridloop does not do — set them in a "
    "script task or the task's pre-/post-script instead",
    "executionListener": f"runs code when the element starts or ends, {IN_SCRIPT}",
    "taskListener": f"runs code when the task is created, assigned or completed, {IN_SCRIPT}",
    "connector": f"calls an HTTP or SOAP connector, and gridloop runs none — {NO_JAVA}",
    "field": f"injects a field into a Java delegate, and gridloop runs no Java — {NO_JAVA}",
    "in": "maps variables into the called process; gridloop hands it all task data — remove it and use the "
    "same variable names in both processes",
    "out": "maps variables out of the called process; gridloop takes all its data back — remove it and use "
    "the same variable names in both processes",
}
# camunda:formField types and Camunda Forms (form-js) components, by the JSON Schema type each becomes.
FIELD_TYPES = dict.fromkeys(("string", "date", "enum"), "string") | {"long": "integer", "boolean": "boolean"}
COMPONENTS = dict.fromkeys(("textfield", "textarea", "select", "radio", "datetime"), "string")
COMPONENTS |= {"number": "number", "checkbox": "boolean"}
STATIC_COMPONENTS = frozenset({"text", "button", "spacer", "separator"})  # they add nothing to task data
CONSTRAINTS = {"minlength": "minLength", "maxlength": "maxLength", "min": "minimum", "max": "maximum"}
VALIDATIONS = {"minLength": "minLength", "maxLength": "maxLength", "min": "minimum", "max": "maximum"}
VALIDATIONS["pattern"] = "pattern"

Problem = tuple[int | None, str | None, str]
# A form field: its variable, its JSON Schema, and whether it is required.
Field = tuple[str, dict[str, Any], bool]


@dataclass
class Translation:
    """What :func:`translate` made of one tree: the JSON Schema forms it generated (by file name), what it
    refused as (line, element id, message — fix), and whether the tree used the Camunda dialect at all."""

    forms: dict[str, dict] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    translated: bool = False


def translate(root: Element, files: dict[str, str] | None = None) -> Translation:
    """Rewrite ``root`` in place from the Camunda dialect into the spiff dialect and say what cannot be.

    ``files`` is the whole definition set (relative path → text), where ``camunda:formKey`` and
    ``camunda:formRef`` find the form files they name. A tree that neither declares nor uses the Camunda
    namespace comes back untouched, ``translated=False``; Camunda Modeler declares it even in a file whose only
    Camunda dialect is JUEL conditions, so those are translated too.
    """
    elements = list(root.iter(etree.Element))
    if not any(CAMUNDA_NS in el.nsmap.values() or _camunda_attributes(el) for el in elements):
        return Translation()
    translator = _Translator(files or {})
    for element in elements:
        if etree.QName(element).namespace != CAMUNDA_NS:
            translator.element(element)
    problems = sorted(translator.problems, key=lambda p: (p[0] is None, p[0] or 0))
    return Translation(translator.forms, problems, True)


class _Untranslatable(Exception):
    """Why an expression or a form field cannot be translated, said as the end of a problem's message."""


class _Kept(Exception):
    """The Camunda markup stays where it is: it is refused (and the problems are recorded)."""


class _Translator:
    """One run of :func:`translate`: the forms it builds and the problems it finds, element by element.

    A handler returns when it has translated its piece of Camunda markup, which is then removed, and raises
    :class:`_Kept` (``raise self.refuse(...)``) when it refuses it, which is then left in place.
    """

    def __init__(self, files: dict[str, str]):
        self.files = files
        self.forms: dict[str, dict] = {}
        self.problems: list[Problem] = []

    def refuse(self, element: Element, message: str) -> _Kept:
        self.problems.append((element.sourceline, _owner_id(element), message))
        return _Kept()

    def element(self, element: Element) -> None:
        """Translate one element: its camunda attributes and extension elements, and its text if it is JUEL."""
        tag = etree.QName(element).localname if etree.QName(element).namespace == BPMN_NS else ""
        if tag == "conditionExpression":
            self.condition(element)
        elif tag in ("timeDate", "timeDuration", "timeCycle"):
            self.timer(element)
        properties: dict[str, str] = {}
        camunda = {etree.QName(name).localname: value for name, value in _camunda_attributes(element)}
        java = next((name for name in JAVA if name in camunda), None)
        for name, value in camunda.items():
            if java is not None and name in (*JAVA, "topic", "resultVariable") and name != java:
                continue
            try:
                self.attribute(element, tag, name, value, camunda, properties)
            except _Kept:
                continue
            del element.attrib[f"{{{CAMUNDA_NS}}}{name}"]
        extensions = element.find(f"{{{BPMN_NS}}}extensionElements")
        for child in list(extensions.iterchildren(f"{{{CAMUNDA_NS}}}*")) if extensions is not None else []:
            try:
                self.extension(element, tag, child, properties)
            except _Kept:
                continue
            extensions.remove(child)
            if len(extensions) == 0:  # it held only what was translated
                element.remove(extensions)
        if properties:
            _write_properties(element, properties)

    def attribute(
        self, element: Element, tag: str, name: str, value: str, camunda: dict, properties: dict[str, str]
    ) -> None:
        """Translate one camunda attribute, or refuse it."""
        if name in HARMLESS or (name in BINDINGS and value in ("latest", "deployment")):
            return
        if name == "mapDecisionResult" and "resultVariable" in camunda:
            raise _Kept  # it shapes only the result variable, which is refused on its own
        if name == "mapDecisionResult":
            return
        if name in JAVA:
            raise self.refuse(element, _java_message(name, camunda))
        if name == "candidateGroups" and tag in USER:
            properties["role"] = self.role(element, value)
        elif name in ("assignee", "dueDate") and tag in USER:
            properties.update(self.assignee_or_due(element, name, value))
        elif name == "formKey" and tag in FORMS:
            self.form_key(element, value.strip(), properties)
        elif name == "formRef" and tag in FORMS:
            self.form_ref(element, value, properties)
        elif name == "initiator" and tag == "startEvent" and value.isidentifier():
            properties["initiatorVariable"] = value
        elif name == "decisionRef" and tag == "businessRuleTask" and _is_plain(value):
            _spiff_child(element, "calledDecisionId").text = value.strip()
        else:
            raise self.refuse(element, _attribute_message(name, value, tag))

    def role(self, element: Element, value: str) -> str:
        """The role key ``camunda:candidateGroups`` names: a task is offered to one role, by key or label."""
        groups = [group.strip() for group in value.split(",") if group.strip()]
        role = role_for_lane(groups[0]) if len(groups) == 1 else None
        what = f"camunda:candidateGroups '{value}'"
        if role is None and len(groups) > 1:
            fix = "draw one task per role, or put the task in the lane of its role"
            raise self.refuse(element, f"{what} offers the task to several groups, not to one role — {fix}")
        if role is None:
            choices = ", ".join(f"{key} ({ROLE_LABELS[key]})" for key in ROLE_KEYS)
            raise self.refuse(element, f"{what} names no known role — use one of: {choices}")
        return role

    def assignee_or_due(self, element: Element, name: str, value: str) -> dict[str, str]:
        """``${variable}`` → ``assigneeVariable`` / ``dueAtVariable``; a plain user name → ``assignee``."""
        variable = _JUEL_VARIABLE.fullmatch(value)
        if variable is not None:
            return {"assigneeVariable" if name == "assignee" else "dueAtVariable": variable.group(1)}
        if name == "assignee" and _is_plain(value):
            return {"assignee": value.strip()}
        fix = (
            "write a user name, or ${variable} naming the task-data variable that holds one"
            if name == "assignee"
            else "compute the due time into task data in a script task (with due_at(...)) and write ${variable}"
        )
        raise self.refuse(element, f"camunda:{name} '{value}' cannot be translated — {fix}")

    def form_key(self, element: Element, key: str, properties: dict[str, str]) -> None:
        name = posixpath.basename(key.rsplit(":", 1)[-1])  # camunda-forms:deployment:x.form, app:forms/x.html
        what = f"camunda:formKey '{key}'"
        text = next((text for path, text in self.files.items() if posixpath.basename(path) == name), None)
        fix = "use camunda:formData, a Camunda form (.form) or a JSON Schema form"
        if key.startswith(("embedded:", "app:")) or name.endswith((".html", ".htm")):
            raise self.refuse(
                element, f"{what} is an HTML form page, and gridloop draws JSON Schema forms — {fix}"
            )
        if not name.endswith((".form", ".json")):
            raise self.refuse(
                element, f"{what} names no form file, only a key for a custom task list — {fix}"
            )
        if text is None:
            raise self.refuse(element, f"{what}: form {name} is not in the set — add it beside the BPMN file")
        if name.endswith(".json"):
            properties["formJsonSchemaFilename"] = name
        else:
            self.form_js(element, what, name, text, properties)

    def form_ref(self, element: Element, value: str, properties: dict[str, str]) -> None:
        """``camunda:formRef`` names a Camunda form by the id inside its .form file."""
        what = f"camunda:formRef '{value}'"
        for path, text in self.files.items():
            if path.endswith(".form") and _json_object(text).get("id") == value:
                return self.form_js(element, what, posixpath.basename(path), text, properties)
        raise self.refuse(
            element, f"{what}: no .form file of the set has this id — add it beside the BPMN file"
        )

    def form_js(self, element: Element, what: str, name: str, text: str, properties: dict[str, str]) -> None:
        """Convert a Camunda Forms (form-js) file into a generated JSON Schema form."""
        components = _json_object(text).get("components")
        if not isinstance(components, list):
            raise self.refuse(element, f"{what}: {name} is no Camunda form (no components) — export it again")
        fields = [
            (element, f"{what}: component '{c.get('key') or c.get('id') or c.get('type')}' of {name}", c)
            for c in components
            if isinstance(c, dict) and c.get("type") not in STATIC_COMPONENTS
        ]
        self.add_form(element, fields, _component, properties)

    def form_data(self, element: Element, form_data: Element, properties: dict[str, str]) -> None:
        if "formJsonSchemaFilename" in properties:
            raise self.refuse(
                form_data, "camunda:formData is set beside a formKey or formRef — keep one of them"
            )
        fields = [
            (f, f"camunda:formField '{f.get('id') or ''}'", f) for f in form_data.iterchildren(etree.Element)
        ]
        self.add_form(element, fields, _form_field, properties)

    def add_form(
        self, element: Element, fields: list, convert: Callable[[Any], Field], properties: dict[str, str]
    ) -> None:
        """Convert each (where, label, source) of ``fields`` into the element's generated form, or refuse."""
        schemas: dict[str, dict] = {}
        required: list[str] = []
        kept = None
        for where, label, source in fields:
            try:
                key, schema, needed = convert(source)
            except _Untranslatable as err:
                kept = self.refuse(where, f"{label} {err}")
                continue
            schemas[key] = schema
            required += [key] if needed else []
        if kept is not None:
            raise kept
        process = next(element.iterancestors(f"{{{BPMN_NS}}}process"), None)
        name = f"camunda-{process.get('id') if process is not None else 'process'}-{element.get('id')}.json"
        self.forms[name] = {
            "$schema": FORM_DIALECT,
            "title": element.get("name") or element.get("id"),
            "type": "object",
            "properties": schemas,
            "required": required,
            "additionalProperties": False,
        }
        properties["formJsonSchemaFilename"] = name

    def extension(self, element: Element, tag: str, child: Element, properties: dict[str, str]) -> None:
        """Translate one camunda extension element, or refuse it."""
        name = etree.QName(child).localname
        all_data = (
            name in ("in", "out") and tag == "callActivity" and dict(child.attrib) == {"variables": "all"}
        )
        if name in HARMLESS or all_data:
            return
        if name == "formData" and tag in FORMS:
            return self.form_data(element, child, properties)
        if name == "properties":
            return self.camunda_properties(child, properties)
        fix = EXTENSION_FIXES.get(
            name, "is a Camunda extension gridloop does not read — remove it in the modeler"
        )
        raise self.refuse(child, f"camunda:{name} {fix}")

    def camunda_properties(self, holder: Element, properties: dict[str, str]) -> None:
        known = ", ".join(sorted(GRIDLOOP_PROPERTIES))
        kept = None
        for prop in list(holder.iterchildren(f"{{{CAMUNDA_NS}}}property")):
            name = prop.get("name") or ""
            if name in GRIDLOOP_PROPERTIES or name.startswith("name."):
                properties[name] = prop.get("value") or ""
                holder.remove(prop)
            else:
                message = (
                    f"camunda:property '{name}' is no property gridloop reads — remove it, or use one of: "
                )
                kept = self.refuse(prop, f"{message}{known}, name.<language>")
        if kept is not None:
            raise kept

    def condition(self, element: Element) -> None:
        """A JUEL condition becomes the Python expression SpiffWorkflow evaluates over task data."""
        text = element.text or ""
        found = _JUEL.fullmatch(text)
        if found is None or element.get("language"):
            return
        try:
            python = juel.to_python(found.group(1))
            refused = script_problems(python, "eval")
            if refused:
                raise _Untranslatable(f"as Python, {python}: {'; '.join(refused)}")
        except (_Untranslatable, juel.Untranslatable) as err:
            what = f"condition '{text.strip()}' is a Camunda expression gridloop cannot translate ({err})"
            self.refuse(element, f"{what} — write it as a Python expression over task data")
            return
        element.text = python

    def timer(self, element: Element) -> None:
        """Camunda takes ISO 8601 timers unquoted, SpiffWorkflow evaluates them as Python: quote them."""
        text = (element.text or "").strip()
        if _JUEL.fullmatch(text):
            what = f"timer expression '{text}' is a Camunda expression, which gridloop does not translate"
            self.refuse(
                element, f'{what} — write an ISO 8601 string in quotes ("PT2H") or the due_at(...) function'
            )
        elif _ISO_TIMER.fullmatch(text):
            element.text = json.dumps(text)


def _camunda_attributes(element: Element) -> list[tuple[str, str]]:
    return [(name, value) for name, value in element.attrib.items() if name.startswith(f"{{{CAMUNDA_NS}}}")]


def _owner_id(element: Element) -> str | None:
    """The id of the nearest BPMN element (itself or an ancestor): a camunda:formField's id is a variable."""
    for candidate in (element, *element.iterancestors()):
        if etree.QName(candidate).namespace != CAMUNDA_NS and candidate.get("id"):
            return candidate.get("id")
    return None


def _java_message(name: str, camunda: dict[str, str]) -> str:
    if name == "type" and camunda["type"] == "external":
        topic = camunda.get("topic", "")
        what = f"camunda:type=\"external\" (topic '{topic}') hands the task to an external worker"
        return f"{what}, and gridloop runs none — {NO_JAVA}"
    return f"camunda:{name} '{camunda[name]}' calls Java, and gridloop runs no Java — {NO_JAVA}"


def _attribute_message(name: str, value: str, tag: str) -> str:
    what = f"camunda:{name} '{value}'"
    if name == "candidateUsers":
        fix = "remove it and set camunda:candidateGroups to a role (or draw the task in the role's lane)"
        return f"{what} offers the task to named people, and gridloop offers a task to a role — {fix}"
    if name == "resultVariable" and tag == "businessRuleTask":
        fix = f"remove it and read each output by its name, not from {value}"
        return f"{what} cannot be kept: gridloop puts the decision's outputs into task data by column name — {fix}"
    if name == "resultVariable":
        return f"{what} keeps a script's value — assign the variable in the script instead"
    fix = "remove it in the modeler's properties panel and draw what it does in BPMN"
    return f"{what} changes how Camunda runs the {tag or 'element'}, and gridloop does not read it — {fix}"


def _is_plain(value: str) -> bool:
    """A fixed name (a user, a decision id), not an expression."""
    return bool(value.strip()) and not _JUEL.search(value)


def _json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _variable_key(key: Any) -> str:
    if not isinstance(key, str) or not key.isidentifier() or key.startswith("__"):
        raise _Untranslatable(f"has the key '{key or ''}', which is no variable name — use one like amount")
    return key


def _choose(what: str, value: Any, choices: Iterable[str]) -> _Untranslatable:
    return _Untranslatable(
        f"has {what} '{value}', which gridloop cannot translate — use {', '.join(choices)}"
    )


def _form_field(form_field: Element) -> Field:
    """One camunda:formField as a form field."""
    kind, local = form_field.get("type") or "", etree.QName(form_field).localname
    if local != "formField":
        raise _Untranslatable(f"is a camunda:{local}, which gridloop does not read — remove it")
    key = _variable_key(form_field.get("id"))
    if kind not in FIELD_TYPES:
        raise _choose("type", kind, FIELD_TYPES)
    schema: dict[str, Any] = {"type": FIELD_TYPES[kind], "title": form_field.get("label") or key}
    if kind == "date":
        schema["format"] = "date"
    choices = form_field.findall(f"{{{CAMUNDA_NS}}}value")
    if kind == "enum" and not choices:
        raise _Untranslatable("offers no camunda:value — add the choices")
    if kind == "enum":
        schema["oneOf"] = [{"const": v.get("id"), "title": v.get("name") or v.get("id")} for v in choices]
    required = False
    for child in form_field.iterchildren(etree.Element):
        if (local := etree.QName(child).localname) not in ("validation", "value"):
            raise _Untranslatable(f"holds camunda:{local}, which gridloop does not read — remove it")
    for constraint in form_field.iterfind(f"{{{CAMUNDA_NS}}}validation/{{{CAMUNDA_NS}}}constraint"):
        name, config = constraint.get("name") or "", (constraint.get("config") or "").strip()
        fits = kind == ("long" if name in ("min", "max") else "string") and re.fullmatch(r"-?\d+", config)
        if name == "required":
            required = True
        elif name == "readonly":
            schema["readOnly"] = True
        elif name in CONSTRAINTS and fits:
            schema[CONSTRAINTS[name]] = int(config)
        else:
            raise _Untranslatable(
                f"has the constraint '{name}' (config '{config}'), which gridloop cannot translate for a {kind} "
                "field — use required, readonly, minlength/maxlength (string), min/max (long), in whole numbers"
            )
    default = form_field.get("defaultValue")
    if default is not None:
        schema["default"] = _default(kind, default, [choice.get("id") for choice in choices])
    return key, schema, required


def _default(kind: str, text: str, choices: list[str | None]) -> Any:
    """A formField's defaultValue in its field's type (Camunda's date pattern is dd/MM/yyyy)."""
    value = text.strip()
    try:
        if kind == "long":
            return int(value)
        if kind == "boolean" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if kind == "date" and "-" in value:
            return date.fromisoformat(value).isoformat()
        if kind == "date":
            return datetime.strptime(value, "%d/%m/%Y").date().isoformat()
        if kind == "string" or (kind == "enum" and value in choices):
            return text
    except ValueError:
        pass
    raise _Untranslatable(f"has defaultValue '{text}', which is no {kind} — write one (a date as 2025-01-31)")


def _component(component: dict[str, Any]) -> Field:
    """One form-js component as a form field."""
    kind = component.get("type") or ""
    if kind not in COMPONENTS:
        raise _choose("type", kind, COMPONENTS)
    key = _variable_key(component.get("key"))
    dynamic = [name for name in component if name in ("conditional", "valuesKey", "valuesExpression")]
    dynamic += [name for name, value in component.items() if isinstance(value, str) and value.startswith("=")]
    if dynamic:
        raise _Untranslatable(f"uses {dynamic[0]} (computed when shown) — write fixed values and options")
    schema: dict[str, Any] = {"type": COMPONENTS[kind], "title": component.get("label") or key}
    if kind == "number" and component.get("decimalDigits") == 0:
        schema["type"] = "integer"
    if kind == "datetime":
        subtype = component.get("subtype", "date")
        if subtype not in ("date", "datetime"):
            raise _choose("subtype", subtype, ("date", "datetime"))
        schema["format"] = "date" if subtype == "date" else "date-time"
    if kind in ("select", "radio"):
        values = [v for v in component.get("values") or [] if isinstance(v, dict)]
        if not values:
            raise _Untranslatable("offers no values — add its static options")
        schema["oneOf"] = [
            {"const": v.get("value"), "title": v.get("label") or v.get("value")} for v in values
        ]
    if component.get("description"):
        schema["description"] = component["description"]
    if "defaultValue" in component:
        schema["default"] = component["defaultValue"]
    validate = {k: v for k, v in (component.get("validate") or {}).items() if v not in (None, "")}
    required = bool(validate.pop("required", False))
    for name, value in validate.items():
        if name not in VALIDATIONS:
            raise _choose("the validation", name, VALIDATIONS)
        schema[VALIDATIONS[name]] = value
    if component.get("readonly") or component.get("disabled"):
        schema["readOnly"] = True
    if kind == "textarea":
        schema["x-gridloop-widget"] = "textarea"
    return key, schema, required


def _spiff_child(element: Element, name: str) -> Element:
    """The element's ``spiffworkflow:<name>`` extension, made (with the element's line) if it has none."""
    extensions = element.find(f"{{{BPMN_NS}}}extensionElements")
    if extensions is None:  # BPMN puts extensionElements after documentation, before anything else
        extensions = etree.SubElement(element, f"{{{BPMN_NS}}}extensionElements")
        documentation = element.findall(f"{{{BPMN_NS}}}documentation")
        element.insert(element.index(documentation[-1]) + 1 if documentation else 0, extensions)
        extensions.sourceline = element.sourceline
    found = extensions.find(f"{{{SPIFF_NS}}}{name}")
    if found is None:
        nsmap = None if SPIFF_NS in extensions.nsmap.values() else {"spiffworkflow": SPIFF_NS}
        found = etree.SubElement(extensions, f"{{{SPIFF_NS}}}{name}", nsmap=nsmap)
        found.sourceline = element.sourceline
    return found


def _write_properties(element: Element, properties: dict[str, str]) -> None:
    holder = _spiff_child(element, "properties")
    existing = {prop.get("name"): prop for prop in holder.iterchildren(f"{{{SPIFF_NS}}}property")}
    for name, value in properties.items():
        prop = existing.get(name)
        if prop is None:
            prop = etree.SubElement(holder, f"{{{SPIFF_NS}}}property", name=name)
            prop.sourceline = element.sourceline
        prop.set("value", value)


# A bare variable (or dotted path) in JUEL: ``${starter}``, ``#{order.owner}``; any JUEL at all.
_JUEL_VARIABLE = re.compile(r"\s*[$#]\{\s*([^\W\d]\w*(?:\.[^\W\d]\w*)*)\s*\}\s*")
_JUEL = re.compile(r"\s*[$#]\{(.*)\}\s*", re.DOTALL)
# ISO 8601 as Camunda takes timers unquoted: a date(-time), a duration, a repetition (``R3/PT10H``).
_ISO_TIMER = re.compile(r"R\d*/\S+|P(?=[^/]*\d)[\dYMWDTHS.]+|\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-][\d:]+)?)?")
