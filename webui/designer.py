"""The designer's workbench (/designer, for process designers and administrators): the process models and their
versions, and an editor per model — bpmn-js's Modeler with the properties panel for what gridloop reads, lint as
you draw (bpmnlint's recommended rules in the browser, gridloop's own checks, the deploy's, from
:meth:`~engine.app.Gridloop.check_upload`), the diff of a version against the active one on the canvas, and
deploy from the page; activating, retiring and rolling back are the process page's forms. Thin: each route parses
the request, calls one read or command, and answers a page or JSON."""

from __future__ import annotations

import dataclasses
import json
import posixpath
from datetime import date
from typing import Any

from flask import Blueprint, Response, g, jsonify, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from engine.bpmn import forms
from engine.bpmn.definitions import DefinitionError, Problem
from engine.bpmn.diff import DiagramUnreadable, diagram_diff
from engine.errors import Conflict, Forbidden, NotFound, ProcessFailure
from engine.org.roles import DESIGN_ROLES, ROLE_KEYS
from engine.reads.processes import diagram_xml, process_models
from engine.reads.whatif import MOST_CASES, last_month
from webui import errors, formdata
from webui.context import actor, gridloop, reader, username
from webui.i18n import current_language, translate
from webui.security import CONTENT_SECURITY_POLICY

bp = Blueprint("designer", __name__)

# the properties panel's texts (webui/modeler/gridloop-properties.js reads them by these keys)
PANEL_TEXTS = (
    "group",
    "prop.formJsonSchemaFilename",
    "prop.scopeLevel",
    "prop.scopeLevelVariable",
    "prop.departmentVariable",
    "prop.dueAtVariable",
    "prop.decisionVariable",
    "prop.name.en",
    "prop.lane_role",
    "prop.calledDecisionId",
    "hint.formJsonSchemaFilename",
    "hint.scopeLevel",
    "hint.scopeLevelVariable",
    "hint.departmentVariable",
    "hint.dueAtVariable",
    "hint.decisionVariable",
    "hint.name.en",
    "hint.lane_role",
    "hint.calledDecisionId",
)


@bp.app_template_global("may_design")
def may_design() -> bool:
    """Whether the navigation offers the workbench (process designers and administrators)."""
    user = g.get("user")
    return user is not None and any(user.has_role(role) for role in DESIGN_ROLES)


@bp.before_request
def designers_only() -> None:
    """Only process designers and administrators use the workbench; anyone else is refused (403)."""
    if not any(actor().has_role(role) for role in DESIGN_ROLES):
        raise Forbidden("only process designers and administrators use the workbench", code="designer.only")


@bp.get("/designer")
def index() -> str:
    """The process models with their versions, each a link to its editor."""
    return render_template("designer.html", models=process_models(reader()))


def _model(process_id: str) -> dict[str, Any]:
    found = next((m for m in process_models(reader()) if m["id"] == process_id), None)
    if found is None:
        raise NotFound("no process {process}", code="process.not_found", process=process_id)
    return found


def _main_file(process_id: str) -> tuple[int, str, list[str], list[str]]:
    """The shown version of a model, the name of the BPMN file that defines its process, its forms and its DMN
    tables."""
    deployed = reader().versions.shown(reader().session, process_id)
    files = deployed.bundle.files
    main = next(
        (
            name
            for name, text in sorted(files.items())
            if name.endswith(".bpmn") and f'id="{process_id}"' in text
        ),
        next(name for name in sorted(files) if name.endswith(".bpmn")),
    )
    forms = sorted(
        posixpath.basename(name) for name in files if name.endswith(".json") and "process_model" not in name
    )
    return (
        deployed.version_id,
        posixpath.basename(main),
        forms,
        sorted(posixpath.basename(name) for name in files if name.endswith(".dmn")),
    )


