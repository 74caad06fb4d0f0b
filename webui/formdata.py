"""Forms drawn from JSON Schemas: which widget shows a property, how a submitted HTML form becomes typed
data for the engine, and how stored values read on a page.

The schema the engine validates against is the one the page is drawn from (DESIGN.md rule 6). This module only
maps between HTML's strings and the schema's types: booleans, numbers, arrays, nested objects (dotted names
such as ``location.lat``, the same paths the engine keys its field errors by) and uploaded photos, which are
stored through the engine first and referenced by id. It never decides what is valid: a value it cannot
convert is passed on as typed, and the engine answers with a field error in the user's language.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from flask import Blueprint, render_template
from werkzeug.datastructures import FileStorage, MultiDict

from engine.errors import FieldError, FieldErrors, ValidationFailed
from engine.store.attachments import StoredAttachment
from webui.i18n import field_message, translate

bp = Blueprint("formdata", __name__)

RADIO_LIMIT = 4  # a required choice of up to this many options shows as radio buttons, else as a select
TEXTAREA_FROM = 200  # strings allowed longer than this get a text area
DATETIME_INPUT = "%Y-%m-%dT%H:%M"

Values = dict[str, Any]  # what the user typed, by field name: a text, or a list of texts (or photo ids)
Upload = Callable[[str, bytes], StoredAttachment]


@dataclass
class Submission:
    """A parsed form: the typed ``data`` for the engine, the ``values`` as typed (to show the form again), and
    the ``errors`` found on the way (uploads refused), keyed like the engine's field errors."""

    data: dict[str, Any] = field(default_factory=dict)
    values: Values = field(default_factory=dict)
    errors: FieldErrors = field(default_factory=dict)


def render_form(
    template: str,
    values: Values,
    form_errors: FieldErrors | None = None,
    notice: str | None = None,
    status: int = 200,
    **context: Any,
) -> tuple[str, int]:
    """A page holding a schema form, with what was typed, its field errors and a notice, and its status."""
    page = render_template(template, values=values, errors=form_errors or {}, notice=notice, **context)
    return page, status


def raw(value: Any) -> str:
    """A schema value as an HTML form sends it back (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _choices(prop: Mapping[str, Any]) -> list[tuple[Any, str]]:
    """A property's own choices as (value, title): its ``oneOf`` consts or its ``enum``."""
    if prop.get("oneOf") and all("const" in choice for choice in prop["oneOf"]):
        return [(c["const"], c.get("title") or raw(c["const"])) for c in prop["oneOf"]]
    return [(v, raw(v)) for v in prop.get("enum", [])]


@bp.app_template_global()
def options(prop: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A property's choices as (form value, title): its ``oneOf`` consts, its ``enum``, or yes/no."""
    if prop.get("type") == "boolean" and not _choices(prop):
        return [("true", translate("common.yes")), ("false", translate("common.no"))]
    return [(raw(value), title) for value, title in _choices(prop)]


@bp.app_template_global()
def widget(prop: Mapping[str, Any], required: bool = False) -> str:
    """The widget that shows a property: photos, object, multi, lines, boolean (a required yes/no), checkbox,
    radio, select, number, date, datetime, textarea or text."""
    kind = prop.get("type")
    if prop.get("x-gridloop-widget") == "photos":
        return "photos"
    if kind == "object":
        return "object"
    if kind == "array":
        return "multi" if _choices(prop.get("items", {})) else "lines"
    if kind == "boolean":
        return "boolean" if required else "checkbox"
    if _choices(prop):
        return "radio" if required and len(_choices(prop)) <= RADIO_LIMIT else "select"
    if kind in ("number", "integer"):
        return "number"
    if prop.get("format") == "date":
        return "date"
    if prop.get("format") == "date-time":
        return "datetime"
    if prop.get("x-gridloop-widget") == "textarea" or (prop.get("maxLength") or 0) > TEXTAREA_FROM:
        return "textarea"
    return "text"


def _number(text: str, integer: bool) -> int | float | str:
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    if integer and number.is_integer():
        return int(number)
    return int(text) if text.lstrip("+-").isdigit() else number


def _moment(text: str, timezone: tzinfo) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone)
    return moment.isoformat()


def convert(prop: Mapping[str, Any], text: str, timezone: tzinfo) -> Any:
    """One typed value of a property from its form text; text that does not convert is returned as it is."""
    for value, _title in _choices(prop):
        if raw(value) == text:
            return value
    if prop.get("type") == "boolean":
        return {"true": True, "false": False, "on": True}.get(text, text)
    if prop.get("type") in ("number", "integer"):
        return _number(text, prop.get("type") == "integer")
    if prop.get("format") == "date-time":
        return _moment(text, timezone)
    return text


