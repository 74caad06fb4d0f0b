"""How stored values read on a page: process data, form input and settings as JSON, Chinese kept as written."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from flask import Blueprint

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
