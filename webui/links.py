"""Links between pages: safe return addresses after a form, and page links that keep the current filters."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request, url_for

bp = Blueprint("links", __name__)


def local_url(candidate: str | None, fallback: str) -> str:
    """``candidate`` when it is a path on this site, else ``fallback`` (no open redirects to other hosts)."""
    if candidate and candidate.startswith("/") and not candidate.startswith("//") and "\\" not in candidate:
        return candidate
    return fallback


@bp.app_template_global()
def page_url(page: int) -> str:
    """The current page's URL with the same query arguments, at page ``page``."""
    args: dict[str, Any] = request.args.to_dict()
    args["page"] = page
    return url_for(request.endpoint or "inbox.index", **(request.view_args or {}), **args)


@bp.app_template_global()
def here() -> str:
    """The current page's path and query, to come back to after a form elsewhere."""
    return request.full_path.rstrip("?")
