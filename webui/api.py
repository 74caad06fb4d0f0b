"""The JSON API under /api/v1: external channels (hotline 12345, WeChat, apps) and scripts on the engine's services.

Thin like the HTML pages: each route parses its request, calls one :class:`~engine.app.Gridloop` service
and answers JSON. Callers authenticate with a bearer token from ``POST /auth/token``: the username signed with
the app's ``SECRET_KEY`` (itsdangerous, salt ``gridloop-api``), valid for ``API_TOKEN_MAX_AGE`` seconds. Engine
errors become status codes in one place (:func:`engine_error`); scope is the engine's, so anything outside the
caller's scope answers 404 exactly like something that does not exist.
"""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, send_file, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from engine.app import LANGUAGES, Gridloop
from engine.errors import (
    GridloopError,
    NotDeployed,
    NotFound,
    ValidationFailed,
)
from engine.org.auth import AuthenticationFailed
from engine.reads.queries import INBOX_VIEWS
from engine.store.attachments import MAX_BYTES
from webui.errors import api_status
from webui.openapi import build_document

bp = Blueprint("api", __name__)

TOKEN_SALT = "gridloop-api"
DEFAULT_TOKEN_MAX_AGE = 12 * 3600
MAX_PER_PAGE = 200
PUBLIC_ENDPOINTS = {"api.issue_token", "api.openapi_document"}


# ------------------------------------------------------------------ plumbing


def _gridloop() -> Gridloop:
    return current_app.extensions["gridloop"]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def _token_max_age() -> int:
    return int(current_app.config.get("API_TOKEN_MAX_AGE", DEFAULT_TOKEN_MAX_AGE))


def plain(value: Any) -> Any:
    """``value`` with every date and datetime turned into its ISO 8601 string, ready for JSON."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def _answer(body: Any, status: int = 200) -> Response:
    response = jsonify(plain(body))
    response.status_code = status
    return response


def _body() -> dict[str, Any]:
    """The request's JSON object; a 400 naming ``_body`` when there is none."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed(
            "the request body must be a JSON object (Content-Type: application/json)",
            {"_body": ["expected a JSON object"]},
        )
    return body


def _language() -> str:
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


