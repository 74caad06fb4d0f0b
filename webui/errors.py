"""The one place where an error becomes an answer: engine errors and HTTP errors to a status and a page.

Engine errors (:mod:`engine.errors`) map to status codes here and nowhere else: NotFound 404 (out of scope looks
exactly like absent), Forbidden 403, Conflict 409, ValidationFailed 400, no process deployed 503. Staff read a
catalog message, not the engine's English one; field errors arrive already translated from the engine and are
shown next to their fields by the pages that handle them. Paths under ``/api/`` get JSON instead of a page (the
API blueprint answers its own routes; this covers what reaches no route there).
"""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from engine.errors import (
    Conflict,
    Forbidden,
    GridloopError,
    NotDeployed,
    NotFound,
    ProcessFailure,
    ValidationFailed,
)
from engine.org.auth import AuthenticationFailed
from webui.i18n import translate

# engine error → (HTTP status, the JSON API's error code, catalog key of the message staff read), most specific
# first: the one place where engine errors become HTTP answers, for the pages and for the API alike
ENGINE_ERRORS: tuple[tuple[type[GridloopError], int, str, str], ...] = (
    (ValidationFailed, 400, "validation_failed", "error.validation"),
    (AuthenticationFailed, 401, "unauthorized", "auth.wrong_password"),
    (Forbidden, 403, "forbidden", "error.forbidden"),
    (NotFound, 404, "not_found", "error.not_found"),
    (Conflict, 409, "conflict", "error.conflict"),
    (NotDeployed, 503, "not_deployed", "error.not_deployed"),
    (ProcessFailure, 500, "process_failure", "error.process_failure"),
)
HTTP_MESSAGES = {
    400: "error.bad_request",
    403: "error.forbidden",
    404: "error.not_found",
    405: "error.method",
    413: "error.too_large",
}


def engine_status(exc: GridloopError) -> tuple[int, str]:
    """The HTTP status and the catalog key of the message for an engine error."""
    for kind, status, _code, key in ENGINE_ERRORS:
        if isinstance(exc, kind):
            return status, key
    return 500, "error.internal"


def api_status(exc: GridloopError) -> tuple[int, str]:
    """The HTTP status and the JSON API's error code of an engine error."""
    for kind, status, code, _key in ENGINE_ERRORS:
        if isinstance(exc, kind):
            return status, code
    return 500, "engine_error"


def message(exc: GridloopError) -> str:
    """The message staff read for an engine error, in their language."""
    return translate(engine_status(exc)[1])


def _answer(status: int, text: str, code: str) -> tuple[Response | str, int]:
    if request.path.startswith("/api/"):
        return jsonify(error=code, message=text), status
    return render_template("error.html", status=status, message=text), status


def _engine_error(exc: GridloopError) -> tuple[Response | str, int]:
    status, key = engine_status(exc)
    return _answer(status, translate(key), key.removeprefix("error."))


def _csrf_error(exc: CSRFError) -> tuple[Response | str, int]:
    return _answer(400, translate("error.csrf"), "csrf")


def _http_error(exc: HTTPException) -> tuple[Response | str, int]:
    status = exc.code or 500
    key = HTTP_MESSAGES.get(status, "error.internal")
    return _answer(status, translate(key), key.removeprefix("error."))


def register(app: Flask) -> None:
    """Install the handlers on the app (blueprint handlers, such as the API's, still answer first)."""
    app.register_error_handler(GridloopError, _engine_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
