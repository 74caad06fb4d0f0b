"""The audit pages (审计): an event's history stepped through as replayed, and its export as JSON and CSV.

The step-through page shows, for step k of the replay, who did what and when, the input, the process data after
it and what changed, and the diagram with the path taken so far; above it the verdict of the audit (chain intact
and replay equal to the stored state, or the reasons). Anyone may open the audit of an event in their scope
(the engine answers 404 outside it); the event page links it for auditors and administrators, who read it.
"""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, g, render_template, request

from engine.audit import history
from engine.reads.audit_view import audit_page, history_export
from webui.context import reader
from webui.display import json_text

bp = Blueprint("audit", __name__)

AUDIT_ROLES = ("auditor", "admin")
CSV_COLUMNS = (
    "seq",
    "at",
    "actor",
    "action",
    "step",
    "task",
    "process_version_id",
    "prev_hash",
    "hash",
    "data",
)


@bp.app_template_global()
def may_audit() -> bool:
    """Whether the signed-in user audits (the event page then links its audit page)."""
    user = g.get("user")
    return user is not None and any(user.has_role(role) for role in AUDIT_ROLES)


@bp.get("/audit/events/<int:event_id>")
def show(event_id: int) -> str:
    """The audit of one event at step ``?step=k`` (a history seq; the last step by default)."""
    page = audit_page(reader(), event_id, request.args.get("step", type=int))
    return render_template("audit.html", page=page)


def _attachment(body: str, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _whole_asked() -> bool:
    return request.args.get("contacts") == "whole"


@bp.get("/audit/events/<int:event_id>/history.json")
def history_json(event_id: int) -> Response:
    """The event's full history as stored, one object per record, times in ISO 8601 UTC; ``?contacts=whole``
    leaves personal data unmasked for the roles that may read it (everyone else gets it masked)."""
    export = history_export(reader(), event_id, _whole_asked())
    body = json_text(export, indent=2)
    return _attachment(body, "application/json", f"{export['event']['code']}-history.json")


@bp.get("/audit/events/<int:event_id>/history.csv")
def history_csv(event_id: int) -> Response:
    """The event's full history as CSV, one row per record, the record's data as canonical JSON.

    UTF-8 with a byte-order mark, so that spreadsheet programs read the Chinese text correctly. Masked as the
    JSON export is (``?contacts=whole``).
    """
    export = history_export(reader(), event_id, _whole_asked())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for record in export["records"]:
        writer.writerow(
            [
                record["seq"],
                record["at"].isoformat(),
                record["actor"],
                record["action"],
                record["step"] or "",
                "" if record["task"] is None else record["task"],
                record["process_version_id"],
                record["prev_hash"] or "",
                record["hash"],
                history.canonical(record["data"]),
            ]
        )
    return _attachment("\ufeff" + out.getvalue(), "text/csv", f"{export['event']['code']}-history.csv")
