"""The report page (上报): a new event with its category, description, grid, address, coordinates and photos."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine.errors import FieldErrors, Forbidden, ValidationFailed
from engine.reads import queries
from engine.reads.report import may_report, report_form
from webui import errors, formdata
from webui.context import gridloop, reader, username

bp = Blueprint("report", __name__)

# the fields a link may fill in before the form is shown (``/report?grid=…&address=…``), and how much of each
PREFILLED = ("grid", "address", "description", "category", "dwelling")
PREFILL_LIMIT = 200


def _render(
    form: dict[str, Any],
    values: formdata.Values,
    form_errors: FieldErrors | None = None,
    notice: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return formdata.render_form("report.html", values, form_errors, notice, status, form=form)


@bp.app_template_global("may_report")
def may_report_global() -> bool:
    """Whether the navigation offers the report page (the roles the ``report_roles`` setting names)."""
    return g.get("user") is not None and may_report(reader())


@bp.get("/report")
def new() -> tuple[str, int]:
    """The empty report form, the grid preset to the user's own, the channel to the one kept for their role."""
    form = report_form(reader())
    values = {"grid": form["default_grid"] or "", "channel": form["default_channel"] or ""}
    # a report raised on the spot from a visit or a patrol (its task page links here) starts with its place
    for name in PREFILLED:
        given = request.args.get(name, "").strip()
        if given:
            values[name] = given[:PREFILL_LIMIT]
    return _render(form, values)


@bp.post("/report")
def submit() -> Response | tuple[str, int]:
    """Report the event; on success show its code, otherwise the form again as typed with the errors."""
    gl = gridloop()
    form = report_form(reader())
    submission = formdata.parse(
        form["schema"],
        request.form,
        request.files,
        lambda name, content: gl.upload(username(), name, content),
        reader().calendar().timezone,
    )
    if submission.errors:
        return _render(form, submission.values, submission.errors, status=400)
    try:
        reported = gl.report(username(), submission.data)
    except ValidationFailed as exc:
        return _render(form, submission.values, exc.errors, status=400)
    except Forbidden as exc:
        return _render(form, submission.values, notice=errors.message(exc), status=403)
    return redirect(url_for("report.done", event_id=reported["id"]), code=303)


@bp.get("/report/<int:event_id>/done")
def done(event_id: int) -> str:
    """The confirmation: the new event's code and a link to its page."""
    event = queries.event_detail(reader().session, reader().actor, event_id)
    return render_template("report_done.html", event=event)
