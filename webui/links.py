"""Links between pages: safe return addresses after a form, and page links that keep the current filters."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, request, url_for

bp = Blueprint("links", __name__)


def local_url(candidate: str | None, fallback: str) -> str:
    """``candidate`` when it is a path on this site, else ``fallback`` (no open redirects to other hosts).

    Browsers drop tabs and line breaks from a URL and read a backslash as a slash, so ``/\t/evil.example``
    would be ``//evil.example``, another host: anything with a control character, white space or a backslash
    is refused, and what is left must parse as a bare path (no scheme, no host) that does not start with ``//``.
    """
    if not candidate or "\\" in candidate or any(c.isspace() or not c.isprintable() for c in candidate):
        return fallback
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or not candidate.startswith("/") or candidate.startswith("//"):
        return fallback
    return candidate


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
