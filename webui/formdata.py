"""Forms drawn from JSON Schemas: which widget shows a property, how a submitted HTML form becomes typed
data for the engine, and how stored values read on a page.

The schema the engine validates against is the one the page is drawn from (DESIGN.md rule 6). This module only
maps between HTML's strings and the schema's types: booleans, numbers, arrays, nested objects (dotted names
such as ``location.lat``, the same paths the engine keys its field errors by) and uploaded photos, which are
stored through the engine first and referenced by id. It never decides what is valid: a value it cannot
convert is passed on as typed, and the engine answers with a field error in the user's language.

**Fields that fit the outcome.** :func:`field_rules` reads, from the schema itself, when each top-level field
is shown and when it is required: ``if``/``then``/``else`` (alone or in ``allOf``), ``dependentRequired``,
``dependentSchemas``, ``dependencies`` and a ``oneOf``/``anyOf`` of object branches told apart by a ``const``
or ``enum``. A field belongs to a branch when the branch requires it or names it in its ``properties``; the
convention for a field that belongs to an outcome without being required by it is to name it in that branch's
``then.properties`` with the schema ``true`` (``"photos": true`` in handle's "done" branch), which constrains
nothing, so validation is unchanged. A field no branch names is always shown. The conditions are a small
language that ``static/js/forms.js`` evaluates live — ``{"action": ["extension"]}`` (the sibling field's form
value is one of these; ``""`` is "nothing chosen"), ``{"report": true}`` (the field is filled in), and
``{"allOf": [...]}`` / ``{"anyOf": [...]}`` — and that :func:`condition_text` says in words, so that without
JavaScript every field is drawn with a hint saying when it is needed. Whatever the derivation does not
understand leaves its fields always shown, never hidden. The server still validates the whole schema.
A choice field with no or a single choice that nothing requires (a joint case's rework departments on a case
with one department) is not drawn (:func:`drawn_fields`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Final

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
    radio, select, number, date, datetime, textarea, tel (``"x-gridloop-widget": "tel"``: a phone's keypad) or
    text."""
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
    if prop.get("x-gridloop-widget") == "tel":
        return "tel"
    return "text"


Condition = dict[str, Any]  # {field: [form values]} | {field: True} | {"allOf": [...]} | {"anyOf": [...]}
UNKNOWN: Final[Condition] = {"unknown": True}  # a condition the derivation does not understand (never sent)
COMBINATORS = ("allOf", "anyOf")


@dataclass(frozen=True)
class FieldRule:
    """When a field is shown and when it is required; None for "always shown" and "required only as the
    schema's top-level ``required`` says"."""

    show_when: Condition | None = None
    require_when: Condition | None = None


def _is_choice_field(prop: Mapping[str, Any]) -> bool:
    return any(key in prop for key in ("enum", "oneOf", "x-gridloop-options"))


def _values_of(prop: Mapping[str, Any]) -> list[str] | None:
    """Every form value a field can send ("" for none chosen), or None when they are not a known few."""
    if prop.get("type") == "boolean" or _choices(prop):
        return [value for value, _title in options(prop)] + [""]
    return None


def _all(conditions: list[Condition]) -> Condition:
    if any(c is UNKNOWN for c in conditions):
        return UNKNOWN
    unique = [c for n, c in enumerate(conditions) if c not in conditions[:n]]
    return unique[0] if len(unique) == 1 else {"allOf": unique}


def _any(conditions: list[Condition]) -> Condition:
    if any(c is UNKNOWN for c in conditions):
        return UNKNOWN
    unique = [c for n, c in enumerate(conditions) if c not in conditions[:n]]
    return unique[0] if len(unique) == 1 else {"anyOf": unique}


def _and(outer: Condition | None, inner: Condition) -> Condition:
    return inner if outer is None else _all([outer, inner])


def _negate(condition: Condition, properties: Mapping[str, Any]) -> Condition:
    """The opposite of a condition, said again in the same small language (the complement of a choice)."""
    if condition is UNKNOWN:
        return UNKNOWN
    if "allOf" in condition:
        return _any([_negate(c, properties) for c in condition["allOf"]])
    if "anyOf" in condition:
        return _all([_negate(c, properties) for c in condition["anyOf"]])
    opposites: list[Condition] = []
    for name, wanted in condition.items():
        if wanted is True:
            opposites.append({name: [""]})
            continue
        if wanted == [""]:
            opposites.append({name: True})
            continue
        every = _values_of(properties.get(name, {}))
        if every is None:
            return UNKNOWN
        opposites.append({name: [v for v in every if v not in wanted]})
    return _any(opposites)


