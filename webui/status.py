"""The status page: what is deployed and how many events stand in each state."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template
from sqlalchemy import func, select

from engine.store.models import Event, ProcessVersion, User
from webui.events import STATES

bp = Blueprint("status", __name__)


def _summary() -> dict:
    gl = current_app.extensions["gridloop"]
    with gl.db.reading() as session:
        counts = dict(session.execute(select(Event.state, func.count()).group_by(Event.state)).all())
        versions = [
            {
                "id": v.id,
                "process": v.process_id,
                "hash": v.content_hash[:12],
                "deployed_at": v.deployed_at.isoformat(),
            }
            for v in session.scalars(select(ProcessVersion).order_by(ProcessVersion.id.desc()))
        ]
        users = session.scalar(select(func.count()).select_from(User)) or 0
    return {"events": counts, "versions": versions, "users": users}


@bp.get("/")
def index() -> str:
    """The start page: deployed process versions and event counts by state."""
    return render_template("status.html", summary=_summary(), states=STATES)


@bp.get("/healthz")
def health():  # noqa: ANN201
    """Liveness for load balancers: the database answers."""
    return jsonify(status="ok", **_summary())