class QueryArgs:
    """Reads and checks query-string arguments, collecting every problem into one :class:`ValidationFailed`."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def text(self, name: str) -> str | None:
        """A free-text filter, or None when absent or blank."""
        return (request.args.get(name) or "").strip() or None

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        """A whole number within ``low``..``high``."""
        raw = request.args.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            upper = f" and at most {high}" if high is not None else ""
            self.errors[name] = [f"must be a whole number of at least {low}{upper}"]
            return default
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """One of ``choices``."""
        value = request.args.get(name) or default
        if value not in choices:
            self.errors[name] = [f"must be one of: {', '.join(choices)}"]
            return default
        return value

    def moment(self, name: str, end_of_day: bool = False) -> datetime | None:
        """An ISO date or datetime; a date is a local day of the business calendar, its end when ``end_of_day``."""
        raw = request.args.get(name)
        if not raw:
            return None
        zone = _gridloop().calendar.timezone
        try:
            if "T" in raw or " " in raw.strip():
                moment = datetime.fromisoformat(raw)
                return moment if moment.tzinfo else moment.replace(tzinfo=zone)
            day = date.fromisoformat(raw) + timedelta(days=1 if end_of_day else 0)
        except ValueError:
            self.errors[name] = [
                "must be an ISO 8601 date (2026-11-23) or datetime (2026-11-23T09:00:00+08:00)"
            ]
            return None
        return datetime.combine(day, time(), tzinfo=zone)

    def check(self) -> None:
        """Raise the collected problems, if any."""
        if self.errors:
            raise ValidationFailed("some query parameters are invalid", self.errors)


def _page(items: list[dict[str, Any]], total: int, page: int, per_page: int, **extra: Any) -> Response:
    return _answer({"items": items, "total": total, "page": page, "per_page": per_page, **extra})


def _event_body(detail: dict[str, Any]) -> dict[str, Any]:
    """An event detail with its open tasks listed apart, so that callers see at once what is pending."""
    return {**detail, "open_tasks": [t for t in detail["tasks"] if t["status"] == "open"]}


# ------------------------------------------------------------ errors and auth


def _not_found_message(exc: NotFound) -> str:
    """The same words for absent and out-of-scope, naming only what the caller asked for.

    The engine's message may name a related thing (the event of a hidden task), which would leak its id.
    """
    if not request.view_args:
        return str(exc)
    kind, ident = next(iter(request.view_args.items()))
    return f"{kind.removesuffix('_id')} {ident} does not exist or lies outside your scope"


@bp.errorhandler(GridloopError)
def engine_error(exc: GridloopError) -> Response:
    """Turn an engine error into its status code and a JSON body ``{error, message[, errors]}``."""
    status, code = api_status(exc)
    body: dict[str, Any] = {
        "error": code,
        "message": _not_found_message(exc) if isinstance(exc, NotFound) else str(exc),
    }
    if isinstance(exc, ValidationFailed):
        body["errors"] = exc.errors
    if isinstance(exc, AuthenticationFailed) and exc.locked_until is not None:
        body["locked_until"] = exc.locked_until
    response = _answer(body, status)
    if isinstance(exc, AuthenticationFailed):
        response.headers["WWW-Authenticate"] = 'Bearer realm="gridloop"'
    return response


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response:
    """HTTP errors raised inside the API (a body too large, a bad multipart form …) answer JSON too."""
    code = (exc.name or "error").lower().replace(" ", "_")
    return _answer({"error": code, "message": exc.description or exc.name}, exc.code or 500)


@bp.before_request
def authenticate() -> None:
    """Require a valid bearer token on every route but the token and the OpenAPI document."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "an 'Authorization: Bearer <token>' header is required; get a token at /auth/token"
        )
    try:
        claims = _serializer().loads(token.strip(), max_age=_token_max_age())
    except SignatureExpired as exc:
        raise AuthenticationFailed("the token has expired; get a new one at /auth/token") from exc
    except BadSignature as exc:
        raise AuthenticationFailed("the token is not valid; get a new one at /auth/token") from exc
    username = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(username, str):
        raise AuthenticationFailed("the token names no user; get a new one at /auth/token")
    try:
        _gridloop().load_actor(username)
    except NotFound as exc:
        raise AuthenticationFailed("the token's user no longer exists or is inactive") from exc
    g.api_user = username


# --------------------------------------------------------------------- routes


@bp.post("/auth/token")
def issue_token() -> Response:
    """Exchange a username and password for a bearer token (failures count towards the account's lock-out)."""
    body = _body()
    username, password = body.get("username"), body.get("password")
    errors = {
        name: ["required, as a non-empty string"]
        for name, value in (("username", username), ("password", password))
        if not isinstance(value, str) or not value
    }
    if errors:
        raise ValidationFailed("username and password are required", errors)
    actor = _gridloop().sign_in(username, password)
    token = _serializer().dumps({"sub": actor.username})
    return _answer({"token": token, "token_type": "Bearer", "expires_in": _token_max_age()})


@bp.get("/categories")
def categories() -> Response:
    """The routing table's sub-categories of the latest deployed version, grouped by their class."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in _gridloop().bundle().categories:
        groups.setdefault(c.class_name, []).append(
            {
                "code": c.code,
                "name": c.name,
                "department_kind": c.department_kind,
                "handling_level": c.handling_level,
                "time_limit": c.time_limit,
                "time_unit": c.time_unit,
            }
        )
    return _answer([{"class_name": name, "categories": items} for name, items in groups.items()])


@bp.post("/events")
def report_event() -> Response:
    """Report an event (上报); 201 with the new event and its Location."""
    gl = _gridloop()
    result = gl.report(g.api_user, _body())
    response = _answer(_event_body(gl.event_detail(g.api_user, result["id"])), 201)
    response.headers["Location"] = url_for("api.event_detail", event_id=result["id"])
    return response


@bp.get("/events")
def list_events() -> Response:
    """Events in the caller's scope, newest first, filtered and paginated."""
    args = QueryArgs()
    filters = {
        "code": args.text("code"),
        "category": args.text("category"),
        "grid": args.text("grid"),
        "state": args.text("state"),
        "reported_from": args.moment("from"),
        "reported_to": args.moment("to", end_of_day=True),
        "page": args.integer("page", 1, 1),
        "per_page": args.integer("per_page", 50, 1, MAX_PER_PAGE),
    }
    args.check()
    rows, total = _gridloop().list_events(g.api_user, **filters)
    return _page(rows, total, filters["page"], filters["per_page"])