def _if_condition(node: Any, properties: Mapping[str, Any]) -> Condition:
    """The condition an ``if`` schema (or a branch's discriminator) states about sibling fields."""
    if not isinstance(node, Mapping) or not set(node) <= {"properties", "required", "type", *COMBINATORS}:
        return UNKNOWN
    required = node.get("required", [])
    parts: list[Condition] = []
    for name, sub in node.get("properties", {}).items():
        if name not in properties or not isinstance(sub, Mapping):
            return UNKNOWN
        if set(sub) == {"const"}:
            wanted = [raw(sub["const"])]
        elif set(sub) == {"enum"} and isinstance(sub["enum"], list):
            wanted = [raw(v) for v in sub["enum"]]
        else:
            return UNKNOWN
        parts.append({name: wanted if name in required else [*wanted, ""]})
    for name in required:
        if name not in node.get("properties", {}):
            parts.append({name: True} if name in properties else UNKNOWN)
    parts += [_all([_if_condition(s, properties) for s in node["allOf"]])] if "allOf" in node else []
    parts += [_any([_if_condition(s, properties) for s in node["anyOf"]])] if "anyOf" in node else []
    return _all(parts) if parts else UNKNOWN


def _discriminator(branch: Mapping[str, Any], properties: Mapping[str, Any]) -> tuple[Condition, set[str]]:
    """What tells a ``oneOf``/``anyOf`` branch apart (its ``const``/``enum`` properties) and those fields."""
    keys = {
        name
        for name, sub in branch.get("properties", {}).items()
        if isinstance(sub, Mapping) and set(sub) & {"const", "enum"}
    }
    if not keys:
        return UNKNOWN, keys
    test = {
        "properties": {name: branch["properties"][name] for name in keys},
        "required": [name for name in branch.get("required", []) if name in keys],
    }
    return _if_condition(test, properties), keys


class _Rules:
    """The walk over a schema's branches, gathering each field's show and require conditions."""

    def __init__(self, properties: Mapping[str, Any]) -> None:
        self.properties = properties
        self.always: set[str] = set()
        self.shown: dict[str, list[Condition]] = {}
        self.required: dict[str, list[Condition]] = {}

    def tie(
        self, names: Iterable[str], condition: Condition, required: bool, skip: Set[str] = frozenset()
    ) -> None:
        """Fields ``names`` belong to the branch of ``condition`` (and are required by it, when ``required``)."""
        for name in names:
            if name in self.properties and name not in skip:
                self.shown.setdefault(name, []).append(condition)
                if required:
                    self.required.setdefault(name, []).append(condition)

    def branch(self, node: Any, condition: Condition, skip: Set[str] = frozenset()) -> None:
        """A subschema that applies under ``condition``: what it requires or names belongs to it."""
        if not isinstance(node, Mapping):
            return
        self.tie(node.get("properties", {}), condition, False, skip)
        self.tie(node.get("required", []), condition, True, skip)
        self.walk(node, condition)

    def walk(self, node: Mapping[str, Any], condition: Condition | None) -> None:
        """The conditional keywords of ``node`` (the schema itself, or a branch) under ``condition``."""
        for sub in node.get("allOf", []):
            if not isinstance(sub, Mapping):
                continue
            if condition is None:  # a member of the schema's own allOf applies always
                self.always.update(sub.get("required", []))
                self.walk(sub, None)
            else:
                self.branch(sub, condition)
        if "if" in node:
            test = _if_condition(node["if"], self.properties)
            self.branch(node.get("then"), _and(condition, test))
            self.branch(node.get("else"), _and(condition, _negate(test, self.properties)))
        dependencies = {**node.get("dependencies", {}), **node.get("dependentRequired", {})}
        dependencies.update(node.get("dependentSchemas", {}))
        for name, needs in dependencies.items():
            filled = _and(condition, {name: True} if name in self.properties else UNKNOWN)
            if isinstance(needs, list):
                self.tie(needs, filled, True)
            else:
                self.branch(needs, filled)
        for keyword in ("oneOf", "anyOf"):
            for sub in node.get(keyword, []):
                if isinstance(sub, Mapping) and ("properties" in sub or "required" in sub):
                    test, keys = _discriminator(sub, self.properties)
                    self.branch(sub, _and(condition, test), skip=keys)


