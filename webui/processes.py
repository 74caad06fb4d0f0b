"""The process page: every deployed version of each process, with its diagram and how many events run on it."""

from __future__ import annotations

from itertools import groupby

from flask import Blueprint, Response, render_template, request

from engine.app import LANGUAGES
from engine.reads.processes import diagram_xml, process_versions
from webui.context import reader

bp = Blueprint("processes", __name__)


@bp.get("/processes")
def index() -> str:
    """Deployed versions grouped by process, newest first."""
    versions = process_versions(reader().session)
    processes = [(pid, list(rows)) for pid, rows in groupby(versions, key=lambda v: v["process_id"])]
    return render_template("processes.html", processes=processes)


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
