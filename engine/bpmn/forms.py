"""Task forms: JSON Schemas from ``forms/``, completed with live choices and enforced on the server.

A form property may say ``"x-gridloop-options": "departments" | "grids" | "categories"``; before a form is
shown or checked, :func:`resolve_schema` fills such a property's ``oneOf`` with the current choices, so the
same schema drives both the page and the validation. A property that also says
``"x-gridloop-case-options": "assignments.department"`` offers, on the task's page, only the choices the case's
process data names at that path (:func:`case_choices`: the verify step's rework departments are the departments
of a joint case); the form names the data, so no Python knows the step. :func:`validate` returns errors keyed by field path
(``location.lat``, ``photos.0``), each a :class:`~engine.errors.FieldError` (``min_length`` with its ``limit``)
that the web layer says in the reader's language, and never changes anything. Before any schema is asked,
every value of a submission is held to what the databases and the history can keep (:func:`value_errors`):
text without NUL or lone surrogates (``text.invalid_characters``), numbers JSON carries faithfully, nesting no
deeper than :data:`MAX_DEPTH`; :func:`require_storable` holds a command's free-text arguments to the same rule.

A compiled form (:func:`compile_schema`) checks a submission twice over only when it fails: it first asks
jsonschema-rs (a compiled validator, about a thousand times faster) whether the data is valid, and only when
that says no does jsonschema work out the field-level errors; the submission is refused only on those. So a
valid submission — nearly all of them — costs microseconds, and the errors and their messages stay
jsonschema's. ``tests/test_forms.py`` holds the two validators to the same verdict on every form.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine.errors import FieldError, FieldErrors, ValidationFailed
from engine.store import attachments

OptionSource = Callable[[], list[tuple[str, str]]]

# jsonschema's validators → the codes of their field errors (``limit`` is the schema's value); a validator not
# named here is said with jsonschema's own words (``schema``, in ``problem``)
SCHEMA_FIELD_CODES: dict[str, str] = {
    "required": "required",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minimum": "minimum",
    "maximum": "maximum",
    "minItems": "min_items",
    "maxItems": "max_items",
    "enum": "not_a_choice",
    "const": "not_a_choice",
    "oneOf": "not_a_choice",
    "additionalProperties": "not_allowed",
    "format": "bad_format",
    "pattern": "bad_format",
}
# JSON Schema's types → the code of "should be of this type"
TYPE_FIELD_CODES: dict[str, str] = {
    "string": "type.string",
    "number": "type.number",
    "integer": "type.integer",
    "boolean": "type.boolean",
    "array": "type.array",
    "object": "type.object",
}
LIMITED = frozenset({"minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"})
# a schema node may name the field error said when it refuses a value (``"x-gridloop-message": "phone"`` on a
# phone number's pattern: ``field.phone`` says what a number looks like, where ``bad_format`` could not)
MESSAGE_KEY = "x-gridloop-message"
# the field errors a form may name so (forms/ is data the catalogs' extraction does not read: each code a form
# may name is here, and so has its text in every language); a name not here is said as the schema's own error
FORM_MESSAGE_FIELD_CODES = {
    "phone": "phone",
    "report.patrol_by_own_worker": "report.patrol_by_own_worker",
    "report.channel_not_offered": "report.channel_not_offered",
    "setting.retention_years": "setting.retention_years",
}
# a choice (an entry of a property's ``oneOf``) may be open only to some roles: ``"x-gridloop-roles": [...]``
ROLES_KEY = "x-gridloop-roles"
# the report form's channel choice that may be self-handled (自处理) says so: the grid worker's patrol
SELF_HANDLE_KEY = "x-gridloop-self-handle"


def resolve_schema(schema: Mapping[str, Any], options: Mapping[str, OptionSource]) -> dict[str, Any]:
    """Return a copy of ``schema`` whose option-backed properties list their current choices."""
    resolved = copy.deepcopy(dict(schema))

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            source = node.get("x-gridloop-options")
            if source is not None:
                if source not in options:
                    raise KeyError(f"form option source {source!r} is unknown; known: {', '.join(options)}")
                node["oneOf"] = [{"const": value, "title": title} for value, title in options[source]()]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(resolved)
    return resolved


def case_values(data: Any, path: str) -> list[Any]:
    """The values at a dotted ``path`` of process data, a list on the way standing for each of its items
    (``assignments.department`` → every assignment's department), in order and once each."""
    found = [data]
    for key in path.split("."):
        step: list[Any] = []
        for value in found:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Mapping) and key in item:
                    step.append(item[key])
        found = step
    flat = [v for value in found for v in (value if isinstance(value, list) else [value])]
    return [v for n, v in enumerate(flat) if v not in flat[:n]]


