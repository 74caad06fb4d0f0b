"""Load, validate and content-hash the process definitions: BPMN, DMN and form JSON Schemas.

The BPMN is the truth about the loop, so a deployment is only as good as the files it is built from.
This module takes one process model's files (:mod:`engine.bpmn.folders` reads them from disk: its BPMN, DMN
and forms, and its model file ``process_model.json``) as one set, checks them the way a designer needs (file, line, element id and the fix, all problems at once, not just the first),
and turns a clean set into an immutable :class:`ProcessBundle` whose ``content_hash`` pins running
instances to the exact files they started on.

Checks run on the XML itself before SpiffWorkflow parses anything, because SpiffWorkflow reports
structural mistakes one at a time and often without a line. Only a set that passes them is handed to
``SpiffBpmnParser`` (spiff extensions, so ``task_spec.extensions['properties']`` holds the form and
scope properties).
"""

import ast
import dataclasses
import hashlib
import json
import posixpath
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from lxml.etree import _Element as Element
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from engine.bpmn import camunda
from engine.bpmn.labels import SOURCE_LANGUAGE, Labels, description_labels, localize_form
from engine.bpmn.scripting import script_problems
from engine.org.roles import ROLE_KEYS, ROLE_LABELS, role_for_lane

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "bpmndi": BPMNDI_NS, "spiffworkflow": SPIFF_NS}

SCOPE_LEVELS: tuple[str, ...] = ("grid", "community", "town", "district")
# The model file of a process model's folder (as SpiffArena names it): its id, name, description, and whether
# grid reports start it; see MODEL_SCHEMA.
MODEL_FILE = "process_model.json"
MODEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string", "maxLength": 2000},
        "takes_reports": {"type": "boolean"},
        "start_roles": {"type": "array", "items": {"enum": list(ROLE_KEYS)}, "uniqueItems": True},
        "x-gridloop-i18n": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "description": {"type": "string"}},
                "additionalProperties": False,
            },
        },
    },
    "required": ["id", "name"],
    "additionalProperties": False,
}
# The process variable whose value is the event's state: the diagram's scripts set it (``outcome = "closed"``),
# and an event is in UNSET_OUTCOME until one does. The states a process can reach are read from those scripts.
OUTCOME_VARIABLE = "outcome"
UNSET_OUTCOME = "reported"
ROUTING_DECISION = "dispatch_routing"
CATEGORY_OUTPUTS: tuple[str, ...] = (
    "class_name",
    "category_name",
    "department_kind",
    "handling_level",
    "time_limit",
    "time_unit",
)

FLOW_NODE_TAGS = frozenset(
    {
        "task",
        "userTask",
        "manualTask",
        "scriptTask",
        "serviceTask",
        "sendTask",
        "receiveTask",
        "businessRuleTask",
        "callActivity",
        "subProcess",
        "transaction",
        "adHocSubProcess",
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "exclusiveGateway",
        "inclusiveGateway",
        "parallelGateway",
        "eventBasedGateway",
        "complexGateway",
    }
)
CONTAINER_TAGS = ("process", "subProcess", "transaction", "adHocSubProcess")

# Elements whose text is Python the script engine runs: statements (exec) or expressions (eval).
SCRIPT_ELEMENTS: tuple[tuple[str, str, str], ...] = (
    ("bpmn:script", "exec", "script"),
    ("spiffworkflow:preScript", "exec", "pre-script"),
    ("spiffworkflow:postScript", "exec", "post-script"),
    ("bpmn:conditionExpression", "eval", "condition"),
    ("bpmn:timeDate", "eval", "timer expression"),
    ("bpmn:timeDuration", "eval", "timer expression"),
    ("bpmn:timeCycle", "eval", "timer expression"),
    ("bpmn:loopCardinality", "eval", "loop cardinality"),
    ("bpmn:completionCondition", "eval", "completion condition"),
    ("bpmn:loopCondition", "eval", "loop condition"),
)


# A line break and the blanks around it, in a message: a problem is said on one line (a name drawn on two lines
# in the modeler holds one).
_LINE_BREAK = re.compile(r"\s*[\r\n]\s*")


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a definition file, located as precisely as the file allows.

    The message is kept on one line (line breaks in a quoted name become blanks), so that each problem is one
    ``file:line: element: message — fix`` line of ``gridloop validate``."""

    file: str
    line: int | None
    element_id: str | None
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", _LINE_BREAK.sub(" ", self.message.strip()))

    def __str__(self) -> str:
        line = self.line if self.line is not None else "-"
        return f"{self.file}:{line}: {self.element_id or '-'}: {self.message}"


class DefinitionError(Exception):
    """The definition files cannot be deployed; ``problems`` says every reason."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class UserTaskInfo:
    """What the inbox needs to know about a user task (or the start event's report form)."""

    bpmn_id: str
    name: str
    lane: str | None
    role: str | None
    form: str | None
    scope_level: str
    department_variable: str | None
    due_at_variable: str | None
    scope_level_variable: str | None = None
    labels: Labels = field(default_factory=dict)  # the name in other languages (engine.bpmn.labels)
    # an approval's boolean form field (the ``decisionVariable`` property): its completion decides a request,
    # and the notices tell whoever asked (engine.notices.derive)
    decision_variable: str | None = None
    # whom the task goes to straight away (``camunda:assignee``): a username, or the task-data variable holding
    # one; and, on a start event, the variable the starter's username is put in (``camunda:initiator``)
    assignee: str | None = None
    assignee_variable: str | None = None
    initiator_variable: str | None = None


@dataclass(frozen=True)
class Category:
    """One event sub-category from the routing table: who handles it, at which level, how fast."""

    code: str
    class_name: str
    name: str
    department_kind: str
    handling_level: str
    time_limit: float
    time_unit: str
    class_labels: Labels = field(default_factory=dict)  # class_name and name in other languages
    name_labels: Labels = field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    """What a process model's model file says: its id and name (and their labels in other languages), what
    it is for, whether grid reports start it (``takes_reports``: its start form then takes a report's
    fields), and the roles that may start it by default (the ``process_starters`` setting may say otherwise)."""

    id: str
    name: str
    description: str = ""
    takes_reports: bool = False
    start_roles: tuple[str, ...] = ()
    labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def named(self, language: str) -> tuple[str, str]:
        """The name and description in ``language`` (the model file's own where it gives no label)."""
        found = self.labels.get(language, {})
        return found.get("name") or self.name, found.get("description") or self.description