@bp.get("/designer/<process_id>")
def edit(process_id: str) -> str:
    """The editor of a model's diagram, opened on its shown version (the active one, else the newest)."""
    model = _model(process_id)
    version_id, main, forms, tables = _main_file(process_id)
    roles = [{"key": key, "label": translate(f"role.{key}")} for key in ROLE_KEYS]
    first, last = last_month(reader().now().astimezone(reader().calendar().timezone).date())
    setup = {
        "process": process_id,
        "file": main,
        "version": version_id,
        "active": model["active"],
        "diagram": url_for("processes.diagram", version_id=version_id, lang="zh"),
        "versionDiagram": url_for("processes.diagram", version_id=0, lang="zh"),
        "check": url_for("designer.check", process_id=process_id),
        "deploy": url_for("designer.deploy", process_id=process_id),
        "diff": url_for("designer.diff", process_id=process_id),
        "migration": url_for("designer.migration_plan", process_id=process_id),
        "steps": url_for("designer.step_mapping", process_id=process_id),
        "whatIf": url_for("designer.what_if", process_id=process_id),
        "fileUrl": url_for("designer.model_file", process_id=process_id, name="NAME"),
        "formPreview": url_for("designer.form_preview", process_id=process_id),
        "forms": forms,
        "tables": tables,
        "roles": roles,
        "labels": {key: translate(f"designer.panel.{key}") for key in PANEL_TEXTS}
        | {
            f"level.{level}": translate(f"level.{level}")
            for level in ("grid", "community", "town", "district")
        },
        "language": current_language(),
        "events": url_for("events.show", event_id=0),
        "whatIfVersion": _newest_draft(model),
        "whatIfFirst": first.isoformat(),
        "whatIfLast": last.isoformat(),
        "whatIfMost": MOST_CASES,
    }
    return render_template("designer_edit.html", model=model, setup=setup)


def _newest_draft(model: dict[str, Any]) -> int:
    """The version the what-if plays by default: the newest draft, else the newest version."""
    drafts = [v["id"] for v in model["versions"] if v["status"] == "draft"]
    return max(drafts) if drafts else model["versions"][0]["id"]


def _problems(problems: list[Problem]) -> list[dict[str, Any]]:
    return [
        {"file": p.file, "line": p.line, "element": p.element_id, "message": p.message, "text": str(p)}
        for p in problems
    ]