def case_choices(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a resolved ``schema`` whose ``x-gridloop-case-options`` properties offer only the choices the
    case's process ``data`` names at that path, in the case's order (none when the data names none). It narrows
    what a page offers; the validation keeps the form's whole list."""
    narrowed = copy.deepcopy(dict(schema))

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            path = node.get("x-gridloop-case-options")
            if isinstance(path, str) and isinstance(node.get("oneOf"), list):
                titles = {c.get("const"): c for c in node["oneOf"] if isinstance(c, Mapping)}
                node["oneOf"] = [titles[v] for v in case_values(data, path) if v in titles]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(narrowed)
    return narrowed


def _field_path(error: ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
    elif error.validator == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else ""
        path.append(extra)
    return ".".join(p for p in path if p) or "_form"


def _field_error(error: ValidationError) -> FieldError:
    validator = str(error.validator)
    expected = error.validator_value
    named = named_message(error.schema, "") if isinstance(error.schema, Mapping) else ""
    if named:  # the form's own words for what this node refuses
        return FieldError(named)
    if validator == "type":  # one type, or the first of several a code names ("integer" of integer-or-null)
        named_types = [
            t for t in ([expected] if isinstance(expected, str) else expected) if t in TYPE_FIELD_CODES
        ]
        if named_types:
            return FieldError(TYPE_FIELD_CODES[named_types[0]])
    code = SCHEMA_FIELD_CODES.get(validator)
    if code is None:
        return FieldError("schema", {"problem": error.message})
    return FieldError(code, {"limit": error.validator_value} if validator in LIMITED else {})


def apply_defaults(schema: Mapping[str, Any], data: Any) -> Any:
    """``data`` with the schema's top-level ``default`` values filled in for absent fields.

    A form field with a default need not be sent (an API client that knows only the older form still gets
    the path the designer made the default); what was filled in is part of the recorded submission.
    """
    if not isinstance(data, dict):
        return data
    filled = dict(data)
    for name, prop in schema.get("properties", {}).items():
        if name not in filled and isinstance(prop, dict) and "default" in prop:
            filled[name] = copy.deepcopy(prop["default"])
    return filled


class CompiledForm:
    """A form schema compiled twice: jsonschema-rs for the verdict, jsonschema for the errors of a failure."""

    __slots__ = ("fast", "full")

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.full = Draft202012Validator(dict(schema))
        self.fast = jsonschema_rs.Draft202012Validator(dict(schema))

    def passes(self, data: Any) -> bool:
        """True when the compiled validator finds ``data`` valid (data it cannot take, such as a datetime, is
        left to jsonschema)."""
        try:
            return self.fast.is_valid(data)
        except (ValueError, TypeError, OverflowError):
            return False


def compile_schema(schema: Mapping[str, Any]) -> CompiledForm:
    """A reusable validator for a (resolved) form schema.

    A ``oneOf`` of plain choices (``const`` with a title or description, as option lists are) is checked as
    the ``enum`` it means: the same values pass, without one failed comparison per other choice.
    """
    return CompiledForm(_choices_as_enums(schema))


def _choices_as_enums(node: Any) -> Any:
    if isinstance(node, list):
        return [_choices_as_enums(value) for value in node]
    if not isinstance(node, Mapping):
        return node
    result = {key: _choices_as_enums(value) for key, value in node.items()}
    choices = result.get("oneOf")
    if (
        isinstance(choices, list)
        and choices
        and all(
            isinstance(c, Mapping)
            and "const" in c
            and all(k in ("const", "title", "description") or k.startswith("x-gridloop-") for k in c)
            for c in choices
        )
    ):
        values = [c["const"] for c in choices]
        if all(values.count(v) == 1 for v in values) and "enum" not in result:
            del result["oneOf"]
            result["enum"] = values
    return result


_INT64 = range(-(2**63), 2**63)
# a submission nested deeper than this is refused: no form goes beyond a few levels (location.lat, photos.0),
# and every walk over the data (the validators, the history's hashing, the stored state) stays shallow
MAX_DEPTH = 32
# characters no database stores as text: NUL (PostgreSQL refuses it) and lone surrogates (not encodable as UTF-8,
# so neither SQLite nor PostgreSQL takes them; a JSON body can carry one as an escape, ``"\\ud800"``)
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> bool:
    """Whether ``text`` holds only characters the databases store (no NUL, no lone surrogate)."""
    return UNSTORABLE.search(text) is None


def require_storable(texts: Mapping[str, str | None]) -> None:
    """Refuse the free-text arguments of a command that are not a form (field name → text, None for one not
    given) when any holds characters the databases cannot store: :class:`ValidationFailed` naming each such field
    with ``text.invalid_characters``, before the command reads or writes anything with them."""
    errors: FieldErrors = {
        name: [FieldError("text.invalid_characters")]
        for name, text in texts.items()
        if isinstance(text, str) and not storable(text)
    }
    if errors:
        raise ValidationFailed(
            "{fields}: the text holds characters no database stores (NUL, lone surrogates)",
            errors,
            code="text.invalid_characters",
            fields=", ".join(errors),
        )


def value_errors(value: Any, path: tuple[str, ...] = ()) -> FieldErrors:
    """Errors of the values in ``value`` (submitted data, a setting) that no JSON column and no history record
    can carry as they are, keyed by field path: text with characters the databases do not store (in a key or a
    value), NaN, infinities and integers beyond 64 bits (the workflow state and the history would not read them
    back as they were), and nesting deeper than :data:`MAX_DEPTH` (said once, at its top-level field).

    The walk stops at that depth, so it never recurses further than the limit, whatever it is given."""
    errors: FieldErrors = {}
    _collect(value, path, 0, errors)
    return errors


def _refuse(errors: FieldErrors, path: tuple[str, ...], error: FieldError) -> None:
    found = errors.setdefault(".".join(path) or "_form", [])
    if error not in found:
        found.append(error)


def _collect(value: Any, path: tuple[str, ...], depth: int, errors: FieldErrors) -> None:
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        _refuse(errors, path[:1], FieldError("nesting_too_deep", {"limit": MAX_DEPTH}))
    elif isinstance(value, dict):
        for key, item in value.items():
            name = str(key)
            if storable(name):
                _collect(item, (*path, name), depth + 1, errors)
            else:  # named in the answer with what can be shown in its place
                _refuse(
                    errors, (*path, UNSTORABLE.sub("\ufffd", name)), FieldError("text.invalid_characters")
                )
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _collect(item, (*path, str(index)), depth + 1, errors)
    elif isinstance(value, str):
        if not storable(value):
            _refuse(errors, path, FieldError("text.invalid_characters"))
    elif (
        isinstance(value, float)
        and not math.isfinite(value)
        or (isinstance(value, int) and not isinstance(value, bool) and value not in _INT64)
    ):
        _refuse(errors, path, FieldError("bad_number"))


def validate(schema: Mapping[str, Any] | CompiledForm, data: Any) -> FieldErrors:
    """Check ``data`` against a schema (or a compiled validator); return ``{field path: [field errors]}``.

    An empty result means the data is valid. Values no database can keep (:func:`value_errors`) are refused
    before the schema is asked, whatever it allows.
    """
    if not isinstance(data, dict):
        return {"_form": [FieldError("not_an_object")]}
    errors = value_errors(data)
    if errors:
        return errors
    compiled = schema if isinstance(schema, CompiledForm) else compile_schema(schema)
    if compiled.passes(data):
        return errors
    for error in sorted(compiled.full.iter_errors(data), key=lambda e: list(e.absolute_path)):
        leaves = error.context if error.validator in ("anyOf", "allOf") and error.context else [error]
        for leaf in leaves:
            found = errors.setdefault(_field_path(leaf), [])
            field_error = _field_error(leaf)
            if field_error not in found:
                found.append(field_error)
    return errors


class FormCache:
    """The forms of deployed versions with their live choices filled in, and their compiled validators.

    Choices come from the organisation (departments, grids) and the version's routing table (categories);
    the compiled validators are kept per (version, form) until the organisation changes (:meth:`clear`).
    """

    def __init__(self, directory: Callable[[Any], Any]) -> None:
        self._directory = directory
        self._validators: dict[tuple[int, str | None], CompiledForm] = {}

    def _options(self, session: Any, bundle: Any) -> dict[str, OptionSource]:
        directory = self._directory(session)

        def departments() -> list[tuple[str, str]]:
            return [(d.code, d.name) for d in sorted(directory.departments.values(), key=lambda d: d.code)]

        def grids() -> list[tuple[str, str]]:
            return [(g.code, g.name) for g in directory.grids()]

        def categories() -> list[tuple[str, str]]:
            return [(c.code, f"{c.class_name} / {c.name}") for c in bundle.categories]

        return {"departments": departments, "grids": grids, "categories": categories}

    def resolved(self, session: Any, bundle: Any, form: str | None) -> dict[str, Any]:
        """A form's JSON Schema with its live choices filled in (an empty object schema for no form)."""
        if not form:
            return {"type": "object", "properties": {}, "additionalProperties": False}
        return resolve_schema(bundle.forms[form], self._options(session, bundle))

    def preview(self, session: Any, bundle: Any, schema: Mapping[str, Any]) -> dict[str, Any]:
        """A form being edited (not yet deployed) with the live choices of ``bundle``'s version filled in."""
        return resolve_schema(schema, self._options(session, bundle))

    def validator(self, session: Any, version_id: int, bundle: Any, form: str | None) -> CompiledForm:
        """The compiled validator of a form of a version, with its choices as they stand."""
        key = (version_id, form)
        validator = self._validators.get(key)
        if validator is None:
            validator = compile_schema(self.resolved(session, bundle, form))
            self._validators[key] = validator
        return validator

    def clear(self) -> None:
        """Forget the compiled validators (their choices changed)."""
        self._validators.clear()


def named_message(node: Mapping[str, Any], default: str) -> str:
    """The field error code a schema node (a property, a choice) names with ``x-gridloop-message``, when it is
    one of :data:`FORM_MESSAGE_FIELD_CODES`; ``default`` otherwise."""
    return FORM_MESSAGE_FIELD_CODES.get(str(node.get(MESSAGE_KEY)), default)


def choices(schema: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """The choices (``oneOf`` entries, each with its ``const``) of the form's top-level property ``name``."""
    prop = schema.get("properties", {}).get(name, {})
    return [dict(c) for c in prop.get("oneOf", []) if isinstance(c, Mapping) and "const" in c]


def open_to(choice: Mapping[str, Any], roles: set[str]) -> bool:
    """Whether one holding ``roles`` may pick ``choice``: it names no roles (``x-gridloop-roles``), or one of them."""
    limited = choice.get(ROLES_KEY)
    return limited is None or bool(roles & set(limited))


def photo_ids(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, list[str]]:
    """The attachment ids in the form's photo fields, by field."""
    return {
        name: [str(v) for v in data[name]]
        for name, prop in schema.get("properties", {}).items()
        if prop.get("x-gridloop-widget") == "photos" and isinstance(data.get(name), list)
    }


def photo_errors(
    session: Any,
    schema: Mapping[str, Any],
    data: Mapping[str, Any],
    username: str,
    event_id: int | None = None,
) -> FieldErrors:
    """Photo fields must reference attachments ``username`` may use: uploaded by them, or already the event's.

    A field the form's validation refuses anyway (more ids than its ``maxItems``, an id that is not storable
    text) is not looked up: the database would not take such a query, and the field has its errors already."""
    errors: FieldErrors = {}
    for name, ids in photo_ids(schema, data).items():
        limit = schema["properties"][name].get("maxItems")
        if (limit is not None and len(ids) > limit) or not all(storable(i) for i in ids):
            continue
        unknown = attachments.missing(session, ids, username, event_id)
        if unknown:
            errors[name] = [FieldError("attachment_missing", {"ids": ", ".join(unknown)})]
    return errors
