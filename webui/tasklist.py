"""The Tasklist's working tools on the pages (issue 12): assign, delegate and give back a task, comment on it, set
its follow-up date (on the task page), and save, use and delete named inbox filters (above the inbox).

Thin like the other blueprints: each route parses its form, runs one engine command and goes back to the page it
came from. Field errors show the task page again with the errors beside the tool's fields (400); a task changed
meanwhile (completed, handed on) says so on the page (a 409's message after the redirect); a refusal by role or
scope is the engine's 403 or 404, as everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from engine.errors import Conflict, FieldError, FieldErrors, ValidationFailed
from engine.reads.tasks import task_page
from webui import errors, formdata
from webui.context import gridloop, username
from webui.context import reader as read
from webui.i18n import N_, field_message, translate
from webui.links import local_url

bp = Blueprint("tasklist", __name__)


def _page_with_errors(task_id: int, tool_errors: FieldErrors) -> tuple[str, int]:
    """The task page again, the tool's field errors beside its fields and what was typed in them."""
    page = task_page(read(), task_id)
    values = formdata.values_of(page["form"], page["defaults"])
    return formdata.render_form(
        "task.html", values, None, None, 400, page=page, tool_errors=tool_errors, typed=request.form
    )


def _run(task_id: int, command: Callable[[], Any], done: str) -> Response | tuple[str, int]:
    """Run one command of the task page; back to the task (or where the form says) with its outcome."""
    try:
        command()
    except ValidationFailed as exc:
        return _page_with_errors(task_id, exc.errors)
    except Conflict as exc:  # changed meanwhile: say so on the page it goes back to
        flash(errors.message(exc), "error")
    else:
        flash(translate(done), "success")
    return redirect(local_url(request.form.get("next"), url_for("tasks.show", task_id=task_id)), code=303)


def _text(name: str) -> str:
    return request.form.get(name, "")


def _note() -> str | None:
    return request.form.get("note") or None


@bp.post("/tasks/<int:task_id>/assign")
def assign(task_id: int) -> Response | tuple[str, int]:
    """A leader assigns the task to a colleague (指派)."""
    return _run(
        task_id, lambda: gridloop().assign(username(), task_id, _text("to"), _note()), N_("task.assigned")
    )


@bp.post("/tasks/<int:task_id>/delegate")
def delegate(task_id: int) -> Response | tuple[str, int]:
    """The holder delegates the task to a colleague (委托)."""
    return _run(
        task_id, lambda: gridloop().delegate(username(), task_id, _text("to"), _note()), N_("task.delegated")
    )


@bp.post("/tasks/<int:task_id>/give-back")
def give_back(task_id: int) -> Response | tuple[str, int]:
    """The delegate gives the task back to whoever delegated it."""
    return _run(task_id, lambda: gridloop().give_back(username(), task_id, _note()), N_("task.given_back"))


@bp.post("/tasks/<int:task_id>/comments")
def comment(task_id: int) -> Response | tuple[str, int]:
    """Comment on the task (recorded in its event's history)."""
    return _run(task_id, lambda: gridloop().comment(username(), task_id, _text("text")), N_("task.commented"))


def _follow_up_moment(text: str) -> date | datetime | None:
    """The follow-up field's date (``2026-11-25``) or local datetime (``2026-11-25T09:00``); blank clears it."""
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(
            "not a date", {"follow_up_at": [FieldError("iso_moment")]}, code="task.follow_up_invalid"
        ) from exc


@bp.post("/tasks/<int:task_id>/follow-up")
def follow_up(task_id: int) -> Response | tuple[str, int]:
    """Set or clear the task's follow-up date (待跟进)."""
    clear = request.form.get("clear") == "1"

    def run() -> None:
        moment = None if clear else _follow_up_moment(_text("follow_up_at"))
        gridloop().set_follow_up(username(), task_id, moment)

    return _run(task_id, run, N_("task.follow_up_cleared") if clear else N_("task.follow_up_set"))


# ------------------------------------------------------------------ saved inbox filters

FILTER_FIELDS = ("view", "category", "grid", "colour", "sort")


@bp.post("/inbox/filters")
def save_filter() -> Response:
    """Save the inbox's current filters under a name; field errors come back as a message above the inbox."""
    filters = {name: request.form[name] for name in FILTER_FIELDS if request.form.get(name)}
    back = url_for("inbox.index", **filters)  # type: ignore[arg-type]
    try:
        gridloop().save_filter(username(), _text("name"), filters)
    except (ValidationFailed, Conflict) as exc:
        problems = [
            f"{translate('filter.name' if path == 'name' else 'filter.filters')}: {field_message(found[0])}"
            for path, found in getattr(exc, "errors", {}).items()
        ] or [errors.message(exc)]
        for problem in problems:
            flash(problem, "error")
        return redirect(back, code=303)
    flash(translate("filter.saved"), "success")
    return redirect(back, code=303)


@bp.post("/inbox/filters/<int:filter_id>/delete")
def delete_filter(filter_id: int) -> Response:
    """Delete one of one's saved filters."""
    gridloop().delete_filter(username(), filter_id)
    flash(translate("filter.deleted"), "success")
    return redirect(url_for("inbox.index"), code=303)
