"""The administrators' pages: district settings edited through forms, the holiday calendar with a due-time check,
and the live sessions and API tokens, each revocable.

Each setting has a form drawn from its JSON Schema (:data:`engine.settings.SCHEMAS`, the schema the engine
validates it with): labels and hints from the catalog (``setting.<key>``, ``setting_help.<key>``,
``setting_field.<name>``), the task forms' field macro for numbers, choices, checkboxes of roles and nested
numbers, and widgets of this page's own (``macros/settings.html``) for working hours as time ranges, the
time-light scheme as rows of colour and threshold, and limits as a table of rows — the process's steps by their
names in the reader's language, the supervision cards. The JSON stays as an advanced view (a ``<details>``)
for what a form cannot say. Either way the setting is saved on its own through :meth:`Gridloop.change_setting`,
one command with its admin-log record, which validates it: a value that is not JSON, or that the engine
refuses, comes back next to its field as typed, with field errors in the reader's language, and changes
nothing. The holiday table
holds the holidays and make-up working days (调休) entered by hand — for years the official calendar does not
know yet — through :meth:`Gridloop.set_calendar_day`; the due-time form beside it shows what a limit comes to
under the calendar as it stands. Everyone but administrators gets 403 from the engine.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import date, datetime
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from engine import settings as district_settings
from engine.bpmn.forms import MAX_DEPTH, resolve_schema
from engine.errors import FieldError, FieldErrors, ValidationFailed
from engine.org.roles import ROLE_KEYS
from engine.reads.admin import grids_table, holiday_table, sessions_table, settings_table
from engine.reads.processes import start_event_id
from engine.settings import CALENDAR_NOTE_LENGTH, LIGHT_COLOURS, NOTICE_CHANNELS
from engine.time.calendar import UNITS, CalendarError
from webui.context import gridloop, reader, username
from webui.formdata import Values, convert, parse, values_of
from webui.i18n import translate
from webui.links import local_url

bp = Blueprint("admin", __name__, url_prefix="/admin")

DAY_KINDS = {"holiday": False, "workday": True, "remove": None}
# the working-hours form's rows of time ranges (a day has two or three periods; the spare rows stay empty)
TIME_RANGE_ROWS = 4
# the time-light form's rows: a scheme has three or four colours
LIGHT_ROWS = 4
# the follow-up answers are the choices of the forms' ``satisfaction`` field (the event's column of that name)
ANSWER_FIELD = "satisfaction"
# the due-time check's largest limit: ten years of natural days, more than any time limit a district sets
MAX_CHECKED_LIMIT = 3660.0


@bp.app_template_global()
def is_admin() -> bool:
    """Whether the signed-in user administers the district (the navigation then offers the settings)."""
    user = g.get("user")
    return user is not None and user.has_role("admin")


def _choices() -> dict[str, Any]:
    """The live choices a setting's schema names (``x-gridloop-options``), titled in the reader's language: the
    roles, and the follow-up answers of the latest version's forms."""
    bundle = reader().bundle()
    answers = {
        str(choice["const"]): choice.get("title") or str(choice["const"])
        for schema in bundle.forms.values()
        for choice in (schema.get("properties", {}).get(ANSWER_FIELD) or {}).get("oneOf", [])
        if "const" in choice
    }
    return {
        "roles": lambda: [(key, translate(f"role.{key}")) for key in ROLE_KEYS],
        "answers": lambda: list(answers.items()),
        "channels": lambda: [(c, translate(f"setting_choice.notice_channels.{c}")) for c in NOTICE_CHANNELS],
    }


def _titled(node: dict[str, Any], key: str) -> None:
    """Give a setting's schema its field titles from the catalog and draw ``[type, "null"]`` as the type (an
    empty field is null); an ``enum`` of words becomes choices titled ``setting_choice.<key>.<value>``."""
    for name, prop in (node.get("properties") or {}).items():
        prop.setdefault("title", translate(f"setting_field.{name}"))
    if isinstance(node.get("type"), list):
        node["type"] = next(kind for kind in node["type"] if kind != "null")
    if node.get("type") == "string" and "enum" in node:
        node["oneOf"] = [
            {"const": v, "title": translate(f"setting_choice.{key}.{v}")} for v in node.pop("enum")
        ]