@dataclass
class ProcessBundle:
    """A validated, content-hashed set of definition files and the process spec built from them."""

    process_id: str
    content_hash: str
    files: dict[str, str]
    spec: BpmnProcessSpec
    subprocess_specs: dict
    forms: dict[str, dict]
    user_tasks: dict[str, UserTaskInfo]
    start_form: str | None
    categories: list[Category]
    outcomes: tuple[str, ...] = (UNSET_OUTCOME,)
    model: ModelInfo | None = None
    language: str = SOURCE_LANGUAGE
    _languages: dict[str, "ProcessBundle"] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def in_language(self, language: str) -> "ProcessBundle":
        """The bundle as staff of ``language`` read it: step names, category names and forms in that language
        where the files give a label (:mod:`engine.bpmn.labels`), the Chinese elsewhere. The same spec, files
        and hash: for pages only — commands validate against the source forms."""
        if language == self.language:
            return self
        found = self._languages.get(language)
        if found is None:
            found = dataclasses.replace(
                self,
                user_tasks={
                    key: dataclasses.replace(info, name=info.labels.get(language, info.name))
                    for key, info in self.user_tasks.items()
                },
                categories=[
                    dataclasses.replace(
                        c,
                        class_name=c.class_labels.get(language, c.class_name),
                        name=c.name_labels.get(language, c.name),
                    )
                    for c in self.categories
                ],
                forms={key: localize_form(schema, language) for key, schema in self.forms.items()},
                language=language,
            )
            self._languages[language] = found
        return found


def validate_files(files: dict[str, str]) -> list[Problem]:
    """Check a set of definition files (relative path -> text) and return every problem found.

    An empty list means the set can be built into bundles for each executable process in it.
    """
    return _check(files).problems


def deploy_problems(
    files: dict[str, str], process_id: str | None = None, report_fields: Iterable[str] = ()
) -> list[Problem]:
    """What :func:`build_deployable` refuses in ``files`` (empty when they deploy): the lint problems of
    :func:`validate_files`, then what would fail when the process runs."""
    try:
        build_deployable(files, process_id, report_fields)
    except DefinitionError as err:
        return err.problems
    return []