def _simplified(condition: Condition, properties: Mapping[str, Any]) -> Condition | None:
    """``condition`` with the choices of one field it tests merged, or None when it holds whatever that field
    is (a field tied to both a branch and its ``else``)."""
    parts = condition.get("anyOf", [condition])
    names = {name for part in parts for name in part}
    if len(names) != 1 or not all(
        len(part) == 1 and isinstance(part.get(next(iter(names))), list) for part in parts
    ):
        return condition
    name = next(iter(names))
    merged = [v for part in parts for v in part[name]]
    merged = [v for n, v in enumerate(merged) if v not in merged[:n]]
    every = _values_of(properties.get(name, {}))
    if every is not None and set(every) <= set(merged):
        return None
    return {name: merged}


@bp.app_template_global()
def field_rules(schema: Mapping[str, Any]) -> dict[str, FieldRule]:
    """When each top-level field of ``schema`` is shown and required, derived from its conditional keywords
    (see the module's docstring); a field tied to no branch, or to one not understood, is always shown."""
    properties = schema.get("properties", {})
    rules = _Rules(properties)
    rules.walk(schema, None)
    always = set(schema.get("required", [])) | rules.always
    found: dict[str, FieldRule] = {}
    for name in properties:
        if name in always:
            found[name] = FieldRule()
            continue
        shown = rules.shown.get(name)
        show = None if not shown or _any(shown) is UNKNOWN else _simplified(_any(shown), properties)
        needs = [c for c in rules.required.get(name, []) if c is not UNKNOWN]
        found[name] = FieldRule(
            show_when=show, require_when=_simplified(_any(needs), properties) if needs else None
        )
    return found


def needed(schema: Mapping[str, Any]) -> set[str]:
    """The top-level fields required always or under some condition (drawn as required widgets)."""
    rules = field_rules(schema)
    return set(schema.get("required", [])) | {n for n, r in rules.items() if r.require_when is not None}


@bp.app_template_global()
def drawn_fields(schema: Mapping[str, Any]) -> list[str]:
    """The top-level fields a page draws: all but a choice field with no or a single choice that nothing
    requires (there is nothing to choose; the engine fills in its default)."""
    required = needed(schema)
    drawn = []
    for name, prop in schema.get("properties", {}).items():
        choosing = prop.get("items", {}) if prop.get("type") == "array" else prop
        if name not in required and _is_choice_field(choosing) and len(_choices(choosing)) <= 1:
            continue
        drawn.append(name)
    return drawn


@bp.app_template_global()
def condition_text(condition: Condition, properties: Mapping[str, Any]) -> str:
    """A condition in staff's words: 「办理结果」为「申请延期」, joined by "or"/"and"."""
    if "allOf" in condition or "anyOf" in condition:
        key = "allOf" if "allOf" in condition else "anyOf"
        joiner = translate("form.when.and" if key == "allOf" else "form.when.or")
        return joiner.join(condition_text(c, properties) for c in condition[key])
    parts = []
    for name, wanted in condition.items():
        prop = properties.get(name, {})
        field_title = prop.get("title") or name
        if wanted is True:
            parts.append(translate("form.when.filled", field=field_title))
            continue
        titles = dict(options(prop))
        said = [
            translate("form.when.choice", choice=titles.get(v, v)) if v else translate("form.when.unset")
            for v in wanted
        ]
        choices = translate("form.when.or").join(said)
        parts.append(translate("form.when.is", field=field_title, choices=choices))
    return translate("form.when.and").join(parts)


@bp.app_template_global()
def rule_hint(rule: FieldRule, properties: Mapping[str, Any]) -> str:
    """The hint saying when a conditional field is needed ("…时必填" / "…时填写"), or "" for none."""
    if rule.require_when is not None:
        return translate("form.when.required", condition=condition_text(rule.require_when, properties))
    if rule.show_when is not None:
        return translate("form.when.shown", condition=condition_text(rule.show_when, properties))
    return ""


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
    required = needed(schema)
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
    shown = set(drawn_fields(schema))
    return [m for key, messages in (errors or {}).items() if key.split(".")[0] not in shown for m in messages]