def _rows(key: str, schema: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    """The rows of a ``limits`` table as (key, name): every step of the latest version (its name in the reader's
    language), the supervision cards or the kinds of sheet; then any other key the value holds, by its key."""
    source = schema.get("x-gridloop-rows")
    if source == "steps":  # the user tasks: the start event's report form has no limit to run out
        bundle = reader().bundle()
        start = start_event_id(bundle)
        found = [(info.bpmn_id, info.name) for info in bundle.user_tasks.values() if info.bpmn_id != start]
    else:  # the supervision cards, or the kinds of sheet (a leader's instruction)
        label = "sheet.kind" if source == "sheet_kinds" else "sheet.card"
        cards = dict.fromkeys([*district_settings.DEFAULTS[key], *value])
        found = [(card, translate(f"{label}.{card}", default=card)) for card in cards]
    known = {row for row, _name in found}
    return found + [(row, row) for row in value if row not in known]


def _form_of(row: dict[str, Any]) -> dict[str, Any]:
    """What draws one setting's form: its schema as drawn (titles, live choices), its widget and rows."""
    key = row["key"]
    if key not in district_settings.SCHEMAS:  # a setting with no schema yet is edited as JSON only
        return {"schema": {}, "widget": "json", "rows": []}
    schema = resolve_schema(copy.deepcopy(district_settings.SCHEMAS[key]), _choices())
    schema["title"] = translate(f"setting_field.{key}")
    _titled(schema, key)
    widget = schema.get("x-gridloop-widget", "field")
    rows = _rows(key, schema, row["value"]) if widget == "limits" else []
    return {"schema": schema, "widget": widget, "rows": rows}


def _form_values(key: str, form: dict[str, Any], value: Any) -> Values:
    """The form values that show ``value`` in the setting's form."""
    if form["widget"] == "json":
        return {}
    if form["widget"] == "time_ranges":
        periods = [p.split("-", 1) for p in str(value).split(",") if "-" in p]
        return {
            f"{key}.{i}.{end}": p[j] for i, p in enumerate(periods) for j, end in enumerate(("start", "end"))
        }
    if form["widget"] == "lights":
        return {f"{key}.{i}.{j}": str(part) for i, pair in enumerate(value) for j, part in enumerate(pair)}
    if form["widget"] == "limits":
        return {f"{key}.{row}.{j}": str(part) for row, limit in value.items() for j, part in enumerate(limit)}
    return values_of({"properties": {key: form["schema"]}}, {key: value})


def _submitted(key: str, form: dict[str, Any], posted: MultiDict[str, str]) -> tuple[Any, Values]:
    """The value a setting's submitted form says, and the values as typed (to show the form again). A field it
    cannot convert is passed on as typed, so that the engine names it."""
    zone = reader().calendar().timezone
    typed: Values = {name: text.strip() for name, text in posted.items() if name.startswith(key + ".")}
    number = {"type": "number"}
    if form["widget"] == "time_ranges":
        periods = [
            f"{typed.get(f'{key}.{i}.start', '')}-{typed.get(f'{key}.{i}.end', '')}"
            for i in range(TIME_RANGE_ROWS)
        ]
        return ",".join(p for p in periods if p != "-"), typed
    if form["widget"] == "lights":
        pairs = [
            [typed.get(f"{key}.{i}.0", ""), convert(number, typed.get(f"{key}.{i}.1", ""), zone)]
            for i in range(LIGHT_ROWS)
        ]
        return [pair for pair in pairs if pair != ["", ""]], typed
    if form["widget"] == "limits":
        limits = {
            row: [convert(number, typed[f"{key}.{row}.0"], zone), typed.get(f"{key}.{row}.1", "")]
            for row, _name in form["rows"]
            if typed.get(f"{key}.{row}.0")
        }
        return limits, typed
    schema = form["schema"]
    found = parse({"properties": {key: schema}}, posted, MultiDict(), None, zone)
    empty: Any = {"array": [], "object": {}}.get(schema.get("type"))
    return found.data.get(key, empty), found.values


def _settings_page(
    rows: list[dict[str, Any]],
    key: str | None = None,
    text: str = "",
    messages: list[FieldError | str] | None = None,
    errors: FieldErrors | None = None,
    typed: Values | None = None,
) -> tuple[str, int]:
    """The settings page: every setting's form with its values (``typed`` for the one that failed, ``key``),
    and the JSON view (``text`` and ``messages`` when the JSON failed; ``errors`` when the form did)."""
    for row in rows:
        row["form"] = _form_of(row)
        row["form_values"] = (
            typed
            if typed is not None and row["key"] == key
            else _form_values(row["key"], row["form"], row["value"])
        )
    failed = bool(messages or errors)
    page = render_template(
        "admin_settings.html",
        rows=rows,
        failed=key if failed else None,
        text=text,
        messages=messages or [],
        errors=errors or {},
        units=UNITS,
        colours=LIGHT_COLOURS,
        time_range_rows=TIME_RANGE_ROWS,
        light_rows=LIGHT_ROWS,
    )
    return page, 400 if failed else 200


@bp.get("/settings")
def settings() -> tuple[str, int]:
    """Every setting with its form, its current value (also as JSON to edit) and its default."""
    return _settings_page(settings_table(reader()))


@bp.post("/settings")
def save_setting() -> Response | tuple[str, int]:
    """Save one setting from its form or, when ``value`` is posted, from its JSON text; errors come back next
    to their fields and change nothing."""
    gl = gridloop()
    rows = settings_table(reader())
    key = request.form.get("key", "")
    found = next((row for row in rows if row["key"] == key), None)
    if found is None:
        abort(400)
    if "value" not in request.form and key in district_settings.SCHEMAS:
        value, typed = _submitted(key, _form_of(found), request.form)
        try:
            gl.change_setting(username(), key, value)
        except ValidationFailed as exc:
            errors: FieldErrors = {}
            for path, messages in exc.errors.items():  # an error of no field of the form is the setting's
                errors.setdefault(path if path.split(".")[0] == key else key, []).extend(messages)
            return _settings_page(rows, key, errors=errors, typed=typed)
        return _saved(key)
    text = request.form.get("value", "")
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
    return _saved(key)


def _saved(key: str) -> Response:
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


# ------------------------------------------------------------------ the grids and their boundaries


def _grids_page(status: int = 200, **outcome: Any) -> tuple[str, int]:
    return render_template("admin_grids.html", table=grids_table(reader()), **outcome), status


def _uploaded_json() -> tuple[Any, FieldErrors]:
    """The uploaded GeoJSON file, or why it cannot be read."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return None, {"file": [FieldError("required")]}
    try:
        return json.loads(upload.read().decode("utf-8-sig")), {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, {"file": [FieldError("geo.not_a_collection")]}


@bp.get("/grids")
def grids() -> tuple[str, int]:
    """The communities and their grids, with the forms that load boundaries and re-divide a community."""
    return _grids_page()


@bp.post("/grids/boundaries")
def load_boundaries() -> tuple[str, int]:
    """Load (or with ``dry_run`` check) an uploaded boundary file; the page again with what it did or its errors."""
    document, errors = _uploaded_json()
    if errors:
        return _grids_page(400, loaded={"errors": errors})
    try:
        summary = gridloop().set_boundaries(username(), document, dry_run=request.form.get("dry_run") == "1")
    except ValidationFailed as refused:
        return _grids_page(400, loaded={"errors": refused.errors})
    return _grids_page(loaded={"summary": summary})


@bp.post("/grids/redivide")
def redivide() -> tuple[str, int]:
    """Re-divide (or with ``dry_run`` preview re-dividing) a community's grids by an uploaded division file."""
    community = request.form.get("community", "")
    document, errors = _uploaded_json()
    if errors:
        return _grids_page(400, divided={"errors": errors, "community": community})
    dry_run = request.form.get("dry_run") == "1"
    try:
        summary = gridloop().redivide(username(), community, document, dry_run=dry_run)
    except ValidationFailed as refused:
        return _grids_page(400, divided={"errors": refused.errors, "community": community})
    return _grids_page(divided={"summary": summary, "community": community})