def _photos(
    key: str, form: MultiDict, files: MultiDict, upload: Upload | None, found: Submission
) -> list[str]:
    """Photo ids kept from an earlier try plus the files chosen now, each stored through ``upload``."""
    ids = [value for value in form.getlist(key) if value]
    storage: FileStorage
    for storage in files.getlist(key) if upload is not None else ():
        if not storage.filename:
            continue
        try:
            assert upload is not None
            ids.append(upload(storage.filename, storage.read()).id)
        except ValidationFailed as exc:
            for messages in exc.errors.values():
                found.errors.setdefault(key, []).extend(
                    translate("form.file_refused", file=storage.filename, message=field_message(m))
                    for m in messages
                )
    return ids


def _parse_object(
    schema: Mapping[str, Any],
    form: MultiDict,
    files: MultiDict,
    upload: Upload | None,
    timezone: tzinfo,
    prefix: str,
    target: dict[str, Any],
    found: Submission,
) -> None:
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        key = prefix + name
        kind = widget(prop, name in required)
        if kind == "object":
            inner: dict[str, Any] = {}
            _parse_object(prop, form, files, upload, timezone, key + ".", inner, found)
            if inner:
                target[name] = inner
        elif kind == "photos":
            ids = _photos(key, form, files, upload, found)
            found.values[key] = ids
            if ids:
                target[name] = ids
        elif kind in ("multi", "lines"):
            texts = form.getlist(key) if kind == "multi" else form.get(key, "").splitlines()
            texts = [t.strip() for t in texts if t.strip()]
            found.values[key] = texts if kind == "multi" else form.get(key, "")
            if texts:
                target[name] = [convert(prop.get("items", {}), t, timezone) for t in texts]
        elif kind == "checkbox":
            checked = form.get(key) in ("true", "on")
            found.values[key] = "true" if checked else ""
            target[name] = checked
        else:
            text = form.get(key, "").strip()
            found.values[key] = text
            if text:
                target[name] = convert(prop, text, timezone)


def parse(
    schema: Mapping[str, Any], form: MultiDict, files: MultiDict, upload: Upload | None, timezone: tzinfo
) -> Submission:
    """Turn a submitted HTML form into data of the schema's types; empty fields are left out.

    Photo files are stored through ``upload`` (the engine checks their size and type; None leaves new files
    aside); a refused file becomes an error of its field, and the ids of the files already stored come back in
    ``values`` so that nothing has to be chosen twice.
    """
    found = Submission()
    _parse_object(schema, form, files, upload, timezone, "", found.data, found)
    return found


def values_of(schema: Mapping[str, Any], data: Mapping[str, Any], prefix: str = "") -> Values:
    """The form values (as typed) that show ``data`` in a form drawn from ``schema``."""
    values: Values = {}
    for name, prop in schema.get("properties", {}).items():
        if name not in data:
            continue
        key, value = prefix + name, data[name]
        if isinstance(value, dict):
            values.update(values_of(prop, value, key + "."))
        elif isinstance(value, list) and widget(prop) == "lines":
            values[key] = "\n".join(raw(v) for v in value)
        elif isinstance(value, list):
            values[key] = [raw(v) for v in value]
        else:
            values[key] = raw(value)
    return values


@bp.app_template_global()
def describe(prop: Mapping[str, Any], value: Any) -> str:
    """A stored value as staff read it: choice titles, yes/no, lists and nested values spelled out."""
    if isinstance(value, bool):
        return translate("common.yes" if value else "common.no")
    if isinstance(value, list):
        items = prop.get("items", {})
        return translate("common.separator").join(describe(items, v) for v in value)
    if isinstance(value, dict):
        inner = prop.get("properties", {})
        return translate("common.separator").join(
            f"{inner.get(k, {}).get('title', k)} {describe(inner.get(k, {}), v)}" for k, v in value.items()
        )
    titles = dict(options(prop))
    return titles.get(raw(value), raw(value))


@bp.app_template_global()
def field_errors(
    errors: Mapping[str, list[FieldError | str]] | None, name: str, nested: bool = True
) -> list[FieldError | str]:
    """The errors of field ``name`` and, when ``nested``, of its parts (``photos.0``); the ``messages`` macro
    says them (the ``field_message`` filter)."""
    if not errors:
        return []
    found = list(errors.get(name, []))
    if nested:
        for key, messages in errors.items():
            if key.startswith(name + "."):
                found.extend(messages)
    return found


@bp.app_template_global()
def loose_errors(
    errors: Mapping[str, list[FieldError | str]] | None, schema: Mapping[str, Any]
) -> list[FieldError | str]:
    """Errors of no field the form shows (``_form``, or a field the page does not draw)."""
    shown = set(schema.get("properties", {}))
    return [m for key, messages in (errors or {}).items() if key.split(".")[0] not in shown for m in messages]