def _uploaded() -> dict[str, bytes]:
    """The files a workbench request posts: the diagram (``file`` and ``xml``) and the forms and tables edited
    beside it (``files``: name → text), each by its own name in the model."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise _BadBody()
    edited = body.get("files", {})
    if not isinstance(edited, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in edited.items()
    ):
        raise _BadBody()
    files = dict(edited)
    if "xml" in body or "file" in body:
        if not isinstance(body.get("xml"), str) or not isinstance(body.get("file"), str):
            raise _BadBody()
        files[body["file"]] = body["xml"]
    if not files:
        raise _BadBody()
    return {name: text.encode("utf-8") for name, text in files.items()}


class _BadBody(Exception):
    pass


@bp.errorhandler(_BadBody)
def _bad_body(_exc: _BadBody) -> tuple[Response, int]:
    return jsonify(error="bad_request", message=translate("designer.bad_body")), 400


@bp.post("/designer/<process_id>/check")
def check(process_id: str) -> Response:
    """Every problem a deploy of the posted diagram would refuse, each with its element (none: it deploys)."""
    return jsonify(problems=_problems(gridloop().check_upload(_uploaded(), process_id)))


@bp.post("/designer/<process_id>/deploy")
def deploy(process_id: str) -> tuple[Response, int]:
    """Deploy the posted diagram as a draft of the model (its other files as they are); 201 with the version,
    or 400 with every problem and nothing deployed."""
    try:
        done = gridloop().deploy_upload(actor(), _uploaded(), process_id=process_id)
    except DefinitionError as err:
        return jsonify(error="definitions_invalid", problems=_problems(err.problems)), 400
    return jsonify(
        version=done.id, process=done.process_id, status=done.status, created=done.created,
        message=translate("process.deployed", version=done.id, process=done.process_id,
                          status=translate(f"process.status.{done.status}"))
        if done.created else translate("process.deployed_unchanged", version=done.id, process=done.process_id),
    ), 201 if done.created else 200  # fmt: skip


@bp.post("/designer/<process_id>/diff")
def diff(process_id: str) -> Response | tuple[Response, int]:
    """What the posted diagram changes against the model's active version (its shown one when none is active):
    the elements added, removed and changed, by id."""
    model = _model(process_id)
    base = model["active"] or model["versions"][0]["id"]
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str):
        raise _BadBody()
    try:
        found = diagram_diff(diagram_xml(reader().session, base), body["xml"])
    except DiagramUnreadable as err:
        return jsonify(error="bad_request", message=str(err)), 400
    return jsonify({"base": base, **dataclasses.asdict(found)})


def _version_pair(process_id: str) -> tuple[int, int]:
    """``?from=`` and ``?to=``: two versions of this model (404 otherwise)."""
    model = _model(process_id)
    ids = {v["id"] for v in model["versions"]}
    source, target = request.args.get("from", type=int), request.args.get("to", type=int)
    if source not in ids or target not in ids or source == target:
        raise NotFound(
            "no such pair of versions of {process}", code="designer.no_versions", process=process_id
        )
    assert source is not None and target is not None
    return source, target


def _mapping(given: Any) -> dict[str, str]:
    """A step mapping (old step id → new id): ``{"old": "new"}`` in a JSON body, ``map=old:new`` in a query."""
    if isinstance(given, list):
        pairs = [item.split(":", 1) for item in given if isinstance(item, str) and ":" in item]
        given = {old: new for old, new in pairs if old and new}
    if given is None:
        return {}
    if not isinstance(given, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in given.items()
    ):
        raise _BadBody()
    return {old: new for old, new in given.items() if new}


@bp.get("/designer/<process_id>/steps")
def step_mapping(process_id: str) -> Response:
    """The step mapping a migration from ``?from=`` to ``?to=`` starts with: the steps with no element of the
    same id in the target, the elements new in it, and the renaming proposed for each (same name and type)."""
    source, target = _version_pair(process_id)
    return jsonify(gridloop().step_mapping(source, target))


@bp.get("/designer/<process_id>/migration")
def migration_plan(process_id: str) -> tuple[Response, int]:
    """The dry run of moving every unfinished instance of version ``?from=`` to ``?to=`` (both of this model),
    with the step mapping ``map=old:new`` (repeated): per instance, whether it moves or why not, the steps that
    land on another id, its waiting steps and claims, its timers. Nothing moves."""
    source, target = _version_pair(process_id)
    mapping = _mapping(request.args.getlist("map"))
    try:
        return jsonify(plans=gridloop().migration_dry_run(source, target, mapping)), 200
    except Conflict as exc:
        return jsonify(error="refused", message=errors.message(exc)), 409


@bp.post("/designer/<process_id>/migration")
def migrate(process_id: str) -> tuple[Response, int]:
    """Move one instance (``{"event": id, "to": version, "mapping": {old: new}}``) — the page moves a dry run's
    instances one by one, with a progress bar; a refused one (409, why) is left as it was and the others go on."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not all(isinstance(body.get(k), int) for k in ("event", "to")):
        raise _BadBody()
    mapping = _mapping(body.get("mapping"))
    model = _model(process_id)
    if body["to"] not in {v["id"] for v in model["versions"]}:
        raise NotFound("no such version of {process}", code="designer.no_versions", process=process_id)
    try:
        moved = gridloop().migrate_event(username(), body["event"], body["to"], mapping)
    except (Conflict, ProcessFailure) as exc:
        return jsonify(error="refused", message=errors.message(exc)), 409
    return jsonify(moved), 200


