"""The household ledger's pages (人房台账, ``/ledger``): the buildings, dwellings and people of the reader's
scope with their numbers masked; the import of the template (CSV or XLSX) with a dry run that lists every bad
row; and a person's numbers whole for a permitted role — shown on that one answer only (never in a link or a
flash message), the viewing in the admin log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, make_response, render_template, request

from engine.errors import FieldError, FieldErrors, ValidationFailed
from engine.ledger import rows
from engine.reads.ledger import ledger_page
from webui import errors as error_texts
from webui.context import gridloop, reader, username
from webui.i18n import field_message

bp = Blueprint("ledger", __name__)


@bp.app_template_global()
def sees_ledger() -> bool:
    """Whether the navigation offers the ledger: to staff of a territory (not of a department alone)."""
    user = g.get("user")
    return user is not None and any(a.department_code is None for a in user.assignments)


def _render(status: int = 200, **extra: Any) -> tuple[Response, int]:
    grid = request.values.get("grid", "").strip() or None
    flag = request.values.get("flag", "").strip() or None
    page = ledger_page(reader(), grid=grid, flag=flag)
    response = make_response(
        render_template("ledger.html", page=page, values={"grid": grid or "", "flag": flag or ""}, **extra)
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response, status


@bp.get("/ledger")
def index() -> tuple[Response, int]:
    """The ledger of the reader's scope (``?grid=`` one grid or unit, ``?flag=`` people with that flag)."""
    return _render()


@bp.get("/ledger/template.csv")
def template() -> Response:
    """The import template: its columns and an example row (CSV, UTF-8 with a byte-order mark)."""
    response = Response(rows.template(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="ledger-template.csv"'
    return response


def _row_errors(found: FieldErrors) -> list[dict[str, Any]]:
    """Each bad cell as a line, a column and what is wrong, in the reader's language."""
    said = []
    for path, items in found.items():
        parts = path.split(".")
        line, column = (parts[1], parts[2]) if len(parts) == 3 else ("", parts[0])
        said.append({"line": line, "column": column, "messages": [field_message(i) for i in items]})
    return said


@bp.post("/ledger/import")
def import_file() -> tuple[Response, int]:
    """Import (or with ``dry_run`` check) an uploaded ledger file; the page again with what it did or every
    bad row."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        said = [{"line": "", "column": "file", "messages": [field_message(FieldError("required"))]}]
        return _render(400, imported={"errors": said})
    dry_run = request.form.get("dry_run") == "1"
    try:
        summary = gridloop().import_ledger(username(), upload.filename, upload.read(), dry_run=dry_run)
    except ValidationFailed as refused:
        return _render(
            400, imported={"errors": _row_errors(refused.errors), "message": error_texts.message(refused)}
        )
    return _render(imported={"summary": summary})


@bp.post("/ledger/people/<int:person_id>/unmask")
def unmask(person_id: int) -> tuple[Response, int]:
    """A person's numbers whole, on this answer only; the viewing is logged."""
    return _render(whole=gridloop().unmask_person(username(), person_id))


def _person_form() -> dict[str, str]:
    """A person's details as the page's form posts them (the flags' checkboxes joined as the template's cell)."""
    values = {name: request.form.get(name, "") for name in ("name", "kind", "id_number", "phone")}
    values["flags"] = "、".join(request.form.getlist("flags"))
    return values


@bp.post("/ledger/people/<int:person_id>")
def edit(person_id: int) -> tuple[Response, int]:
    """Change a person's details; the page again with what was changed, or the fields' errors."""
    values = _person_form()
    try:
        done = gridloop().edit_person(username(), person_id, values)
    except ValidationFailed as refused:
        return _render(400, edited={"person": person_id, "errors": _row_errors(refused.errors)})
    return _render(edited={"person": person_id, "changed": done["changed"]})


@bp.post("/ledger/dwellings/<int:dwelling_id>/people")
def add(dwelling_id: int) -> tuple[Response, int]:
    """Add a person to a dwelling; the page again with the person, or the fields' errors."""
    values = _person_form()
    try:
        done = gridloop().add_person(username(), dwelling_id, values)
    except ValidationFailed as refused:
        return _render(400, added={"dwelling": dwelling_id, "errors": _row_errors(refused.errors)})
    return _render(added={"dwelling": dwelling_id, "person": done["person"]})


@bp.post("/ledger/people/<int:person_id>/move-out")
def move_out(person_id: int) -> tuple[Response, int]:
    """Mark a person as moved out; the page again without them."""
    gridloop().move_out(username(), person_id)
    return _render(moved={"person": person_id})