@bp.get("/events/<int:event_id>")
def event_detail(event_id: int) -> Response:
    """One event in the caller's scope: its columns, tasks (open ones apart) and history."""
    return _answer(_event_body(_gridloop().event_detail(g.api_user, event_id)))


@bp.get("/tasks")
def inbox() -> Response:
    """The caller's inbox: ``mine`` (claimed), ``claimable`` or ``done``."""
    args = QueryArgs()
    view = args.choice("view", INBOX_VIEWS, "mine")
    filters = {
        "category": args.text("category"),
        "grid": args.text("grid"),
        "page": args.integer("page", 1, 1),
        "per_page": args.integer("per_page", 50, 1, MAX_PER_PAGE),
    }
    args.check()
    rows, total = _gridloop().inbox(g.api_user, view, **filters)
    return _page(rows, total, filters["page"], filters["per_page"], view=view)


@bp.get("/tasks/<int:task_id>")
def task_detail(task_id: int) -> Response:
    """A task with its event, its form's resolved JSON Schema and the process data so far."""
    return _answer(_gridloop().task_detail(g.api_user, task_id, _language()))


@bp.post("/tasks/<int:task_id>/claim")
def claim(task_id: int) -> Response:
    """Claim a task offered to the caller."""
    return _answer(_gridloop().claim(g.api_user, task_id))


@bp.post("/tasks/<int:task_id>/unclaim")
def unclaim(task_id: int) -> Response:
    """Give a task the caller claimed back to everyone it is offered to."""
    return _answer(_gridloop().unclaim(g.api_user, task_id))


@bp.post("/tasks/<int:task_id>/complete")
def complete(task_id: int) -> Response:
    """Complete a task with ``{"data": {...}}``, checked against its form; nothing changes on any error."""
    data = _body().get("data")
    if not isinstance(data, dict):
        raise ValidationFailed(
            "'data' must be a JSON object with the form's fields", {"data": ["expected an object"]}
        )
    return _answer(_gridloop().complete(g.api_user, task_id, data, _language()))


@bp.post("/attachments")
def upload() -> Response:
    """Store a photo or document (multipart field ``file``) and answer its id, to reference from form data."""
    sent = request.files.get("file")
    if sent is None:
        raise ValidationFailed(
            "send the file as multipart/form-data field 'file'", {"file": ["no file was sent"]}
        )
    stored = _gridloop().upload(g.api_user, sent.filename or "upload", sent.stream.read(MAX_BYTES + 1))
    body = {
        "id": stored.id,
        "filename": stored.filename,
        "content_type": stored.content_type,
        "size": stored.size,
    }
    response = _answer(body, 201)
    response.headers["Location"] = url_for("api.attachment", attachment_id=stored.id)
    return response


@bp.get("/attachments/<attachment_id>")
def attachment(attachment_id: str) -> Response:
    """An attachment's bytes, with the content type recognised when it was stored."""
    stored, content = _gridloop().attachment(g.api_user, attachment_id)
    response = send_file(io.BytesIO(content), mimetype=stored.content_type, download_name=stored.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of this API, with the report body as the deployed report form defines it."""
    gl = _gridloop()
    try:
        bundle = gl.bundle()
        report_form = bundle.forms[bundle.start_form] if bundle.start_form else None
    except NotDeployed:
        report_form = None
    return _answer(build_document(report_form, _token_max_age()))
