"""Task forms: JSON Schemas from ``forms/``, completed with live choices and enforced on the server.

A form property may say ``"x-gridloop-options": "departments" | "grids" | "categories"``; before a form is
shown or checked, :func:`resolve_schema` fills such a property's ``oneOf`` with the current choices, so the
same schema drives both the page and the validation. :func:`validate` returns errors keyed by field path
(``location.lat``, ``photos.0``), in Chinese by default, and never changes anything.

A compiled form (:func:`compile_schema`) checks a submission twice over only when it fails: it first asks
jsonschema-rs (a compiled validator, about a thousand times faster) whether the data is valid, and only when
that says no does jsonschema work out the field-level errors; the submission is refused only on those. So a
valid submission — nearly all of them — costs microseconds, and the errors and their messages stay
jsonschema's. ``tests/test_forms.py`` holds the two validators to the same verdict on every form.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

OptionSource = Callable[[], list[tuple[str, str]]]

_MESSAGES_ZH: dict[str, str] = {
    "required": "此项为必填项",
    "type": "类型不正确，应为{expected}",
    "minLength": "至少需要 {limit} 个字符",
    "maxLength": "不能超过 {limit} 个字符",
    "minimum": "不能小于 {limit}",
    "maximum": "不能大于 {limit}",
    "minItems": "至少需要 {limit} 项",
    "maxItems": "不能超过 {limit} 项",
    "enum": "不是可选的值",
    "const": "不是可选的值",
    "oneOf": "不是可选的值",
    "additionalProperties": "不允许的字段",
    "format": "格式不正确",
    "pattern": "格式不正确",
}
_TYPE_ZH = {
    "string": "文本",
    "number": "数字",
    "integer": "整数",
    "boolean": "是/否",
    "array": "列表",
    "object": "对象",
}


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


def _field_path(error: ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
    elif error.validator == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else ""
        path.append(extra)
    return ".".join(p for p in path if p) or "_form"


def _message(error: ValidationError, language: str) -> str:
    if language != "zh":
        return error.message
    template = _MESSAGES_ZH.get(str(error.validator))
    if template is None:
        return error.message
    limit = error.validator_value
    expected = _TYPE_ZH.get(str(limit), str(limit)) if error.validator == "type" else ""
    return template.format(limit=limit, expected=expected)


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
        self.full = Draft202012Validator(schema)
        self.fast = jsonschema_rs.Draft202012Validator(schema)

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
            isinstance(c, Mapping) and "const" in c and set(c) <= {"const", "title", "description"}
            for c in choices
        )
    ):
        values = [c["const"] for c in choices]
        if all(values.count(v) == 1 for v in values) and "enum" not in result:
            del result["oneOf"]
            result["enum"] = values
    return result


_INT64 = range(-(2**63), 2**63)


def _odd_numbers(value: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Paths of numbers JSON cannot carry faithfully: NaN, infinities and integers beyond 64 bits (the
    workflow state and the history would not read them back as they were)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _odd_numbers(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _odd_numbers(item, (*path, str(index)))
    elif (
        isinstance(value, float)
        and not math.isfinite(value)
        or (isinstance(value, int) and not isinstance(value, bool) and value not in _INT64)
    ):
        yield path


def validate(
    schema: Mapping[str, Any] | CompiledForm, data: Any, language: str = "zh"
) -> dict[str, list[str]]:
    """Check ``data`` against a schema (or a compiled validator); return ``{field path: [messages]}``.

    An empty result means the data is valid.
    """
    errors: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        message = "提交的数据必须是一个对象" if language == "zh" else "the submitted data must be an object"
        return {"_form": [message]}
    for path in _odd_numbers(data, ()):
        message = (
            "不是有效的数值" if language == "zh" else "not a valid number (non-finite or beyond 64 bits)"
        )
        errors[".".join(path) or "_form"] = [message]
    if errors:
        return errors
    compiled = schema if isinstance(schema, CompiledForm) else compile_schema(schema)
    if compiled.passes(data):
        return errors
    for error in sorted(compiled.full.iter_errors(data), key=lambda e: list(e.absolute_path)):
        leaves = error.context if error.validator in ("anyOf", "allOf") and error.context else [error]
        for leaf in leaves:
            messages = errors.setdefault(_field_path(leaf), [])
            message = _message(leaf, language)
            if message not in messages:
                messages.append(message)
    return errors
