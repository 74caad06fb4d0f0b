"""The JSON API under /api/v1: external channels (hotline 12345, WeChat, apps) and scripts on the engine's services.

Thin like the HTML pages: each route parses its request through the models it declares with
:func:`~webui.api_schemas.operation` (which also write the OpenAPI document), calls one
:class:`~engine.app.Gridloop` service and answers JSON. Callers authenticate with a bearer token from
``POST /auth/token``: the username and the recorded token's id signed with the app's ``SECRET_KEY``
(itsdangerous, salt ``gridloop-api``), valid for ``API_TOKEN_MAX_AGE`` seconds unless revoked before (see
:mod:`engine.org.auth`). Engine errors become status codes in one place (:func:`engine_error`),
their messages and field errors said in the caller's Accept-Language (Chinese by default) from the catalogs;
scope is the engine's, so anything outside the caller's scope answers 404 exactly like something that does not
exist.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, send_file, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from engine.app import Gridloop
from engine.bpmn.definitions import DefinitionError
from engine.errors import (
    GridloopError,
    NotDeployed,
    NotFound,
    ValidationFailed,
)
from engine.org.auth import AuthenticationFailed
from engine.reads.lights import CaseLight
from engine.reads.processes import process_models
from engine.reads.queries import cursor as event_cursor
from engine.store.attachments import MAX_BYTES
from webui.api_schemas import (
    MULTIPART,
    Attachment,
    AttachmentUpload,
    Categories,
    ClaimResult,
    CommentBody,
    CommentResult,
    CompleteResult,
    Completion,
    Credentials,
    DeployBody,
    DeploymentResult,
    EventDetail,
    EventPage,
    EventQuery,
    FileContent,
    FilterDeleted,
    FollowUpBody,
    FollowUpResult,
    GiveBack,
    HandOver,
    HeldResult,
    InboxQuery,
    Notice,
    NoticePage,
    NoticeQuery,
    ProcessModels,
    Report,
    SavedFilter,
    SavedFilterBody,
    SavedFilters,
    StartBody,
    TaskDetail,
    TaskPage,
    Token,
    operation,
)
from webui.context import read_session
from webui.errors import api_status, exception_headers, message
from webui.i18n import current_language, field_messages, translate
from webui.notices import texts
from webui.openapi import build_document

bp = Blueprint("api", __name__)

TOKEN_SALT = "gridloop-api"
DEFAULT_TOKEN_MAX_AGE = 12 * 3600
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


def _local_moment(value: date | datetime | None, end_of_day: bool = False) -> datetime | None:
    """A query's date or datetime as an aware datetime: a date is a local day of the business calendar (its end
    when ``end_of_day``), a datetime without a zone is local time."""
    if value is None:
        return None
    zone = _gridloop().calendar.timezone
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    day = value + timedelta(days=1 if end_of_day else 0)
    return datetime.combine(day, time(), tzinfo=zone)


def _page(items: list[dict[str, Any]], total: int, page: int, per_page: int, **extra: Any) -> Response:
    return _answer({"items": items, "total": total, "page": page, "per_page": per_page, **extra})


def _listed_light(light: CaseLight | None) -> dict[str, Any] | None:
    """A listed case's light (:meth:`engine.reads.lights.Lights.case`) as the API gives it."""
    if light is None:
        return None
    return {
        "colour": light.colour,
        "percent": light.percent,
        "step": light.step,
        "step_name": light.step_name,
        "task": light.task_id,
    }


def _event_body(detail: dict[str, Any]) -> dict[str, Any]:
    """An event detail with its open tasks listed apart, so that callers see at once what is pending."""
    return {
        **detail,
        "light": _listed_light(detail["light"]),
        "open_tasks": [t for t in detail["tasks"] if t["status"] == "open"],
    }


# ------------------------------------------------------------ errors and auth


@bp.errorhandler(GridloopError)
def engine_error(exc: GridloopError) -> Response:
    """Turn an engine error into its status code and a JSON body ``{error, message[, errors]}``, the message
    and the field errors in the caller's language (a not-found names only what the caller asked for)."""
    status, code = api_status(exc)
    body: dict[str, Any] = {"error": code, "message": message(exc)}
    if isinstance(exc, ValidationFailed):
        body["errors"] = field_messages(exc.errors)
    if isinstance(exc, AuthenticationFailed) and exc.locked_until is not None:
        body["locked_until"] = exc.locked_until
    response = _answer(body, status)
    if isinstance(exc, AuthenticationFailed):
        response.headers["WWW-Authenticate"] = 'Bearer realm="gridloop"'
    return response


