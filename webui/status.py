"""The status page: what is deployed and how many events stand in each state of the process; and the health
check for load balancers, which tells only whether the service and its database are up."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import NotDeployed
from engine.reads.events import event_states
from engine.reads.overview import summary
from webui.context import read_session, reader

bp = Blueprint("status", __name__)


@bp.get("/")
def index() -> str:
    """The start page: deployed process versions and event counts by state — every state the process sets,
    and any other an event still stands in (one set by an older version)."""
    found = summary(read_session())
    try:
        states = event_states(reader())
    except NotDeployed:
        states = ()
    states = (*states, *sorted(set(found["events"]) - set(states)))
    return render_template("status.html", summary=found, states=states)


@bp.get("/healthz")
def health() -> Response | tuple[Response, int]:
    """Liveness for load balancers, signed out: whether the service and its database answer — nothing else
    (counts, staff and versions are for signed-in users, on the start page)."""
    try:
        read_session().execute(text("SELECT 1"))
    except SQLAlchemyError:
        return jsonify(status="unavailable", database="down"), 503
    return jsonify(status="ok", database="up")
