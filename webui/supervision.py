"""Supervision (督办): the board of open and cleared sheets, and the sheet actions on the event page.

Supervisors and shift leaders issue a leader's sheet (领导督办) to a department from the event page; the
department's staff reply to it there, or on the task page of the task the sheet is about (its inbox row carries
the sheet's badge). The engine decides who may do either (:mod:`engine.commands.supervising`); this module turns
a form into one call and its answer into a page. A reason or reply left empty comes back next to its field on
the page it was typed on, with what was typed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine.errors import Conflict, ValidationFailed
from engine.reads.boards import supervision_board
from engine.reads.events import event_page
from engine.reads.tasks import task_page
from webui import errors, formdata
from webui.context import gridloop, reader, username
from webui.i18n import translate

bp = Blueprint("supervision", __name__)

BOARD_ROLES = ("supervisor", "shift_leader", "handler", "admin")
STATUSES = ("open", "cleared")


@bp.app_template_global()
def sees_supervision_board() -> bool:
    """Whether the navigation offers the supervision board to the signed-in user."""
    user = g.get("user")
    return user is not None and any(user.has_role(role) for role in BOARD_ROLES)


@bp.get("/supervision")
def board() -> str:
    """Open sheets (or, with ``?status=cleared``, cleared ones) by department, coloured by card."""
    status = request.args.get("status", "")
    status = status if status in STATUSES else "open"
    return render_template(
        "supervision.html",
        board=supervision_board(reader(), status),
        statuses=STATUSES,
    )


def _event_again(event_id: int, form: dict[str, Any], status: int = 400) -> tuple[str, int]:
    """The event page again with a sheet form's errors and values (``form``: which form, errors, values)."""
    page = event_page(reader(), event_id)
    return render_template("event.html", event=page, sheet_form=form), status


def _back(event_id: int) -> Response:
    return redirect(url_for("events.show", event_id=event_id, _anchor="sheets"), code=303)


@bp.post("/events/<int:event_id>/sheets")
def issue(event_id: int) -> Response | tuple[str, int]:
    """Issue a leader's sheet on the event to the chosen department, with the reason given."""
    department = request.form.get("department", "")
    reason = request.form.get("reason", "")
    try:
        gridloop().issue_sheet(username(), event_id, department, reason)
    except ValidationFailed as exc:
        values = {"department": department, "reason": reason}
        return _event_again(event_id, {"name": "issue", "errors": exc.errors, "values": values})
    except Conflict as exc:
        flash(errors.message(exc), "error")
        return _back(event_id)
    flash(translate("sheet.issued"), "success")
    return _back(event_id)


@bp.post("/events/<int:event_id>/sheets/<int:sheet_id>/reply")
def reply(event_id: int, sheet_id: int) -> Response | tuple[str, int]:
    """The department's reply to a sheet of the event."""
    text = request.form.get("reply", "")
    try:
        sheet = gridloop().reply_to_sheet(username(), sheet_id, text, event_id=event_id)
    except ValidationFailed as exc:
        form = {"name": f"reply-{sheet_id}", "errors": exc.errors, "values": {"reply": text}}
        return _event_again(event_id, form)
    except Conflict as exc:
        flash(errors.message(exc), "error")
        return _back(event_id)
    flash(translate("sheet.replied"), "success")
    return _back(sheet["event_id"])


@bp.post("/tasks/<int:task_id>/sheets/<int:sheet_id>/reply")
def reply_on_task(task_id: int, sheet_id: int) -> Response | tuple[str, int]:
    """The reply to a sheet from the page of the task it is about; back to that task's page."""
    text = request.form.get("reply", "")
    back = url_for("tasks.show", task_id=task_id, _anchor=f"sheet-{sheet_id}")
    try:
        gridloop().reply_to_sheet(username(), sheet_id, text, task_id=task_id)
    except ValidationFailed as exc:
        page = task_page(reader(), task_id)
        form = {"name": f"reply-{sheet_id}", "errors": exc.errors, "values": {"reply": text}}
        values = formdata.values_of(page["form"], page["defaults"])
        return formdata.render_form("task.html", values, status=400, page=page, sheet_form=form)
    except Conflict as exc:
        flash(errors.message(exc), "error")
        return redirect(back, code=303)
    flash(translate("sheet.replied"), "success")
    return redirect(back, code=303)