@bp.get("/designer/<process_id>/what-if")
def what_if(process_id: str) -> tuple[Response, int]:
    """The cases of this model reported from ``?from=`` to ``?to=`` (days; by default the last full month),
    played through version ``?version=`` beside how they ran: per step, per case, and the cases that would not
    run the same. Nothing changes."""
    model = _model(process_id)
    version = request.args.get("version", type=int)
    if version not in {v["id"] for v in model["versions"]}:
        raise NotFound("no such version of {process}", code="designer.no_versions", process=process_id)
    days: dict[str, date] = {}
    for name in ("from", "to"):
        given = request.args.get(name, "").strip()
        if given:
            try:
                days[name] = date.fromisoformat(given)
            except ValueError:
                return jsonify(error="bad_request", field=name, message=translate("dashboard.bad_date")), 400
    if len(days) == 1:
        return jsonify(error="bad_request", field="from", message=translate("designer.whatif_both_days")), 400
    if days and days["to"] < days["from"]:
        return jsonify(error="bad_request", field="to", message=translate("dashboard.end_before_start")), 400
    assert version is not None
    return jsonify(gridloop().what_if(username(), version, days.get("from"), days.get("to"))), 200


@bp.get("/designer/<process_id>/files/<name>")
def model_file(process_id: str, name: str) -> Response:
    """One file of the model's shown version, by its name (a form, a DMN table), as the editors open it."""
    deployed = reader().versions.shown(reader().session, _model(process_id)["id"])
    found = next(
        (text for path, text in deployed.bundle.files.items() if posixpath.basename(path) == name), None
    )
    if found is None:
        raise NotFound("no file {name} in {process}", code="designer.no_file", name=name, process=process_id)
    kind = "application/json" if name.endswith(".json") else "application/xml"
    return Response(found, mimetype=kind)


# the form preview is drawn in a frame of the workbench's page: it may be framed by the site itself, nothing else
PREVIEW_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY.replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'"
    ),
    "X-Frame-Options": "SAMEORIGIN",
}


@bp.post("/designer/<process_id>/form-preview")
def form_preview(process_id: str) -> tuple[str, int, dict[str, str]]:
    """A form of the model as staff see it, drawn by the same renderer from the text being edited: posted as JSON
    (``{"file": name, "text": schema}``) by the editor, or as the preview's own form — then the values typed are
    checked as a submission would be, and drawn with their field errors. The form's problems (400) instead when
    the text is not a form a deploy would take. Nothing is stored: photos are not uploaded."""
    body = request.get_json(silent=True) if request.is_json else None
    tried = body is None
    name, text = (
        (request.form.get("_form_file"), request.form.get("_form_text"))
        if tried
        else (body.get("file"), body.get("text"))
        if isinstance(body, dict)
        else (None, None)
    )
    if not isinstance(name, str) or not isinstance(text, str) or not name.endswith(".json"):
        raise _BadBody()
    _model(process_id)
    problems = [
        p
        for p in gridloop().check_upload({name: text.encode("utf-8")}, process_id)
        if p.file is not None and posixpath.basename(p.file) == name
    ]
    context: dict[str, Any] = {"process_id": process_id, "file": name, "text": text, "problems": problems}
    if problems:
        return render_template("designer_form_preview.html", **context), 400, PREVIEW_HEADERS
    deployed = reader().versions.shown(reader().session, process_id)
    schema = reader().forms.preview(reader().session, deployed.bundle, json.loads(text))
    values: dict[str, Any] = {}
    found: dict[str, Any] = {}
    if tried:
        submission = formdata.parse(schema, request.form, MultiDict(), None, reader().calendar().timezone)
        values = submission.values
        found = submission.errors or forms.validate(schema, submission.data)
    context.update(schema=schema, values=values, errors=found, tried=tried)
    return render_template("designer_form_preview.html", **context), 200, PREVIEW_HEADERS