def defined_processes(files: dict[str, str]) -> set[str]:
    """The ids of the processes the BPMN files of ``files`` define (executable or not)."""
    found: set[str] = set()
    for name, text in files.items():
        if name.endswith(".bpmn"):
            try:
                root = etree.fromstring(text.encode("utf-8"), _XML_PARSER)
            except etree.XMLSyntaxError:
                continue
            found.update(p.get("id") for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id"))
    return found


def in_line_order(problems: list[Problem]) -> list[Problem]:
    """Problems by file, then line (those without a line last in their file), then in the order found."""
    return sorted(problems, key=lambda p: (p.file, p.line is None, p.line or 0))


def model_id_of(files: dict[str, str], folder_name: str, default: str) -> tuple[str, Problem | None]:
    """The id of the model whose files are ``files``: its model file's ``id``; else ``default`` (the folder's
    name) when a BPMN file defines an executable process of that id; else the one executable process no other
    of the set calls. A problem (on ``folder_name``) when none of these names it."""
    model_file = next((text for name, text in files.items() if posixpath.basename(name) == MODEL_FILE), None)
    if model_file is not None:
        try:
            found = json.loads(model_file).get("id")
        except (ValueError, AttributeError):
            found = None  # the check of the model file says what is wrong with it
        if isinstance(found, str) and found:
            return found, None
    defined, called = _executable_processes(files)
    if default in defined:
        return default, None
    top = [p for p in defined if p not in called]
    if len(top) == 1:
        return top[0], None
    return "", Problem(
        folder_name,
        None,
        None,
        f"the folder holds {len(top)} top-level processes ({', '.join(top) or 'none'}), so its model cannot be "
        f"named — add a {MODEL_FILE} whose id names the process that starts, or put each in its own folder",
    )


def _executable_processes(files: dict[str, str]) -> tuple[list[str], set[str]]:
    """The executable processes the BPMN files define, in file order, and those a call activity calls."""
    defined: list[str] = []
    called: set[str] = set()
    for name in sorted(files):
        if not name.endswith(".bpmn"):
            continue
        try:
            root = etree.fromstring(files[name].encode("utf-8"), _XML_PARSER)
        except etree.XMLSyntaxError:
            continue
        defined += [
            p.get("id")
            for p in root.iter(f"{{{BPMN_NS}}}process")
            if p.get("id") and p.get("isExecutable", "true") == "true"
        ]
        called.update(c.get("calledElement") for c in root.iter(f"{{{BPMN_NS}}}callActivity"))
    return defined, called


# Bundles built from stored files, by the files' content hash and the process id: a bundle is a pure function of
# its files and is never changed once built, so every engine in a process (the web app's, the scheduler's, a
# CLI command's, a test's) shares one parse of a version instead of each parsing it again (≈0.4 s a version).
_BUILT: OrderedDict[tuple[str, str | None], ProcessBundle] = OrderedDict()
_BUILT_KEPT = 32
_BUILT_LOCK = threading.Lock()


def build_bundle(files: dict[str, str], process_id: str | None = None) -> ProcessBundle:
    """Validate ``files`` and build the bundle for ``process_id`` (None: the model's, :func:`model_id_of`);
    raise DefinitionError with every problem. A set built before in this process answers its bundle."""
    key = (content_hash(files), process_id)
    with _BUILT_LOCK:
        bundle = _BUILT.get(key)
        if bundle is not None:
            _BUILT.move_to_end(key)
            return bundle
    bundle = _built(files, process_id)[0]
    with _BUILT_LOCK:
        _BUILT[key] = bundle
        while len(_BUILT) > _BUILT_KEPT:
            _BUILT.popitem(last=False)
    return bundle


def _built(files: dict[str, str], process_id: str | None) -> tuple[ProcessBundle, "_Checked"]:
    """:func:`build_bundle`, and the checked files it was built from."""
    checked = _check(files)
    if checked.problems:
        raise DefinitionError(checked.problems)
    if process_id is None:
        process_id, problem = model_id_of(files, _first_bpmn(checked.trees), "")
        if problem is not None:
            raise DefinitionError([problem])
    parser = checked.parser
    assert parser is not None  # no problems: the files parsed
    if process_id not in parser.get_process_ids():
        bpmn_files = [name for name in files if name.endswith(".bpmn")]
        raise DefinitionError(
            [
                Problem(
                    bpmn_files[0] if bpmn_files else "processes/",
                    None,
                    process_id,
                    f"no executable process '{process_id}' is defined "
                    f"(found: {', '.join(parser.get_process_ids()) or 'none'}) — "
                    "set the process id in the modeler or deploy another process",
                )
            ]
        )
    spec = parser.get_spec(process_id)
    subprocess_specs = parser.get_subprocess_specs(process_id)
    user_tasks = _user_tasks([spec, *(s for s in subprocess_specs.values() if s is not None)])
    start_form = next(
        (
            info.form
            for info in user_tasks.values()
            if isinstance(spec.task_specs.get(info.bpmn_id), StartEvent) and info.form
        ),
        None,
    )
    categories, category_problems = _categories(parser, checked.trees)
    if category_problems:
        raise DefinitionError(category_problems)
    specs = [spec, *(s for s in subprocess_specs.values() if s is not None)]
    bundle = ProcessBundle(
        process_id=process_id,
        content_hash=content_hash(files),
        files=dict(files),
        spec=spec,
        subprocess_specs=subprocess_specs,
        forms={posixpath.basename(name): schema for name, schema in checked.forms.items()},
        user_tasks=user_tasks,
        start_form=start_form,
        categories=categories,
        outcomes=_outcomes(specs),
        model=checked.model if checked.model is not None and checked.model.id == process_id else None,
    )
    if bundle.model is None:
        bundle.model = ModelInfo(process_id, spec.description or process_id)
    return bundle, checked


def build_deployable(
    files: dict[str, str], process_id: str | None = None, report_fields: Iterable[str] = ()
) -> ProcessBundle:
    """:func:`build_bundle`, refusing also what only fails once the process runs or is drawn: a BPMN file without
    its diagram (BPMNDI: the workbench, bpmn.io and Camunda Modeler could not show it), a process that starts
    without a form, and — for a model that takes grid reports — a start form without the fields
    ``report_fields`` a report fills in (its category, description and channel). Raise DefinitionError with
    every problem."""
    bundle, checked = _built(files, process_id)
    process_id = bundle.process_id
    start_fields = tuple(report_fields) if bundle.model is not None and bundle.model.takes_reports else ()
    problems = [
        Problem(
            name,
            root.sourceline,
            root.get("id"),
            "the file has no diagram (BPMNDI), so the workbench, bpmn.io and Camunda Modeler cannot show it "
            "— open it in a modeler, lay it out and save it",
        )
        for name, root in checked.trees.items()
        if name.endswith(".bpmn") and root.find("bpmndi:BPMNDiagram", NS) is None
    ]
    if bundle.start_form is None:
        file_name, start = _start_event(checked.trees, process_id)
        problems.append(
            Problem(
                file_name,
                start.sourceline if start is not None else None,
                start.get("id") if start is not None else process_id,
                f"process '{process_id}' starts without a form, so nothing can be filled in to start it — set "
                "the start event's formJsonSchemaFilename property to a form in forms/ (e.g. report.json)",
            )
        )
    else:
        form = bundle.forms[bundle.start_form]
        missing = [name for name in start_fields if name not in (form.get("properties") or {})]
        if missing:
            form_file = next(
                (name for name in checked.forms if posixpath.basename(name) == bundle.start_form),
                bundle.start_form,
            )
            problems.append(
                Problem(
                    form_file,
                    None,
                    "properties",
                    f"the start form of process '{process_id}' lacks the field(s) {', '.join(missing)}, which "
                    f'starting it fills in — add them under "properties"',
                )
            )
    if problems:
        raise DefinitionError(in_line_order(problems))
    return bundle


def _start_event(trees: dict[str, Any], process_id: str) -> tuple[str, Element | None]:
    """The file defining ``process_id`` and its (first) start event."""
    for name, root in trees.items():
        for process in root.findall("bpmn:process", NS):
            if process.get("id") == process_id:
                return name, process.find("bpmn:startEvent", NS)
    return _first_bpmn(trees), None


def content_hash(files: dict[str, str]) -> str:
    """sha256 over the sorted (path, text) pairs: the identity of a deployment.

    JSON-encoding the pairs keeps the boundary between path and text unambiguous.
    """
    payload = json.dumps(sorted(files.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class _Checked:
    """Result of checking a file set: the problems, the parsed documents and, if clean, the parser."""

    problems: list[Problem] = field(default_factory=list)
    trees: dict[str, Any] = field(default_factory=dict)
    forms: dict[str, Any] = field(default_factory=dict)
    parser: SpiffBpmnParser | None = None
    model: ModelInfo | None = None
    camunda: set[str] = field(default_factory=set)  # the BPMN files read in the Camunda dialect


def _check(files: dict[str, str]) -> _Checked:
    """Run every check over ``files``; build the SpiffWorkflow parser only if nothing failed. The problems come
    in line order within each file."""
    checked = _Checked()
    verdicts: set[str] = set()
    for name in sorted(files):
        text = files[name]
        if name.endswith((".bpmn", ".dmn")):
            root = _parse_xml(name, text, checked.problems)
            if root is None:
                continue
            checked.trees[name] = root
            if name.endswith(".bpmn"):
                _translate_camunda(name, root, files, checked)
            verdict = _not_executable(name, root) if name.endswith(".bpmn") else None
            if verdict is not None:  # nothing runs it: its other problems are beside the point
                checked.problems.append(verdict)
                verdicts.add(name)
            else:
                checked.problems.extend(_schema_problems(name, root))
        elif posixpath.basename(name) == MODEL_FILE:
            checked.model = _parse_model(name, text, checked.problems)
        elif name.endswith(".json"):
            schema = _parse_form(name, text, checked.problems)
            if schema is not None:
                checked.forms[name] = schema
    decisions: dict[str, str] = {}
    for name, root in checked.trees.items():
        for decision in _first_decision_ids(root) if name.endswith(".dmn") else []:
            if decision in decisions:
                checked.problems.append(
                    Problem(
                        name,
                        root.sourceline,
                        decision,
                        f"decision '{decision}' is also defined in {decisions[decision]} — "
                        "give one of them another id",
                    )
                )
            decisions[decision] = name
    processes = sorted(
        p.get("id")
        for n, r in checked.trees.items()
        if n.endswith(".bpmn")
        for p in r.findall("bpmn:process", NS)
    )
    for name, root in checked.trees.items():
        if name.endswith(".bpmn") and name not in verdicts:
            known = set(files) | set(checked.forms)  # with the forms a Camunda file's fields became
            checked.problems.extend(_bpmn_problems(name, root, known, decisions, name in checked.camunda))
            checked.problems.extend(_call_problems(name, root, processes))
    if checked.model is not None and checked.model.id not in _executable_processes(files)[0] and not verdicts:
        model_file = next(name for name in files if posixpath.basename(name) == MODEL_FILE)
        checked.problems.append(
            Problem(
                model_file,
                None,
                "id",
                f"the model's id '{checked.model.id}' names no executable process of its BPMN files (defined: "
                f"{', '.join(processes) or 'none'}) — make the id that of the process that starts",
            )
        )
    if not checked.problems:
        checked.parser = _build_parser(checked)
    checked.problems = in_line_order(checked.problems)
    return checked


def _translate_camunda(name: str, root: Element, files: dict[str, str], checked: "_Checked") -> None:
    """Read a file drawn in Camunda Modeler as the spiff dialect (:mod:`engine.bpmn.camunda`, in place): its
    generated forms join the set beside it, and what cannot be translated is a problem at its own line."""
    translation = camunda.translate(root, files)
    if not translation.translated:
        return
    checked.camunda.add(name)
    folder = posixpath.dirname(name)
    for form_name, schema in translation.forms.items():
        checked.forms[posixpath.join(folder, form_name)] = schema
    checked.problems += [
        Problem(name, line, element, message) for line, element, message in translation.problems
    ]


def _not_executable(name: str, root: Element) -> Problem | None:
    """The one verdict on a BPMN file none of whose processes is executable (``isExecutable="false"``): no
    engine runs it, so listing its other problems would only bury the reason."""
    processes = root.findall("bpmn:process", NS)
    if not processes or any(process.get("isExecutable", "true") == "true" for process in processes):
        return None
    ids = ", ".join(f"'{process.get('id')}'" for process in processes)
    return Problem(
        name,
        processes[0].sourceline,
        processes[0].get("id"),
        f'not executable: process {ids} is marked isExecutable="false", so no engine runs it — set '
        'isExecutable="true" (the modeler\'s "Executable" checkbox)',
    )


# Definition files may be uploaded through the web UI: never expand entities or fetch anything.
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def _parse_xml(name: str, text: str, problems: list[Problem]) -> Element | None:
    try:
        return etree.fromstring(text.encode("utf-8"), _XML_PARSER)
    except etree.XMLSyntaxError as err:
        problems.append(
            Problem(
                name,
                err.lineno,
                None,
                f"malformed XML: {err.msg} — fix the file or re-export it from the modeler",
            )
        )
        return None


_MODEL_VALIDATOR = Draft202012Validator(MODEL_SCHEMA)


def _parse_model(name: str, text: str, problems: list[Problem]) -> ModelInfo | None:
    """The model file of a process model's folder (:data:`MODEL_SCHEMA`), or None with its problems."""
    try:
        data = json.loads(text)
    except ValueError as err:
        problems.append(
            Problem(name, getattr(err, "lineno", None), None, f"malformed JSON: {err} — fix the model file")
        )
        return None
    errors = sorted(_MODEL_VALIDATOR.iter_errors(data), key=lambda e: list(e.absolute_path))
    for error in errors:
        where = ".".join(str(part) for part in error.absolute_path) or None
        problems.append(
            Problem(
                name,
                None,
                where,
                f"{_short_names(error.message)} — see the model file's fields in the README (For designers)",
            )
        )
    if errors:
        return None
    return ModelInfo(
        id=data["id"],
        name=data["name"],
        description=data.get("description", ""),
        takes_reports=bool(data.get("takes_reports", False)),
        start_roles=tuple(data.get("start_roles", ())),
        labels={lang: dict(found) for lang, found in data.get("x-gridloop-i18n", {}).items()},
    )


def _parse_form(name: str, text: str, problems: list[Problem]) -> Any:
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as err:
        problems.append(
            Problem(name, err.lineno, None, f"form is not valid JSON: {err.msg} (column {err.colno})")
        )
        return None
    if not isinstance(schema, dict):
        problems.append(Problem(name, 1, None, "form must be a JSON object holding a JSON Schema"))
        return None
    dynamic = sorted(set(_dynamic_options(schema)))
    if dynamic:
        variable = dynamic[0].split(":", 1)[1]
        problems.append(
            Problem(
                name,
                None,
                None,
                f"form takes its choices from task data the SpiffArena way ({', '.join(dynamic)}), which gridloop "
                f"does not read — list the choices in a oneOf, or narrow them to the case's data with "
                f'"x-gridloop-case-options": "{variable}"',
            )
        )
        return None
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as err:
        problems.append(
            Problem(
                name,
                None,
                err.json_path,
                f"form is not a valid JSON Schema (draft 2020-12): {_json_message(err)} — correct the keyword "
                f"at {err.json_path}",
            )
        )
        return None
    try:  # submissions are checked by jsonschema-rs too (engine/forms.py): it must take the schema as well
        jsonschema_rs.Draft202012Validator(schema)
    except ValueError as err:
        problems.append(
            Problem(
                name,
                None,
                None,
                "form cannot be compiled for checking submissions: "
                f"{str(err).splitlines()[0]} (patterns follow ECMA-262, as JSON Schema says)",
            )
        )
        return None
    return schema


_DYNAMIC_OPTIONS = "options_from_task_data_var:"


def _dynamic_options(value: Any) -> Iterable[str]:
    """SpiffArena's choices from task data (``"options_from_task_data_var:fruits"``) anywhere in a form."""
    if isinstance(value, str) and value.startswith(_DYNAMIC_OPTIONS):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _dynamic_options(item)
    elif isinstance(value, list):
        for item in value:
            yield from _dynamic_options(item)


def ui_schema_warnings(files: dict[str, str]) -> list[Problem]:
    """The UI schemas the BPMN files of ``files`` name (``formUiSchemaFilename``, as SpiffArena's react-jsonschema-form
    reads them): warnings, since gridloop draws a form from its JSON Schema alone and ignores them."""
    found = []
    for name, text in sorted(files.items()):
        if not name.endswith(".bpmn"):
            continue
        try:
            root = etree.fromstring(text.encode("utf-8"), _XML_PARSER)
        except etree.XMLSyntaxError:
            continue
        for prop in root.iter(f"{{{SPIFF_NS}}}property"):
            if prop.get("name") == "formUiSchemaFilename":
                owner = next((a for a in prop.iterancestors() if a.get("id")), None)
                found.append(
                    Problem(
                        name,
                        prop.sourceline,
                        owner.get("id") if owner is not None else None,
                        f"the UI schema '{prop.get('value')}' is ignored: gridloop draws a form from its JSON Schema "
                        "alone (order as in properties, widgets with x-gridloop-widget, help in description) — "
                        "move what it says into the form, or remove formUiSchemaFilename",
                    )
                )
    return found


def _json_message(err: SchemaError) -> str:
    """jsonschema's message with the values it names written as JSON, the form's own notation (it writes them
    as Python reprs: ``['a', 'b'] is not valid …``, ``'x' is not of type 'array'``)."""
    message = err.message
    for value in (err.instance, err.validator_value):
        if isinstance(value, str | int | float | list | dict) and not isinstance(value, bool):
            message = message.replace(repr(value), json.dumps(value, ensure_ascii=False))
    return message


_DMN_VALIDATORS: dict[str, BpmnValidator] = {}


def _schema_problems(name: str, root: Element) -> list[Problem]:
    """Every XSD violation of a BPMN (with spiff extensions) or DMN document, not just the last."""
    if name.endswith(".dmn"):
        namespace = etree.QName(root).namespace
        if namespace not in DMN_SCHEMAS:
            return [
                Problem(
                    name,
                    root.sourceline,
                    root.get("id"),
                    f"unsupported DMN namespace '{namespace}' — save the table as DMN 1.1, 1.2 or 1.3",
                )
            ]
        validator = _DMN_VALIDATORS.get(namespace)
        if validator is None:
            validator = _DMN_VALIDATORS[namespace] = BpmnValidator(DMN_SCHEMAS[namespace])
        kind = "DMN"
    else:
        validator = VALIDATOR
        kind = "BPMN 2.0"
    validator.preprocess(root)
    schema = validator.validator
    if schema.validate(root):
        return []
    ids_by_line: dict[int, str] = {}
    for element in root.iter():
        if isinstance(element.tag, str) and element.get("id"):
            ids_by_line.setdefault(element.sourceline, element.get("id"))
    return [
        Problem(
            name,
            error.line,
            ids_by_line.get(error.line),
            f"does not match the {kind} schema: {_short_names(error.message)} — fix it in the modeler",
        )
        for error in schema.error_log
    ]


def _short_names(message: str) -> str:
    """Replace ``{namespace}`` prefixes in lxml messages by the usual prefixes."""
    message = message.replace("{" + BPMN_NS + "}", "bpmn:").replace("{" + SPIFF_NS + "}", "spiffworkflow:")
    for namespace in DMN_SCHEMAS:
        message = message.replace("{" + namespace + "}", "dmn:")
    return message


def _first_decision_ids(root: Element) -> list[str]:
    """The decision SpiffWorkflow loads from a DMN document: it only reads the first one."""
    decisions = [
        child for child in root if isinstance(child.tag, str) and etree.QName(child).localname == "decision"
    ]
    return [decisions[0].get("id")] if decisions and decisions[0].get("id") else []


def _local(element: Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _owner_id(element: Element) -> str | None:
    """The id of the element itself or of the nearest ancestor that has one."""
    while element is not None:
        if element.get("id"):
            return element.get("id")
        element = element.getparent()
    return None


def _bpmn_problems(
    name: str, root: Element, file_names: set[str], decisions: dict[str, str], translated: bool = False
) -> list[Problem]:
    problems: list[Problem] = []
    problems += _flow_problems(name, root)
    problems += _lane_problems(name, root)
    problems += _property_problems(name, root, file_names)
    problems += _script_element_problems(name, root, translated)
    problems += _outcome_problems(name, root)
    problems += _decision_problems(name, root, decisions)
    return problems


def _flow_problems(name: str, root: Element) -> list[Problem]:
    """Dangling sequence flows and flow nodes that cannot be reached or cannot be left."""
    problems = []
    containers = [el for tag in CONTAINER_TAGS for el in root.iter(f"{{{BPMN_NS}}}{tag}")]
    for container in containers:
        children = [child for child in container if isinstance(child.tag, str)]
        ids = {child.get("id") for child in children if child.get("id")}
        flows = [child for child in children if _local(child) == "sequenceFlow"]
        container_label = f"{_local(container)} '{container.get('id')}'"
        for flow in flows:
            for end in ("sourceRef", "targetRef"):
                ref = flow.get(end)
                if ref not in ids:
                    problems.append(
                        Problem(
                            name,
                            flow.sourceline,
                            flow.get("id"),
                            f"sequence flow's {end} '{ref}' is no element of {container_label} — "
                            "connect the flow to an existing element or delete it",
                        )
                    )
        if _local(container) == "adHocSubProcess":
            continue
        targets = {flow.get("targetRef") for flow in flows}
        sources = {flow.get("sourceRef") for flow in flows}
        for node in children:
            tag = _local(node)
            if tag not in FLOW_NODE_TAGS:
                continue
            label = f"{tag} '{node.get('name') or node.get('id')}'"
            if node.get("id") not in targets and not _may_lack_incoming(node, tag):
                problems.append(
                    Problem(
                        name,
                        node.sourceline,
                        node.get("id"),
                        f"{label} has no incoming sequence flow, so it can never run — connect a flow into it",
                    )
                )
            if node.get("id") not in sources and not _may_lack_outgoing(node, tag):
                problems.append(
                    Problem(
                        name,
                        node.sourceline,
                        node.get("id"),
                        f"{label} has no outgoing sequence flow, so the process stops there — "
                        "connect it onward or to an end event",
                    )
                )
    return problems


def _event_kinds(node: Element) -> set[str]:
    return {_local(child) for child in node if _local(child).endswith("EventDefinition")}


def _exempt_from_flows(node: Element, tag: str) -> bool:
    return node.get("isForCompensation") == "true" or (
        tag == "subProcess" and node.get("triggeredByEvent") == "true"
    )


def _may_lack_incoming(node: Element, tag: str) -> bool:
    if tag in ("startEvent", "boundaryEvent") or _exempt_from_flows(node, tag):
        return True
    return tag == "intermediateCatchEvent" and "linkEventDefinition" in _event_kinds(node)


def _may_lack_outgoing(node: Element, tag: str) -> bool:
    if tag == "endEvent" or _exempt_from_flows(node, tag):
        return True
    if tag == "intermediateThrowEvent" and "linkEventDefinition" in _event_kinds(node):
        return True
    return tag == "boundaryEvent" and "compensateEventDefinition" in _event_kinds(node)


def _role_choices() -> str:
    return ", ".join(f"{ROLE_LABELS[key]} ({key})" for key in ROLE_KEYS)


def _lane_problems(name: str, root: Element) -> list[Problem]:
    """Lanes must name roles, and every user task must sit in a lane (directly or via its subprocess)."""
    problems = []
    lane_of: dict[str, str | None] = {}
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            if ref.text is not None:
                lane_of[ref.text] = lane.get("name")
        if lane.find("bpmn:childLaneSet", NS) is None and role_for_lane(lane.get("name")) is None:
            problems.append(
                Problem(
                    name,
                    lane.sourceline,
                    lane.get("id"),
                    f"lane '{lane.get('name') or ''}' names no known role — rename it to one of: {_role_choices()}",
                )
            )
    for task in root.iter(f"{{{BPMN_NS}}}userTask"):
        if {"role", "assignee", "assigneeVariable"} & set(_properties(task)):
            continue  # offered to the role it names, or given to its assignee (camunda:candidateGroups, assignee)
        if not any(ancestor.get("id") in lane_of for ancestor in (task, *task.iterancestors())):
            problems.append(
                Problem(
                    name,
                    task.sourceline,
                    task.get("id"),
                    f"user task '{task.get('name') or task.get('id')}' is in no lane, so no role is offered it — "
                    "move it into the lane of the role that does it (or name the role: camunda:candidateGroups)",
                )
            )
    return problems


def _properties(node: Element) -> dict[str, Any]:
    """The spiffworkflow:property elements of a node, by name."""
    return {
        prop.get("name"): prop
        for prop in node.findall("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)
    }


def _form_candidates(bpmn_name: str, form: str) -> list[str]:
    """Where a form referenced from ``bpmn_name`` may live: beside the BPMN file, or in the shared ``forms/``
    beside its folder (``processes/x.bpmn``) or beside ``processes/`` (``processes/<model>/x.bpmn``)."""
    folder = posixpath.dirname(bpmn_name)
    return [
        posixpath.normpath(posixpath.join(folder, form)),
        posixpath.normpath(posixpath.join(folder, "..", "forms", form)),
        posixpath.normpath(posixpath.join(folder, "..", "..", "forms", form)),
    ]


def _property_problems(name: str, root: Element, file_names: set[str]) -> list[Problem]:
    """Form references, scope levels and variable names on user tasks and start events."""
    known = {posixpath.normpath(file_name) for file_name in file_names}
    problems = []
    nodes = [*root.iter(f"{{{BPMN_NS}}}userTask"), *root.iter(f"{{{BPMN_NS}}}startEvent")]
    for node in nodes:
        node_id = node.get("id")
        for key, prop in _properties(node).items():
            value = prop.get("value") or ""
            if key in ("formJsonSchemaFilename", "formUiSchemaFilename"):
                if not any(candidate in known for candidate in _form_candidates(name, value)):
                    problems.append(
                        Problem(
                            name,
                            prop.sourceline,
                            node_id,
                            f"form '{value}' is not in forms/ — add forms/{value} or fix {key}",
                        )
                    )
            elif key == "role" and value not in ROLE_KEYS:
                problems.append(
                    Problem(
                        name,
                        prop.sourceline,
                        node_id,
                        f"role '{value}' is not a role key — use one of: {_role_choices()}",
                    )
                )
            elif key == "scopeLevel" and value not in SCOPE_LEVELS:
                problems.append(
                    Problem(
                        name,
                        prop.sourceline,
                        node_id,
                        f"scopeLevel '{value}' is not one of {', '.join(SCOPE_LEVELS)} — use one of them",
                    )
                )
            elif key in (
                "departmentVariable",
                "dueAtVariable",
                "scopeLevelVariable",
                "decisionVariable",
                "assigneeVariable",
                "initiatorVariable",
            ) and not _is_variable_path(value):
                problems.append(
                    Problem(
                        name,
                        prop.sourceline,
                        node_id,
                        f"{key} '{value}' is not a task-data variable — use a name like 'department' or a path like 'assignment.department'",
                    )
                )
    return problems


def _is_variable_path(value: str) -> bool:
    """A task-data variable name, or a dotted path into dictionaries (``assignment.department``)."""
    return all(part.isidentifier() and not part.startswith("__") for part in value.split("."))


def _script_element_problems(name: str, root: Element, translated: bool = False) -> list[Problem]:
    """Scripts and expressions the restricted script engine would refuse at run time (in a file read in the
    Camunda dialect, a JUEL expression left is one the translation refused already, by name)."""
    problems = [
        Problem(
            name,
            task.sourceline,
            task.get("id"),
            "script task has no script — write one, or make it a plain task if it only marks a step",
        )
        for task in root.iter(f"{{{BPMN_NS}}}scriptTask")
        if not (task.findtext("bpmn:script", namespaces=NS) or "").strip()
    ]
    for path, mode, kind in SCRIPT_ELEMENTS:
        prefix, tag = path.split(":")
        for element in root.iter(f"{{{NS[prefix]}}}{tag}"):
            if not (element.text or "").strip():
                continue
            dialect = _other_dialect(element.text, kind)
            if dialect is not None:
                if not translated:
                    problems.append(Problem(name, element.sourceline, _owner_id(element), dialect))
                continue
            found = script_problems(element.text, mode)
            if found:
                problems.append(
                    Problem(
                        name,
                        element.sourceline,
                        _owner_id(element),
                        f"{kind}: {'; '.join(found)} — scripts may only use task data, basic builtins "
                        "and the functions the engine provides",
                    )
                )
    return problems


# A Camunda / Activiti / Flowable expression (JUEL): ``${amount > 100}``, ``#{approved}``.
_JUEL = re.compile(r"\s*[$#]\{(.*)\}\s*", re.DOTALL)


def _other_dialect(text: str, kind: str) -> str | None:
    """Why an expression written in another engine's language is refused, named as such, with the Python
    expression to write instead where the inside already is one; None for anything else."""
    found = _JUEL.fullmatch(text)
    if found is None:
        return None
    inner = found.group(1).strip()
    fix = (
        f"write it as the Python expression {inner}"
        if inner and not script_problems(inner, "eval")
        else "rewrite it as a Python expression over task data (and, or, not for &&, ||, !)"
    )
    return (
        f"{kind} '{text.strip()}' is a Camunda (JUEL) expression, which gridloop's script engine does not run "
        f"— {fix}"
    )


def _outcome_assignments(script: str) -> list[tuple[int, ast.expr | None]]:
    """Where a script sets the event's state (its line and the value assigned; None for an augmented or
    annotated-only assignment), in the order of the script's lines. A script that does not parse sets none."""
    try:
        tree = ast.parse(script)
    except SyntaxError:
        return []

    def names(target: ast.expr) -> list[str]:
        if isinstance(target, ast.Name):
            return [target.id]
        if isinstance(target, ast.Tuple | ast.List):
            return [n for element in target.elts for n in names(element)]
        return []

    found: list[tuple[int, ast.expr | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(OUTCOME_VARIABLE in names(t) for t in node.targets):
            single = all(isinstance(t, ast.Name) for t in node.targets)
            found.append((node.lineno, node.value if single else None))
        elif isinstance(node, ast.AugAssign | ast.AnnAssign) and OUTCOME_VARIABLE in names(node.target):
            found.append((node.lineno, node.value if isinstance(node, ast.AnnAssign) else None))
        elif isinstance(node, ast.NamedExpr) and node.target.id == OUTCOME_VARIABLE:
            found.append((node.lineno, node.value))
    return sorted(found, key=lambda item: item[0])


def _literal_outcome(value: ast.expr | None) -> str | None:
    if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.isidentifier():
        return value.value
    return None


def _outcome_problems(name: str, root: Element) -> list[Problem]:
    """Scripts that set the event's state to anything but a quoted name: the engine lists the states a process
    can reach (for searches, counts and the evaluation) by reading those names off the diagram."""
    problems = []
    for path, mode, _kind in SCRIPT_ELEMENTS:
        if mode != "exec":
            continue
        prefix, tag = path.split(":")
        for element in root.iter(f"{{{NS[prefix]}}}{tag}"):
            for line, value in _outcome_assignments(element.text or ""):
                if _literal_outcome(value) is None:
                    problems.append(
                        Problem(
                            name,
                            (element.sourceline or 1) + line - 1,
                            _owner_id(element),
                            f"'{OUTCOME_VARIABLE}' (the event's state) is set to something other than a "
                            f'quoted name — write it as {OUTCOME_VARIABLE} = "closed", one state a line, so '
                            "that the engine can list every state the process can reach",
                        )
                    )
    return problems


def _outcomes(specs: list[BpmnProcessSpec]) -> tuple[str, ...]:
    """Every state an event of the process can be in: UNSET_OUTCOME, then each state the scripts of ``specs``
    (the process and the processes it calls) set, in the order SpiffWorkflow parsed their tasks — along the
    flow from the start event."""
    found = [UNSET_OUTCOME]
    for spec in specs:
        for task_spec in spec.task_specs.values():
            for script in (
                getattr(task_spec, "prescript", None),
                getattr(task_spec, "script", None),
                getattr(task_spec, "postscript", None),
            ):
                if script:
                    found += [s for _, v in _outcome_assignments(script) if (s := _literal_outcome(v))]
    return tuple(dict.fromkeys(found))


def _decision_problems(name: str, root: Element, decisions: dict[str, str]) -> list[Problem]:
    """Business rule tasks must call a decision that a DMN file defines."""
    problems = []
    available = ", ".join(sorted(decisions)) or "none"
    for task in root.iter(f"{{{BPMN_NS}}}businessRuleTask"):
        ref_element = task.find("bpmn:extensionElements/spiffworkflow:calledDecisionId", NS)
        ref = (ref_element.text or "").strip() if ref_element is not None else ""
        if not ref:
            message = (
                "business rule task calls no decision — set spiffworkflow:calledDecisionId "
                f"(available: {available})"
            )
        elif ref not in decisions:
            message = (
                f"business rule task calls decision '{ref}', which no DMN file defines "
                f"(available: {available}) — add processes/{ref}.dmn or fix calledDecisionId"
            )
        else:
            continue
        line = ref_element.sourceline if ref_element is not None else task.sourceline
        problems.append(Problem(name, line, task.get("id"), message))
    return problems


def _call_problems(name: str, root: Element, processes: list[str]) -> list[Problem]:
    """Call activities must call a process that a BPMN file of the set defines."""
    return [
        Problem(
            name,
            call.sourceline,
            call.get("id"),
            f"call activity calls process '{call.get('calledElement') or ''}', which no BPMN file of the set "
            f"defines (defined: {', '.join(processes) or 'none'}) — add the file that defines it beside this one "
            "or fix calledElement",
        )
        for call in root.iter(f"{{{BPMN_NS}}}callActivity")
        if call.get("calledElement") not in processes
    ]


def _build_parser(checked: _Checked) -> SpiffBpmnParser | None:
    """Parse a clean set with SpiffWorkflow and build every executable process, reporting what it rejects.

    The XSD check already ran, so the parser runs without a validator.
    """
    parser = SpiffBpmnParser()
    try:
        for name, root in checked.trees.items():
            if name.endswith(".dmn"):
                parser.add_dmn_xml(root, filename=name)
            else:
                parser.add_bpmn_xml(root, filename=name)
        for process_id in parser.get_process_ids():
            parser.get_spec(process_id)
            parser.get_subprocess_specs(process_id)
    except ValidationException as err:
        checked.problems.append(_validation_problem(err, checked.trees))
        return None
    except Exception as err:  # SpiffWorkflow raises plain exceptions for some structural mistakes.
        checked.problems.append(
            Problem(
                _first_bpmn(checked.trees),
                None,
                None,
                f"SpiffWorkflow cannot build the process: {_plain(err)} — fix the element it names in the modeler",
            )
        )
        return None
    return parser


def _first_bpmn(trees: dict[str, Any]) -> str:
    return next((name for name in trees if name.endswith(".bpmn")), next(iter(trees), "processes/"))


def _validation_problem(err: ValidationException, trees: dict[str, Any]) -> Problem:
    """Turn SpiffWorkflow's ValidationException into a Problem, finding the element's line by its id.

    SpiffWorkflow fills ``line_number`` only for XSD errors, and ``file_name`` is sometimes empty.
    """
    element_id = getattr(err, "id", "") or None
    file_name = getattr(err, "file_name", "") or None
    line = getattr(err, "line_number", None) if isinstance(getattr(err, "line_number", None), int) else None
    candidates = [file_name] if file_name in trees else list(trees)
    for candidate in candidates:
        if element_id is None:
            break
        found = trees[candidate].xpath("//*[@id=$id]", id=element_id)
        if found:
            file_name = candidate
            line = line or found[0].sourceline
            break
    message = str(err.args[0]) if err.args else str(err)
    if err.__context__ is not None and message == repr(err.__context__):  # SpiffWorkflow wraps it as "%r"
        message = _plain(err.__context__)
    notes = ". ".join(getattr(err, "notes", []))
    return Problem(
        file_name or _first_bpmn(trees), line, element_id, message + (f". {notes}" if notes else "")
    )


def _plain(err: BaseException) -> str:
    """An exception said in words, not as a Python repr (``KeyError('y')`` → ``KeyError: y``)."""
    text = str(err.args[0]) if len(err.args) == 1 else str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _user_tasks(specs: list[BpmnProcessSpec]) -> dict[str, UserTaskInfo]:
    """User tasks and form-carrying start events of the given specs, keyed by BPMN id."""
    tasks: dict[str, UserTaskInfo] = {}
    for spec in specs:
        for task_spec in spec.task_specs.values():
            properties = (
                task_spec.extensions.get("properties", {}) if hasattr(task_spec, "extensions") else {}
            )
            is_form_start = isinstance(task_spec, StartEvent) and "formJsonSchemaFilename" in properties
            if not isinstance(task_spec, UserTask) and not is_form_start:
                continue
            tasks[task_spec.bpmn_id] = UserTaskInfo(
                bpmn_id=task_spec.bpmn_id,
                name=task_spec.bpmn_name or task_spec.bpmn_id,
                lane=task_spec.lane,
                role=properties.get("role") or role_for_lane(task_spec.lane),
                form=properties.get("formJsonSchemaFilename"),
                scope_level=properties.get("scopeLevel", "grid"),
                department_variable=properties.get("departmentVariable"),
                due_at_variable=properties.get("dueAtVariable"),
                scope_level_variable=properties.get("scopeLevelVariable"),
                decision_variable=properties.get("decisionVariable"),
                assignee=properties.get("assignee"),
                assignee_variable=properties.get("assigneeVariable"),
                initiator_variable=properties.get("initiatorVariable"),
                labels={
                    key[len("name.") :]: value
                    for key, value in properties.items()
                    if key.startswith("name.") and value
                },
            )
    return tasks


def _categories(parser: SpiffBpmnParser, trees: dict[str, Any]) -> tuple[list[Category], list[Problem]]:
    """Categories from the routing decision table, in table order; problems if its shape is wrong."""
    dmn_parser = parser.dmn_parsers.get(ROUTING_DECISION)
    if dmn_parser is None:
        return [], []
    dmn_parser.parse()
    table = dmn_parser.decision.decisionTables[0]
    file_name = dmn_parser.filename
    root = trees[file_name]

    def problem(element_id: str, message: str) -> Problem:
        found = root.xpath("//*[@id=$id]", id=element_id)
        return Problem(file_name, found[0].sourceline if found else None, element_id, message)

    output_names = [output.name for output in table.outputs]
    missing = [column for column in CATEGORY_OUTPUTS if column not in output_names]
    if len(table.inputs) != 1 or missing:
        return [], [
            problem(
                table.id,
                f"decision '{ROUTING_DECISION}' must have one input (category) and the output columns "
                f"{', '.join(CATEGORY_OUTPUTS)}; missing: {', '.join(missing) or '-'}, "
                f"inputs: {len(table.inputs)} — fix the table's columns",
            )
        ]
    categories, problems = [], []
    for rule in table.rules:
        try:
            code = ast.literal_eval(rule.inputEntries[0].text)
            values = {entry.output.name: ast.literal_eval(entry.text) for entry in rule.outputEntries}
            labels = {
                entry.output.name: description_labels(entry.description) for entry in rule.outputEntries
            }
            categories.append(
                Category(
                    code=str(code),
                    class_name=str(values["class_name"]),
                    name=str(values["category_name"]),
                    department_kind=str(values["department_kind"]),
                    handling_level=str(values["handling_level"]),
                    time_limit=float(values["time_limit"]),
                    time_unit=str(values["time_unit"]),
                    class_labels=labels["class_name"],
                    name_labels=labels["category_name"],
                )
            )
        except (ValueError, TypeError, SyntaxError, KeyError, IndexError) as err:
            problems.append(
                problem(
                    rule.id,
                    f"routing rule {rule.row_number} is not a plain category row ({_plain(err)}) — write the "
                    'input as a quoted code like "0101", texts quoted and time_limit as a number',
                )
            )
    return categories, problems
