"""Interface languages: Chinese (zh-CN) by default, English per user, from gettext catalogs through Flask-Babel.

Every string staff read comes from a catalog, ``webui/translations/<language>/LC_MESSAGES/messages.po``
(compiled to ``messages.mo`` by ``make translations`` and by the wheel's build). Its message ids are stable
keys such as ``inbox.title``, not source text: a page's wording can change in either language without touching
the code or the other catalog, and an engine error's code (``error.task.not_offered``) is a key of the same
kind. Texts take ``%(name)s`` placeholders. Templates call ``_("key", name=value)``, Python code
``translate("key", name=value)``; ``pybabel extract`` (``webui/translations/babel.cfg``) finds both, and :func:`N_` marks an id
that is translated elsewhere than where it is named. Ids the templates build at run time
(``_('state.' ~ value)``) are named in :mod:`webui.runtime_ids`.

The language is the user's choice stored by the engine (:meth:`Gridloop.set_user_language`), copied into the
session at sign-in and on every switch, so that the sign-in page itself can switch too; Flask-Babel's locale
selector reads it (:func:`current_language`), and for the JSON API the caller's Accept-Language. Names that
come from the definitions (steps, categories, form titles, labels, hints and choices) are not in the catalog:
each has its per-language label beside it in its own file (:mod:`engine.bpmn.labels`: ``name.en`` on BPMN
elements, ``x-gridloop-i18n`` in forms, ``en:`` in routing-table cells), and the request's reader
(:func:`webui.context.reader`) reads the definitions in the request's language.

Engine errors and field errors carry codes and values (:class:`~engine.errors.FieldError`); they are said here,
at the edge, in the reader's language (:func:`field_message`, and :func:`webui.errors.message`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations
from flask import Blueprint, Flask, current_app, g, has_request_context, redirect, request, session, url_for
from flask_babel import Babel, get_translations
from werkzeug.wrappers import Response

from engine.app import LANGUAGES
from engine.errors import FieldError
from webui.links import local_url

CATALOG_DIR = Path(__file__).parent / "translations"
DEFAULT_LANGUAGE = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}
ISO_MOMENT_LENGTH = len("2026-01-01T00:00")

bp = Blueprint("i18n", __name__)


def N_(msgid: str) -> str:  # noqa: N802 (gettext's name for the marker)
    """Mark ``msgid`` for ``pybabel extract`` where it is named but translated later (a table of keys)."""
    return msgid


def current_language() -> str:
    """The language of this request: for the JSON API the caller's Accept-Language, for pages the session's
    choice; Chinese unless one of the others is asked for."""
    if request.path.startswith("/api/"):
        return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE
    lang = session.get("lang")
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


@functools.cache
def catalog(language: str) -> NullTranslations:
    """The compiled catalog of ``language``, read once (for work outside a request, such as the CLI's)."""
    return Translations.load(str(CATALOG_DIR), [language])


def _fill(text: str, values: Mapping[str, Any]) -> str:
    return text % {name: _plain(value) for name, value in values.items()}


def _plain(value: Any) -> Any:
    """A value as staff read it in a message: local time for a moment, 90 rather than the 90.0 of a float."""
    if isinstance(value, datetime):
        return local_time(value) if has_request_context() else value.isoformat(timespec="minutes")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def translate(key: str, default: str | None = None, **values: Any) -> str:
    """The catalog text of ``key`` in the current language, with ``values`` filled in.

    A key missing from the catalog gives ``default`` (unformatted), else the key itself, so that a gap shows
    up on the page instead of breaking it (tests check that no key the code names is missing).
    """
    return translate_to(None, key, default, **values)


def translate_to(language: str | None, key: str, default: str | None = None, **values: Any) -> str:
    """:func:`translate` in ``language`` (None: the current request's), also outside a request."""
    translations = get_translations() if language is None else catalog(language)
    text = translations.gettext(key)
    if text == key:
        return default if default is not None else key
    return _fill(text, values)


def field_message(item: FieldError | str, language: str | None = None) -> str:
    """Why a field was refused, in the reader's language: a :class:`FieldError` from its catalog entry
    (``field.<code>``), a string (already said in the reader's language) as it is."""
    if isinstance(item, FieldError):
        return translate_to(language, item.msgid, **item.params)
    return item


def field_messages(
    errors: Mapping[str, list[FieldError | str]], language: str | None = None
) -> dict[str, list[str]]:
    """Every field's errors said in the reader's language (the JSON API's ``errors``)."""
    return {path: [field_message(item, language) for item in found] for path, found in errors.items()}


def local_time(moment: datetime | str | None, with_seconds: bool = False) -> str:
    """A stored time as staff read it: in the district's time zone, to the minute.

    ``moment`` is a datetime or, as process data and JSON reads carry one, an ISO datetime string (a string
    without a zone is already the district's time, as :func:`webui.formdata.convert` reads form input); any
    other string is not a time and is returned as it is.
    """
    if moment is None:
        return ""
    zone = current_app.extensions["gridloop"].calendar.timezone
    if isinstance(moment, str):
        parsed = iso_moment(moment)
        if parsed is None:
            return moment
        moment = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def local_day_or_time(moment: datetime | str | None) -> str:
    """A moment that may stand for a whole day (a follow-up date is the start of its day): the date alone when it
    is midnight in the district's time zone, else as :func:`local_time` says it."""
    shown = local_time(moment)
    return shown[:10] if shown.endswith(" 00:00") else shown


def iso_moment(text: str) -> datetime | None:
    """The datetime an ISO string with a date and a time of day names (``2026-10-15T17:02:00+00:00``); None
    for any other text, a bare date included (a date has no time zone to convert)."""
    if len(text) < ISO_MOMENT_LENGTH or text[10:11] not in ("T", " "):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def actor_name(names: Mapping[str, str], username: str | None) -> str:
    """Who did something, as staff read it: a user's display name from ``names``
    (:func:`engine.reads.labels.display_names`), and "系统" for an actor that is no user — the scheduler's
    ``host:pid``, timers, the CLI, set-up — whose name means nothing to staff."""
    if not username:
        return ""
    return names.get(username) or translate("actor.system")


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
    """Set up Flask-Babel on the catalogs and give templates ``_``, the current language, the time filter,
    ``actor_name`` and the ``field_message`` filter."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(CATALOG_DIR))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    # the templates' ``_`` is :func:`translate` (it takes a ``default``), not Jinja's i18n extension
    Babel(app, locale_selector=current_language, configure_jinja=False)
    app.jinja_env.globals["_"] = translate
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["local_day_or_time"] = local_day_or_time
    app.jinja_env.globals["actor_name"] = actor_name
    app.jinja_env.filters["field_message"] = field_message

    @app.context_processor
    def language() -> dict[str, Any]:
        lang = current_language()
        return {"lang": lang, "html_lang": HTML_LANG[lang], "languages": LANGUAGES}