@bp.errorhandler(DefinitionError)
def definition_error(exc: DefinitionError) -> Response:
    """Definitions refused (a deploy): 400 ``validation_failed`` with the problems keyed by file and, in
    ``problems``, each as ``file:line: element: message — fix``; nothing was deployed."""
    by_file: dict[str, list[str]] = {}
    for problem in exc.problems:
        by_file.setdefault(problem.file, []).append(str(problem))
    return _answer(
        {
            "error": "validation_failed",
            "message": translate("error.definitions_invalid", count=len(exc.problems)),
            "errors": by_file,
            "problems": [str(problem) for problem in exc.problems],
        },
        400,
    )


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response:
    """HTTP errors raised inside the API (a body too large, a bad multipart form …) answer JSON too."""
    code = (exc.name or "error").lower().replace(" ", "_")
    response = _answer({"error": code, "message": exc.description or exc.name}, exc.code or 500)
    response.headers.extend(exception_headers(exc))
    return response


@bp.before_request
def authenticate() -> None:
    """Require a valid bearer token on every route but the token and the OpenAPI document."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "an 'Authorization: Bearer <token>' header is required; get a token at /auth/token",
            code="auth.token_missing",
        )
    try:
        claims = _serializer().loads(token.strip(), max_age=_token_max_age())
    except SignatureExpired as exc:
        raise AuthenticationFailed(
            "the token has expired; get a new one at /auth/token", code="auth.token_expired"
        ) from exc
    except BadSignature as exc:
        raise AuthenticationFailed(
            "the token is not valid; get a new one at /auth/token", code="auth.token_invalid"
        ) from exc
    username = claims.get("sub") if isinstance(claims, dict) else None
    token_id = claims.get("jti") if isinstance(claims, dict) else None
    if not isinstance(username, str) or not isinstance(token_id, str):
        raise AuthenticationFailed(
            "the token names no user; get a new one at /auth/token", code="auth.token_invalid"
        )
    try:
        _gridloop().load_actor(username, token_id)
    except NotFound as exc:
        raise AuthenticationFailed(
            "the token's user no longer exists or is inactive", code="auth.token_user_gone"
        ) from exc
    g.api_user = username


# --------------------------------------------------------------------- routes


@bp.post("/auth/token")
@operation(
    "issueToken",
    "Exchange a username and password for a bearer token",
    Token,
    "A token.",
    body=Credentials,
    errors=("Unauthorized",),
    public=True,
)
def issue_token(body: Credentials) -> Response:
    """Exchange a username and password for a bearer token (failures count towards the lock-outs; the token is
    recorded, and refused once revoked or once the user's password or roles change)."""
    signed_in = _gridloop().sign_in(
        body.username,
        body.password,
        address=request.remote_addr or "unknown",
        kind="api",
        lifetime=timedelta(seconds=_token_max_age()),
    )
    token = _serializer().dumps({"sub": signed_in.actor.username, "jti": signed_in.token_id})
    return _answer({"token": token, "token_type": "Bearer", "expires_in": _token_max_age()})


@bp.get("/categories")
@operation(
    "listCategories",
    "The routing table's sub-categories grouped by class",
    Categories,
    "Categories.",
    errors=("NotDeployed",),
)
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


@bp.get("/processes")
@operation("listProcesses", "The process registry: models and their versions", ProcessModels, "The models.")
def list_processes() -> Response:
    """Every process model with its versions (draft, active, retired), instance counts, who deployed and
    activated what, and whether the caller may start it."""
    with _gridloop().reading(g.api_user) as reader:
        return _answer(process_models(reader))


@bp.post("/processes")
@operation(
    "deployProcess",
    "Deploy one process model's files as a draft version (designers and administrators)",
    DeploymentResult,
    "The version (created false when the same files were deployed before).",
    status=201,
    body=DeployBody,
    errors=("Forbidden",),
)
def deploy_process(body: DeployBody) -> Response:
    """Deploy a model from its files; refused with every problem (400 ``definitions_invalid``), changing
    nothing, when they would not deploy; with ``activate``, also make it active."""
    gl = _gridloop()
    deployment = gl.deploy_files(gl.load_actor(g.api_user), body.files, body.activate)
    return _answer(dataclasses.asdict(deployment), 201 if deployment.created else 200)


@bp.post("/versions/<int:version_id>/activate")
@operation(
    "activateVersion",
    "Make a version the one new instances of its process start on",
    DeploymentResult,
    "The version, now active.",
    errors=("Forbidden", "NotFound", "Conflict"),
)
def activate_version(version_id: int) -> Response:
    """Activate a version (the active one is retired); refused with its problems when its files would not
    deploy today."""
    gl = _gridloop()
    return _answer(dataclasses.asdict(gl.activate(gl.load_actor(g.api_user), version_id)))


@bp.post("/versions/<int:version_id>/retire")
@operation(
    "retireVersion",
    "Stop new instances starting on a version",
    DeploymentResult,
    "The version, now retired.",
    errors=("Forbidden", "NotFound", "Conflict"),
)
def retire_version(version_id: int) -> Response:
    """Retire a version; its running instances go on."""
    gl = _gridloop()
    return _answer(dataclasses.asdict(gl.retire(gl.load_actor(g.api_user), version_id)))


@bp.post("/processes/<process_id>/rollback")
@operation(
    "rollbackProcess",
    "Re-activate the version the active version of a process replaced",
    DeploymentResult,
    "The version active again.",
    errors=("Forbidden", "Conflict"),
)
def rollback_process(process_id: str) -> Response:
    """Roll a process back one activation (409 when nothing is active or it replaced no version)."""
    gl = _gridloop()
    return _answer(dataclasses.asdict(gl.rollback(gl.load_actor(g.api_user), process_id)))


@bp.post("/processes/<process_id>/instances")
@operation(
    "startInstance",
    "Start an instance of a process on its active version",
    EventDetail,
    "The new instance (an event).",
    status=201,
    headers={"Location": "the instance's URL"},
    body=StartBody,
    errors=("Forbidden", "NotFound", "Conflict", "ProcessFailure"),
)
def start_instance(process_id: str, body: StartBody) -> Response:
    """Start an instance with the start form's data (a process that takes grid reports is reported, with a
    report's checks); 201 with the new instance and its Location."""
    gl = _gridloop()
    result = gl.start(g.api_user, process_id, body.data, body.unit)
    response = _answer(_event_body(gl.event_detail(g.api_user, result["id"])), 201)
    response.headers["Location"] = url_for("api.event_detail", event_id=result["id"])
    return response


@bp.post("/events")
@operation(
    "reportEvent",
    "Report an event (上报); grid defaults to the reporter's own",
    EventDetail,
    "The new event.",
    status=201,
    headers={"Location": "the event's URL"},
    body=Report,
    errors=("Forbidden", "ProcessFailure", "NotDeployed"),
)
def report_event(body: Report) -> Response:
    """Report an event (上报); 201 with the new event and its Location. A public channel (12345, WeChat …)
    sends its caller in ``reporter_name`` / ``reporter_phone`` and its work-order number in ``channel_ref``."""
    gl = _gridloop()
    result = gl.report(g.api_user, body.root)
    response = _answer(_event_body(gl.event_detail(g.api_user, result["id"])), 201)
    response.headers["Location"] = url_for("api.event_detail", event_id=result["id"])
    return response


@bp.get("/events")
@operation("listEvents", "Events in the caller's scope", EventPage, "A page of events.", query=EventQuery)
def list_events(query: EventQuery) -> Response:
    """Events in the caller's scope, newest first, filtered and paginated."""
    rows, total = _gridloop().list_events(
        g.api_user,
        **query.model_dump(exclude={"reported_from", "reported_to", "contacts"}),
        reported_from=_local_moment(query.reported_from),
        reported_to=_local_moment(query.reported_to, end_of_day=True),
        exported=query.contacts == "whole",
    )
    following = event_cursor(rows[-1], by_code=bool(query.code)) if len(rows) == query.per_page else None
    items = [{**r, "light": _listed_light(r["light"])} for r in rows]
    return _page(items, total, query.page, query.per_page, next=following)


@bp.get("/events/<int:event_id>")
@operation("getEvent", "An event with its tasks and history", EventDetail, "The event.", errors=("NotFound",))
def event_detail(event_id: int) -> Response:
    """One event in the caller's scope: its columns, tasks (open ones apart) and history."""
    return _answer(_event_body(_gridloop().event_detail(g.api_user, event_id)))


@bp.get("/tasks")
@operation("listTasks", "The caller's inbox", TaskPage, "A page of tasks.", query=InboxQuery)
def inbox(query: InboxQuery) -> Response:
    """The caller's inbox: ``mine`` (claimed), ``claimable`` or ``done``."""
    rows, total = _gridloop().inbox(g.api_user, query.view, **query.model_dump(exclude={"view"}))
    return _page(rows, total, query.page, query.per_page, view=query.view)


@bp.get("/tasks/<int:task_id>")
@operation(
    "getTask",
    "A task with its form's JSON Schema and the data so far",
    TaskDetail,
    "The task.",
    errors=("NotFound",),
)
def task_detail(task_id: int) -> Response:
    """A task with its event, its form's resolved JSON Schema and the process data so far."""
    return _answer(_gridloop().task_detail(g.api_user, task_id))


@bp.post("/tasks/<int:task_id>/claim")
@operation(
    "claimTask",
    "Claim a task offered to the caller",
    ClaimResult,
    "Claimed.",
    errors=("Forbidden", "NotFound", "Conflict"),
)
def claim(task_id: int) -> Response:
    """Claim a task offered to the caller."""
    return _answer(_gridloop().claim(g.api_user, task_id))


@bp.post("/tasks/<int:task_id>/unclaim")
@operation(
    "unclaimTask",
    "Release a task the caller claimed",
    ClaimResult,
    "Released.",
    errors=("Forbidden", "NotFound", "Conflict"),
)
def unclaim(task_id: int) -> Response:
    """Give a task the caller claimed back to everyone it is offered to."""
    return _answer(_gridloop().unclaim(g.api_user, task_id))


@bp.post("/tasks/<int:task_id>/complete")
@operation(
    "completeTask",
    "Complete a task with its form's data",
    CompleteResult,
    "Completed.",
    body=Completion,
    errors=("Forbidden", "NotFound", "Conflict", "ProcessFailure"),
)
def complete(task_id: int, body: Completion) -> Response:
    """Complete a task with ``{"data": {...}}``, checked against its form; nothing changes on any error."""
    return _answer(_gridloop().complete(g.api_user, task_id, body.data))


@bp.post("/tasks/<int:task_id>/assign")
@operation(
    "assignTask",
    "A leader assigns an open task to a colleague it is offered to (指派)",
    HeldResult,
    "Assigned.",
    body=HandOver,
    errors=("Forbidden", "NotFound", "Conflict"),
)
def assign(task_id: int, body: HandOver) -> Response:
    """Assign the task to ``to`` (the ``assign_roles`` setting's roles, in a scope covering the task)."""
    return _answer(_gridloop().assign(g.api_user, task_id, body.to, body.note))


@bp.post("/tasks/<int:task_id>/delegate")
@operation(
    "delegateTask",
    "Delegate a task one holds to a colleague it is offered to (委托)",
    HeldResult,
    "Delegated.",
    body=HandOver,
    errors=("Forbidden", "NotFound", "Conflict"),
)
def delegate(task_id: int, body: HandOver) -> Response:
    """Delegate the caller's task to ``to``; it comes back when they give it back."""
    return _answer(_gridloop().delegate(g.api_user, task_id, body.to, body.note))


@bp.post("/tasks/<int:task_id>/give-back")
@operation(
    "giveBackTask",
    "Give a delegated task back to whoever delegated it",
    HeldResult,
    "Given back.",
    body=GiveBack,
    errors=("NotFound", "Conflict"),
)
def give_back(task_id: int, body: GiveBack) -> Response:
    """Give the task delegated to the caller back to its delegator."""
    return _answer(_gridloop().give_back(g.api_user, task_id, body.note))


@bp.post("/tasks/<int:task_id>/comments")
@operation(
    "commentTask",
    "Comment on a task (recorded in its event's history)",
    CommentResult,
    "Commented.",
    status=201,
    body=CommentBody,
    errors=("NotFound",),
)
def comment(task_id: int, body: CommentBody) -> Response:
    """Comment on a task the caller may see."""
    return _answer(_gridloop().comment(g.api_user, task_id, body.text), 201)


@bp.post("/tasks/<int:task_id>/follow-up")
@operation(
    "setFollowUp",
    "Set or clear the follow-up date of a task one holds",
    FollowUpResult,
    "Set.",
    body=FollowUpBody,
    errors=("NotFound", "Conflict"),
)
def follow_up(task_id: int, body: FollowUpBody) -> Response:
    """Set (null: clear) the follow-up date of the caller's task; a date is a day of the district."""
    return _answer(_gridloop().set_follow_up(g.api_user, task_id, body.follow_up_at))


@bp.get("/filters")
@operation("listFilters", "The caller's saved inbox filters", SavedFilters, "Saved filters.")
def list_filters() -> Response:
    """The caller's saved inbox filters, by name."""
    return _answer(_gridloop().saved_filters(g.api_user))


@bp.post("/filters")
@operation(
    "saveFilter",
    "Save inbox filters under a name",
    SavedFilter,
    "Saved.",
    status=201,
    body=SavedFilterBody,
    errors=("Conflict",),
)
def save_filter(body: SavedFilterBody) -> Response:
    """Save inbox filters under a name of the caller's own."""
    return _answer(_gridloop().save_filter(g.api_user, body.name, body.filters), 201)


@bp.delete("/filters/<int:filter_id>")
@operation("deleteFilter", "Delete a saved filter", FilterDeleted, "Deleted.", errors=("NotFound",))
def delete_filter(filter_id: int) -> Response:
    """Delete one of the caller's saved filters."""
    _gridloop().delete_filter(g.api_user, filter_id)
    return _answer({"id": filter_id, "deleted": True})


def _notice_body(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, **texts(row["kind"], row["data"], current_language())}


@bp.get("/notices")
@operation(
    "listNotices", "The caller's notices, newest first", NoticePage, "A page of notices.", query=NoticeQuery
)
def notices(query: NoticeQuery) -> Response:
    """The caller's own notices (only the unread with ``unread=true``), with the unread count."""
    listing = _gridloop().notices(g.api_user, query.page, query.per_page, query.unread)
    items = [_notice_body(row) for row in listing.rows]
    return _page(items, listing.total, query.page, query.per_page, unread=listing.counts["unread"])


@bp.post("/notices/<int:notice_id>/read")
@operation("readNotice", "Mark one of the caller's notices read", Notice, "Read.", errors=("NotFound",))
def read_notice(notice_id: int) -> Response:
    """Mark a notice read (another user's answers 404, like one that does not exist)."""
    return _answer(_notice_body(_gridloop().mark_notice_read(g.api_user, notice_id)))


@bp.post("/attachments")
@operation(
    "uploadAttachment",
    f"Store a photo or PDF (JPEG, PNG, GIF, WebP, PDF; at most {MAX_BYTES // 2**20} MB)",
    Attachment,
    "Stored.",
    status=201,
    headers={"Location": "the attachment's URL"},
    body=AttachmentUpload,
    body_media=MULTIPART,
)
def upload(body: AttachmentUpload) -> Response:
    """Store a photo or document (multipart field ``file``) and answer its id, to reference from form data."""
    sent = body.file
    stored = _gridloop().upload(g.api_user, sent.filename or "upload", sent.stream.read(MAX_BYTES + 1))
    answer = {
        "id": stored.id,
        "filename": stored.filename,
        "content_type": stored.content_type,
        "size": stored.size,
    }
    response = _answer(answer, 201)
    response.headers["Location"] = url_for("api.attachment", attachment_id=stored.id)
    return response


@bp.get("/attachments/<attachment_id>")
@operation(
    "getAttachment",
    "An attachment's content",
    FileContent,
    "The bytes, with their recognised content type.",
    media="*/*",
    errors=("NotFound",),
)
def attachment(attachment_id: str) -> Response:
    """An attachment's bytes, with the content type recognised when it was stored."""
    stored, content = _gridloop().attachment(g.api_user, attachment_id)
    response = send_file(io.BytesIO(content), mimetype=stored.content_type, download_name=stored.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/openapi.json")
@operation("getOpenApi", "This document", dict[str, Any], "The OpenAPI 3.1 document.", public=True)
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of this API, with the report body as the deployed report form defines it and its
    live choices (categories, grids) filled in, exactly as a report is checked."""
    gl = _gridloop()
    try:
        bundle = gl.bundle()
        start_form = bundle.start_form
        report_form = gl.resolved_form(read_session(), bundle, start_form) if start_form else None
    except NotDeployed:
        report_form = None
    mount = request.path.removesuffix("/openapi.json")
    document = build_document(
        current_app.url_map.iter_rules(), current_app.view_functions, mount, report_form, _token_max_age()
    )
    return _answer(document)
