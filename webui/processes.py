"""The process pages: the registry of process models with their versions' life cycle (deploy, activate, retire,
roll back — for designers and administrators), each version's diagram, and a process's start page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from engine.app import LANGUAGES
from engine.bpmn.definitions import DefinitionError
from engine.errors import Conflict, FieldErrors, Forbidden, NotFound, ValidationFailed
from engine.org.roles import DESIGN_ROLES
from engine.reads.processes import diagram_xml, process_models, start_page
from webui import errors, formdata
from webui.context import actor, gridloop, reader, username
from webui.i18n import translate

bp = Blueprint("processes", __name__)


def _may_design() -> bool:
    return any(actor().has_role(role) for role in DESIGN_ROLES)


@bp.get("/processes")
def index() -> str:
    """The process models, their versions newest first, and what the reader may do with them."""
    return render_template("processes.html", models=process_models(reader()), designs=_may_design())


def _back(process_id: str | None = None) -> BaseResponse:
    target = url_for("processes.index") + (f"#process-{process_id}" if process_id else "")
    return redirect(target, code=303)


@bp.post("/processes/deploy")
def deploy() -> BaseResponse | tuple[str, int]:
    """Deploy the uploaded files of one model folder as a draft (and, when asked, activate it); the page again
    with every problem when they are refused, nothing deployed."""
    uploads = {f.filename: f.read() for f in request.files.getlist("files") if f.filename}
    if not uploads:
        flash(translate("process.deploy_nothing"), "error")
        return _back()
    try:
        deployment = gridloop().deploy_upload(actor(), uploads, request.form.get("activate") == "1")
    except DefinitionError as err:
        page = render_template(
            "processes.html",
            models=process_models(reader()),
            designs=_may_design(),
            problems=[str(problem) for problem in err.problems],
        )
        return page, 400
    said: dict[str, Any] = {"version": deployment.id, "process": deployment.process_id}
    if deployment.created:
        flash(
            translate("process.deployed", status=translate(f"process.status.{deployment.status}"), **said),
            "success",
        )
    else:
        flash(translate("process.deployed_unchanged", **said), "success")
    return _back(deployment.process_id)


def _life_cycle(change: str, target: int | str) -> BaseResponse:
    gl, by = gridloop(), actor()
    try:
        if change == "activate":
            done = gl.activate(by, int(target))
        elif change == "retire":
            done = gl.retire(by, int(target))
        else:
            done = gl.rollback(by, str(target))
    except (Conflict, ValidationFailed, NotFound) as exc:
        flash(errors.message(exc), "error")
        return _back(str(target) if change == "rollback" else None)
    flash(translate(f"process.done.{change}", version=done.id, process=done.process_id), "success")
    return _back(done.process_id)


@bp.post("/processes/versions/<int:version_id>/activate")
def activate(version_id: int) -> BaseResponse:
    """Make the version the one new instances start on."""
    return _life_cycle("activate", version_id)


@bp.post("/processes/versions/<int:version_id>/retire")
def retire(version_id: int) -> BaseResponse:
    """Stop new instances starting on the version."""
    return _life_cycle("retire", version_id)


@bp.post("/processes/<process_id>/rollback")
def rollback(process_id: str) -> BaseResponse:
    """Re-activate the version the active one replaced."""
    return _life_cycle("rollback", process_id)


def _render_start(
    page: dict, values: formdata.Values, form_errors: FieldErrors | None = None, notice: str | None = None,
    status: int = 200,
) -> tuple[str, int]:  # fmt: skip
    return formdata.render_form("process_start.html", values, form_errors, notice, status, page=page)


@bp.get("/processes/<process_id>/start")
def start_form(process_id: str) -> BaseResponse | tuple[str, int]:
    """The start form of a process (a process that takes grid reports is reported on the report page)."""
    page = start_page(reader(), process_id)
    if page["takes_reports"]:
        return redirect(url_for("report.new"), code=303)
    properties = page["schema"].get("properties", {})
    defaults = {
        name: formdata.raw(prop["default"])
        for name, prop in properties.items()
        if "default" in prop and not isinstance(prop["default"], list | dict)
    }
    # a page that links here may fill single fields in (an appeal names its sheet: ?sheet=12)
    given = {name: value for name, value in request.args.items() if name in properties and value}
    return _render_start(page, {**defaults, **given, "grid": page["default_unit"] or ""})


@bp.post("/processes/<process_id>/start")
def start(process_id: str) -> BaseResponse | tuple[str, int]:
    """Start the instance; on success go to its page, otherwise the form again as typed with the errors."""
    gl = gridloop()
    page = start_page(reader(), process_id)
    if page["takes_reports"]:
        return redirect(url_for("report.new"), code=303)
    submission = formdata.parse(
        page["schema"],
        request.form,
        request.files,
        lambda name, content: gl.upload(username(), name, content),
        reader().calendar().timezone,
    )
    unit = request.form.get("unit") or None
    if submission.errors:
        return _render_start(page, {**submission.values, "unit": unit or ""}, submission.errors, status=400)
    try:
        started = gl.start(username(), process_id, submission.data, unit)
    except ValidationFailed as exc:
        return _render_start(page, {**submission.values, "unit": unit or ""}, exc.errors, status=400)
    except Forbidden as exc:
        return _render_start(page, submission.values, notice=errors.message(exc), status=403)
    flash(translate("process.started", code=started["code"]), "success")
    return redirect(url_for("events.show", event_id=started["id"]), code=303)


@bp.get("/processes/versions/<int:version_id>/diagram.bpmn")
def diagram(version_id: int) -> Response:
    """The BPMN XML of a deployed version, for bpmn-js to draw, its names in the language of the ``lang``
    parameter (the pages' links name the reader's; ``zh`` is the file as deployed). Such a URL always answers
    the same XML, so it may be cached for good; without ``lang`` the reader's language answers, and the
    browser must ask again (the reader may switch languages)."""
    lang, read = request.args.get("lang"), reader()
    fixed = lang in LANGUAGES
    xml = diagram_xml(read.session, version_id, lang if fixed and lang else read.language)
    response = Response(xml, mimetype="application/xml")
    if fixed:
        response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    else:
        response.headers["Cache-Control"] = "private, no-cache"
        response.vary.add("Cookie")
    return response
