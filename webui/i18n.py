"""Interface languages: Chinese (zh-CN) by default, English per user.

Every string staff read comes from a catalog, ``webui/translations/<language>.json``: flat keys such as
``inbox.title`` mapped to text with ``{name}`` placeholders. Templates call ``_("key", name=value)``; Python
code passes keys, never text. The language is the user's choice stored by the engine
(:meth:`Gridloop.set_user_language`), copied into the session at sign-in and on every switch, so that the
sign-in page itself can switch too. Names that come from the definitions (steps, categories, form labels) are
shown as the designers wrote them.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from engine.app import LANGUAGES
from webui.links import local_url

CATALOG_DIR = Path(__file__).parent / "translations"
DEFAULT_LANGUAGE = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}

bp = Blueprint("i18n", __name__)


def load_catalogs() -> dict[str, dict[str, str]]:
    """Read every language's catalog; a missing or unreadable catalog stops the app from starting."""
    return {
        lang: json.loads((CATALOG_DIR / f"{lang}.json").read_text(encoding="utf-8")) for lang in LANGUAGES
    }


def current_language() -> str:
    """The language of this request: the session's choice, else Chinese."""
    lang = session.get("lang")
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def translate(key: str, default: str | None = None, **values: Any) -> str:
    """The catalog text of ``key`` in the current language, with ``values`` filled in.

    A key missing from the current catalog falls back to Chinese, then to ``default``, then to the key itself,
    so that a gap shows up on the page instead of breaking it (tests check that no key is missing).
    """
    catalogs = current_app.extensions["gridloop_catalogs"]
    text = catalogs[current_language()].get(key) or catalogs[DEFAULT_LANGUAGE].get(key)
    if text is None:
        return default if default is not None else key
    return text.format(**values) if values else text


def local_time(moment: datetime | None, with_seconds: bool = False) -> str:
    """A stored UTC time as staff read it: in the district's time zone, to the minute."""
    if moment is None:
        return ""
    local = moment.astimezone(current_app.extensions["gridloop"].calendar.timezone)
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


@bp.post("/language")
def switch() -> Response:
    """Switch the interface language; a signed-in user's choice is kept by the engine for next time."""
    lang = request.form.get("language", "")
    if lang in LANGUAGES:
        if g.get("user") is not None:
            current_app.extensions["gridloop"].set_user_language(g.user.username, lang)
        session["lang"] = lang
    return redirect(local_url(request.form.get("next"), url_for("inbox.index")), code=303)


def init_app(app: Flask) -> None:
    """Load the catalogs and give templates ``_``, the current language and the time filter."""
    app.extensions["gridloop_catalogs"] = load_catalogs()
    app.jinja_env.globals["_"] = translate
    app.jinja_env.filters["local_time"] = local_time

    @app.context_processor
    def language() -> dict[str, Any]:
        lang = current_language()
        return {"lang": lang, "html_lang": HTML_LANG[lang], "languages": LANGUAGES}
