"""The task page: the event's summary, what earlier steps recorded, and the step's form — plus claim and unclaim.

The form is drawn from the task's resolved JSON Schema; a submission is converted to the schema's types, its
photos stored through the engine, and the whole completed in one engine command. Field errors are shown next to
their fields; when someone else completed or claimed the task meanwhile, the page says so and shows the form
again with everything the user typed.
"""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from engine.errors import Conflict, FieldErrors, NotFound, ValidationFailed
from engine.reads.tasks import task_page
from webui import errors, formdata
from webui.context import gridloop, reader, username
from webui.i18n import translate
from webui.links import local_url

bp = Blueprint("tasks", __name__)


def _render(
    page: dict[str, Any],
    values: formdata.Values,
    form_errors: FieldErrors | None = None,
    notice: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return formdata.render_form("task.html", values, form_errors, notice, status, page=page)


@bp.get("/tasks/<int:task_id>")
def show(task_id: int) -> tuple[str, int]:
    """The task with its form prefilled (schema defaults, the proposed department)."""
    page = task_page(reader(), task_id)
    return _render(page, formdata.values_of(page["form"], page["defaults"]))


@bp.post("/tasks/<int:task_id>")
def complete(task_id: int) -> Response | tuple[str, int]:
    """Complete the task with the submitted form; errors and conflicts show the form again as typed."""
    gl = gridloop()
    page = task_page(reader(), task_id)
    upload = (lambda name, content: gl.upload(username(), name, content)) if page["can_complete"] else None
    submission = formdata.parse(
        page["form"], request.form, request.files, upload, reader().calendar().timezone
    )
    if submission.errors:
        return _render(page, submission.values, submission.errors, status=400)
    try:
        gl.complete(username(), task_id, submission.data)
    except ValidationFailed as exc:
        return _render(page, submission.values, exc.errors, status=400)
    except Conflict:
        with contextlib.suppress(NotFound):
            page = task_page(reader(), task_id)
        return _render(page, submission.values, notice=translate("task.conflict"), status=409)
    flash(translate("task.completed", step=page["task"]["name"], code=page["event"]["code"]), "success")
    return redirect(url_for("inbox.index"), code=303)


def _claim_action(task_id: int, claim: bool) -> Response:
    gl = gridloop()
    try:
        if claim:
            gl.claim(username(), task_id)
        else:
            gl.unclaim(username(), task_id)
    except Conflict as exc:  # someone was quicker: say so on the page (a refusal by role answers 403)
        flash(errors.message(exc), "error")
    else:
        flash(translate("task.claimed" if claim else "task.unclaimed"), "success")
    return redirect(local_url(request.form.get("next"), url_for("tasks.show", task_id=task_id)), code=303)


@bp.post("/tasks/<int:task_id>/claim")
def claim(task_id: int) -> Response:
    """Claim the task (认领) so that nobody else works on it; back to where the button was."""
    return _claim_action(task_id, claim=True)


@bp.post("/tasks/<int:task_id>/unclaim")
def unclaim(task_id: int) -> Response:
    """Give a claimed task back to everybody it is offered to."""
    return _claim_action(task_id, claim=False)
