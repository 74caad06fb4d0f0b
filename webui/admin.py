"""The administrators' pages: district settings edited as JSON, the holiday calendar with a due-time check, and
the live sessions and API tokens, each revocable.

Each setting is saved on its own through :meth:`Gridloop.change_setting`, which validates it: a value that is not
JSON, or that the engine refuses, comes back next to its field as typed and changes nothing. The holiday table
holds the holidays and make-up working days (调休) entered by hand — for years the official calendar does not
know yet — through :meth:`Gridloop.set_calendar_day`; the due-time form beside it shows what a limit comes to
under the calendar as it stands. Everyone but administrators gets 403 from the engine.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from engine.bpmn.forms import MAX_DEPTH
from engine.errors import FieldError, FieldErrors, ValidationFailed
from engine.reads.admin import holiday_table, sessions_table, settings_table
from engine.settings import CALENDAR_NOTE_LENGTH
from engine.time.calendar import UNITS, CalendarError
from webui.context import gridloop, reader, username
from webui.i18n import translate
from webui.links import local_url

bp = Blueprint("admin", __name__, url_prefix="/admin")

DAY_KINDS = {"holiday": False, "workday": True, "remove": None}
# the due-time check's largest limit: ten years of natural days, more than any time limit a district sets
MAX_CHECKED_LIMIT = 3660.0


@bp.app_template_global()
def is_admin() -> bool:
    """Whether the signed-in user administers the district (the navigation then offers the settings)."""
    user = g.get("user")
    return user is not None and user.has_role("admin")


def _settings_page(
    rows: list[dict[str, Any]],
    key: str | None = None,
    text: str = "",
    messages: list[FieldError | str] | None = None,
) -> tuple[str, int]:
    return (
        render_template("admin_settings.html", rows=rows, failed=key, text=text, messages=messages or []),
        400 if messages else 200,
    )


@bp.get("/settings")
def settings() -> tuple[str, int]:
    """Every setting with its current value (as JSON to edit) and its default."""
    return _settings_page(settings_table(reader()))


@bp.post("/settings")
def save_setting() -> Response | tuple[str, int]:
    """Save one setting from its JSON text; errors come back next to it and change nothing."""
    gl = gridloop()
    rows = settings_table(reader())
    key = request.form.get("key", "")
    text = request.form.get("value", "")
    if key not in {row["key"] for row in rows}:
        abort(400)
    try:
        value = json.loads(text)
    except ValueError as exc:
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        return _settings_page(rows, key, text, [translate("admin.bad_json", line=line, column=column)])
    except RecursionError:  # nested deeper than the parser goes: deeper than any setting's value is
        return _settings_page(rows, key, text, [FieldError("nesting_too_deep", {"limit": MAX_DEPTH})])
    try:
        gl.change_setting(username(), key, value)
    except ValidationFailed as exc:
        messages = [message for found in exc.errors.values() for message in found]
        return _settings_page(rows, key, text, messages)
    flash(translate("admin.saved", name=translate(f"setting.{key}", default=key)), "success")
    return redirect(url_for("admin.settings", _anchor=f"setting-{key}"), code=303)


def _due_check(args: MultiDict[str, str]) -> dict[str, Any] | None:
    """The due-time form's values, field errors and, when they are right, the due time and its warnings."""
    if "start" not in args:
        return None
    calendar = reader().calendar()
    values = {name: args.get(name, "").strip() for name in ("start", "limit", "unit")}
    check: dict[str, Any] = {"values": values, "errors": {}, "due": None, "warnings": []}
    try:
        start = datetime.fromisoformat(values["start"]).replace(tzinfo=calendar.timezone)
    except ValueError:
        check["errors"]["start"] = [translate("admin.bad_start")]
    try:
        limit = float(values["limit"])
        if not math.isfinite(limit) or limit > MAX_CHECKED_LIMIT:  # a negative one the calendar names itself
            raise ValueError(values["limit"])
    except ValueError:
        check["errors"]["limit"] = [translate("admin.bad_limit")]
    if values["unit"] not in UNITS:
        check["errors"]["unit"] = [translate("admin.bad_unit")]
    if check["errors"]:
        return check
    try:
        check["due"] = calendar.due_at(start, limit, values["unit"])
    except CalendarError as exc:
        check["errors"]["limit"] = [str(exc)]
        return check
    check["warnings"] = calendar.warnings_for(start, check["due"])
    return check


def _calendar_page(day_form: dict[str, Any] | None = None, status: int = 200) -> tuple[str, int]:
    table = holiday_table(reader())
    return (
        render_template(
            "admin_calendar.html",
            table=table,
            check=_due_check(request.args),
            units=UNITS,
            day_form=day_form or {"values": {"kind": "holiday"}, "errors": {}},
            note_length=CALENDAR_NOTE_LENGTH,
        ),
        status,
    )


@bp.get("/calendar")
def calendar() -> tuple[str, int]:
    """The entered holidays and make-up days, which years are known, and the due-time form (by GET)."""
    return _calendar_page()


@bp.post("/calendar")
def set_day() -> Response | tuple[str, int]:
    """Enter a holiday or a make-up working day for a date, or remove the date's entry."""
    values = {name: request.form.get(name, "").strip() for name in ("day", "kind", "note")}
    form_errors: FieldErrors = {}
    try:
        day = date.fromisoformat(values["day"])
    except ValueError:
        form_errors["day"] = [translate("admin.bad_day")]
    if values["kind"] not in DAY_KINDS:
        form_errors["kind"] = [translate("admin.bad_kind")]
    if not form_errors:
        try:
            gridloop().set_calendar_day(username(), day, DAY_KINDS[values["kind"]], values["note"] or None)
        except ValidationFailed as exc:
            form_errors.update(exc.errors)
    if form_errors:
        holiday_table(reader())  # 403 before anything else for non-admins
        return _calendar_page({"values": values, "errors": form_errors}, status=400)
    flash(translate(f"admin.day_saved.{values['kind']}", day=day.isoformat()), "success")
    return redirect(local_url(request.form.get("next"), url_for("admin.calendar")), code=303)


@bp.get("/sessions")
def sessions() -> str:
    """Every live web session and API token: who, from where, since and until when, with a revoke button."""
    return render_template("admin_sessions.html", rows=sessions_table(reader()))


@bp.post("/sessions/<token_id>/revoke")
def revoke(token_id: str) -> Response:
    """Revoke one session or token: the next request made with it is refused."""
    gridloop().revoke_token(username(), token_id)
    flash(translate("admin.session_revoked"), "success")
    return redirect(url_for("admin.sessions"), code=303)


@bp.post("/users/<name>/sign-out")
def sign_out_everywhere(name: str) -> Response:
    """End every session and token of one user (a lost phone, a leaver)."""
    count = gridloop().sign_out_everywhere(username(), name)
    flash(translate("admin.signed_out_everywhere", user=name, count=count), "success")
    return redirect(url_for("admin.sessions"), code=303)
