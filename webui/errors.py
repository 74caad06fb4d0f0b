"""The one place where an error becomes an answer: engine errors and HTTP errors to a status and a page.

Engine errors (:mod:`engine.errors`) map to status codes here and nowhere else: NotFound 404 (out of scope looks
exactly like absent), Forbidden 403, Conflict 409, ValidationFailed 400, no process deployed 503. Staff read the
catalog's ``error.<code>`` for the error's code, filled with its values, in their language (:func:`message`),
never the engine's English message; an error whose code has no entry is said with its kind's generic one. Field
errors are said by :func:`webui.i18n.field_message` next to their fields. Paths under ``/api/`` get JSON instead
of a page (the API blueprint answers its own routes; this covers what reaches no route there).

A page's query string holding characters no database stores (a NUL: ``/events?code=%00``) is refused here with a
400 naming the parameter before any page reads it (the API's query models refuse such text field by field), and
an HTTP error's own headers (a 405's ``Allow``) stay on the answer that takes its place.
"""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from engine.bpmn.forms import UNSTORABLE, storable
from engine.errors import (
    Conflict,
    FieldError,
    Forbidden,
    GridloopError,
    NotDeployed,
    NotFound,
    ProcessFailure,
    ValidationFailed,
)
from engine.org.auth import AuthenticationFailed, TooManyAttempts
from webui.i18n import N_, translate

# engine error → (HTTP status, the JSON API's error code, catalog key of its generic message), most specific
# first: the one place where engine errors become HTTP answers, for the pages and for the API alike
ENGINE_ERRORS: tuple[tuple[type[GridloopError], int, str, str], ...] = (
    (ValidationFailed, 400, "validation_failed", N_("error.validation")),
    (TooManyAttempts, 429, "too_many_attempts", N_("error.too_many_requests")),
    (AuthenticationFailed, 401, "unauthorized", N_("auth.wrong_password")),
    (Forbidden, 403, "forbidden", N_("error.forbidden")),
    (NotFound, 404, "not_found", N_("error.not_found")),
    (Conflict, 409, "conflict", N_("error.conflict")),
    (NotDeployed, 503, "not_deployed", N_("error.not_deployed")),
    (ProcessFailure, 500, "process_failure", N_("error.process_failure")),
)
HTTP_MESSAGES = {
    400: N_("error.bad_request"),
    403: N_("error.forbidden"),
    404: N_("error.not_found"),
    405: N_("error.method"),
    413: N_("error.too_large"),
    429: N_("error.too_many_requests"),
}
INTERNAL = N_("error.internal")


def engine_status(exc: GridloopError) -> tuple[int, str]:
    """The HTTP status and the catalog key of the generic message for an engine error."""
    for kind, status, _code, key in ENGINE_ERRORS:
        if isinstance(exc, kind):
            return status, key
    return 500, INTERNAL


def api_status(exc: GridloopError) -> tuple[int, str]:
    """The HTTP status and the JSON API's error code of an engine error."""
    for kind, status, code, _key in ENGINE_ERRORS:
        if isinstance(exc, kind):
            return status, code
    return 500, "engine_error"


def _names_only_what_was_asked(exc: GridloopError) -> bool:
    """Whether every value a not-found error names is one the request itself gave (its route's ids).

    Out of scope looks exactly like absent, and the answer names nothing the caller did not ask about: the
    engine may have stopped at a related thing (the hidden event of a sheet), whose id would leak.
    """
    asked = {str(value) for value in (request.view_args or {}).values()}
    return all(str(value) in asked for value in exc.params.values())


def message(exc: GridloopError) -> str:
    """What staff read for an engine error, in their language: its code's catalog text, filled with its values,
    or its kind's generic text when the code has none (or a not-found error would name what was not asked)."""
    generic = engine_status(exc)[1]
    if isinstance(exc, NotFound) and not _names_only_what_was_asked(exc):
        return translate(generic)
    text = translate(f"error.{exc.code}", "", **exc.params)
    return text or translate(generic)


def _answer(status: int, text: str, code: str) -> tuple[Response | str, int]:
    if request.path.startswith("/api/"):
        return jsonify(error=code, message=text), status
    return render_template("error.html", status=status, message=text), status


def _engine_error(exc: GridloopError) -> tuple[Response | str, int]:
    status, code = api_status(exc)
    return _answer(status, message(exc), code)


def _csrf_error(exc: CSRFError) -> tuple[Response | str, int]:
    return _answer(400, translate("error.csrf"), "csrf")


def exception_headers(exc: HTTPException) -> list[tuple[str, str]]:
    """The headers an HTTP error carries besides its own page's content type (a 405's ``Allow``, a 429's
    ``Retry-After``), for the answer that takes its page's place."""
    return [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]


def _http_error(exc: HTTPException) -> tuple[Response | str, int, list[tuple[str, str]]]:
    status = exc.code or 500
    key = HTTP_MESSAGES.get(status, INTERNAL)
    body, status = _answer(status, translate(key), key.removeprefix("error."))
    return body, status, exception_headers(exc)


def _refuse_unstorable_query() -> None:
    """Refuse a page's query parameter (its name or its value) holding what no database stores."""
    if request.path.startswith("/api/"):
        return
    for name, value in request.args.items(multi=True):
        if not (storable(name) and storable(value)):
            shown = UNSTORABLE.sub("\ufffd", name)
            raise ValidationFailed(
                "query parameter {name} holds characters no database stores",
                {shown: [FieldError("text.invalid_characters")]},
                code="request.invalid_characters",
                name=shown,
            )


def register(app: Flask) -> None:
    """Install the handlers on the app (blueprint handlers, such as the API's, still answer first), and the
    check of the pages' query strings before every request."""
    app.before_request(_refuse_unstorable_query)
    app.register_error_handler(GridloopError, _engine_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
