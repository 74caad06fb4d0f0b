"""How stored values read on a page: process data, form input and settings as JSON, Chinese kept as written,
and in a table of process data a moment in the district's local time."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from flask import Blueprint

from webui.i18n import iso_moment, local_time

bp = Blueprint("display", __name__)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot show {type(value).__name__} as JSON")


@bp.app_template_filter("json_text")
def json_text(value: Any, indent: int | None = None) -> str:
    """``value`` as JSON text (sorted keys, non-ASCII kept); ``indent`` spreads it over lines for editing."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=indent, default=_plain)


@bp.app_template_filter("json_lines")
def json_lines(value: Any) -> str:
    """``value`` as JSON to edit by hand: a list or object with one item per line, each item on one line, in
    stored order (``[["green", 0.0], …]`` reads as the rows of a table); anything else on one line."""

    def compact(item: Any) -> str:
        return json.dumps(item, ensure_ascii=False, default=_plain)

    if isinstance(value, dict) and value:
        return "{\n" + ",\n".join(f"  {compact(k)}: {compact(v)}" for k, v in value.items()) + "\n}"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(f"  {compact(v)}" for v in value) + "\n]"
    return compact(value)


def _is_moment(value: Any) -> bool:
    return isinstance(value, datetime) or (isinstance(value, str) and iso_moment(value) is not None)


def _local_moments(value: Any) -> Any:
    if _is_moment(value):
        return local_time(value)
    if isinstance(value, dict):
        return {key: _local_moments(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_local_moments(item) for item in value]
    return value


@bp.app_template_filter("value_text")
def value_text(value: Any) -> str:
    """A process-data value as a page's table of values shows it: a moment (a datetime or an ISO datetime
    string) in the district's local time, to the minute, bare or inside lists and objects; anything else as
    :func:`json_text`. The stored form stays on the audit page, in the record's own JSON."""
    return local_time(value) if _is_moment(value) else json_text(_local_moments(value))
