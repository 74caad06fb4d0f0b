"""The process page: every deployed version of each process, with its diagram and how many events run on it."""

from __future__ import annotations

from itertools import groupby

from flask import Blueprint, Response, render_template

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
    """The BPMN XML of a deployed version, for bpmn-js to draw."""
    xml = diagram_xml(reader().session, version_id)
    response = Response(xml, mimetype="application/xml")
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return response
