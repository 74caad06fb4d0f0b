"""What each /api/v1 route takes and answers: pydantic models, and the :func:`operation` that declares a route.

One declaration per route serves twice. :func:`operation` parses the request's body and query string through the
route's models before the view (and so any engine command) runs, and a request that does not match is a 400 with
``{field path: [messages]}`` — the same :class:`~engine.errors.ValidationFailed` body the engine's form checks
give, with the same field error codes, said in the caller's language by the API's error handler.
:mod:`webui.openapi` writes the OpenAPI document from the same declarations and models, so the document cannot
promise what the routes do not check.

Free-form form data stays an object here and is checked by the engine against the deployed JSON Schema form, as
the pages' submissions are: a task's completion data, and the report, whose body *is* the report form's data
(the document shows the deployed report form in its place).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from flask import request
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    RootModel,
    WithJsonSchema,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import ErrorDetails, PydanticCustomError
from werkzeug.datastructures import FileStorage

from engine.bpmn.forms import MAX_DEPTH, storable
from engine.errors import FieldError, FieldErrors, ValidationFailed
from engine.reads.queries import INBOX_VIEWS

MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000  # keeps a page's offset a number the database takes
# the years a date or datetime of a query may name: every record's, with room to move it to UTC and to the end of
# its day (0001-01-01 in Shanghai is before the first day Python has)
MOMENT_YEARS = (1900, 9998)
TASK_STATUSES = ("open", "completed", "cancelled")
M = TypeVar("M", bound=BaseModel)
BODY_FIELD = "_body"  # the field path of an error in the body as a whole (not a JSON object at all)

# ------------------------------------------------------------------ field errors

# pydantic's error types → the codes of the engine's field errors (engine.bpmn.forms), so that a caller reads
# one style whether the API's schema or a task's form refused the data; ``limit`` comes from the error's context
PYDANTIC_FIELD_CODES = {
    "missing": "required",
    "extra_forbidden": "not_allowed",
    "string_too_short": "min_length",
    "string_too_long": "max_length",
    "too_short": "min_items",
    "too_long": "max_items",
    "greater_than_equal": "minimum",
    "greater_than": "greater_than",
    "less_than_equal": "maximum",
    "less_than": "less_than",
    "literal_error": "not_a_choice_of",
    "enum": "not_a_choice_of",
    "iso_moment": "iso_moment",
    "moment_out_of_range": "moment_out_of_range",
    "uploaded_file": "uploaded_file",
    "text.invalid_characters": "text.invalid_characters",
    "string_unicode": "text.invalid_characters",
    "string_type": "type.string",
    "int_type": "type.integer",
    "int_parsing": "type.integer",
    "int_from_float": "type.integer",
    "float_type": "type.number",
    "float_parsing": "type.number",
    "bool_type": "type.boolean",
    "bool_parsing": "type.boolean",
    "list_type": "type.array",
    "dict_type": "type.object",
    "model_type": "type.object",
    "model_attributes_type": "type.object",
}
_LIMITS = ("min_length", "max_length", "ge", "gt", "le", "lt")


def _field_error(error: ErrorDetails) -> FieldError:
    kind, context = error["type"], error.get("ctx") or {}
    if not error["loc"] and kind in ("model_type", "dict_type"):
        return FieldError("body_not_object")
    code = PYDANTIC_FIELD_CODES.get(kind)
    if code is None:
        return FieldError("schema", {"problem": error["msg"]})
    if code == "not_a_choice_of":
        return FieldError(code, {"choices": str(context.get("expected", "")).replace(" or ", ", ")})
    if code == "moment_out_of_range":
        return FieldError(code, {"first": context["first"], "last": context["last"]})
    limits = [context[key] for key in _LIMITS if key in context]
    return FieldError(code, {"limit": limits[0]} if limits else {})


def field_errors(exc: pydantic.ValidationError) -> FieldErrors:
    """``{field path: [field errors]}`` of a pydantic failure, paths dotted (``location.lat``) like the engine's."""
    errors: FieldErrors = {}
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"]) or BODY_FIELD
        found = errors.setdefault(path, [])
        field_error = _field_error(error)
        if field_error not in found:
            found.append(field_error)
    return errors


def parse(model: type[M], data: Any, what: str) -> M:
    """``data`` validated as ``model``, or :class:`ValidationFailed` naming every field that is wrong."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationFailed(
            "{what} does not match the API's schema", field_errors(exc), code="api.schema", what=what
        ) from exc


# ------------------------------------------------------------------ field types


def _iso_moment(value: Any) -> date | datetime:
    text = str(value)
    try:
        moment = datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
    except ValueError as exc:
        raise PydanticCustomError(
            "iso_moment", "must be an ISO 8601 date (2026-11-23) or datetime (2026-11-23T09:00:00+08:00)"
        ) from exc
    first, last = MOMENT_YEARS
    if not first <= moment.year <= last:
        raise PydanticCustomError(
            "moment_out_of_range", "must lie in the years {first} to {last}", {"first": first, "last": last}
        )
    return moment


def _storable(value: str) -> str:
    if not storable(value):
        raise PydanticCustomError(
            "text.invalid_characters", "holds characters no database stores (NUL, lone surrogates)"
        )
    return value


def _blank_is_absent(value: Any) -> Any:
    return (value.strip() or None) if isinstance(value, str) else value


def _uploaded_file(value: Any) -> FileStorage:
    if not isinstance(value, FileStorage):
        raise PydanticCustomError("uploaded_file", "expected a file sent as multipart/form-data")
    return value


# a date is a local day of the business calendar (the route places it in the calendar's time zone)
Moment = Annotated[
    datetime | date,
    PlainValidator(_iso_moment),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
    ),
]
# text a request gives: what the databases can store (no NUL, no lone surrogate)
Text = Annotated[str, AfterValidator(_storable)]
# a free-text filter of a list: a blank one (``?grid=``, as a page's search form sends it) filters on nothing
Filter = Annotated[Text | None, BeforeValidator(_blank_is_absent)]
UploadedFile = Annotated[
    FileStorage,
    PlainValidator(_uploaded_file),
    WithJsonSchema({"type": "string", "contentMediaType": "application/octet-stream"}),
]
# the bytes of a file, in a response
FileContent = Annotated[
    bytes, WithJsonSchema({"type": "string", "contentMediaType": "application/octet-stream"})
]

# ------------------------------------------------------------------ requests


class RequestBody(BaseModel):
    """A request body: exactly these fields, each of exactly its JSON type (no "5" for 5)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class QueryString(BaseModel):
    """A query string: only these parameters; numbers arrive as text and are read as numbers."""

    model_config = ConfigDict(extra="forbid")


class Credentials(RequestBody):
    """A staff account's sign-in."""

    username: Text = Field(min_length=1, max_length=64, description="the account's username")
    password: Text = Field(min_length=1, max_length=1024, description="its password")


class Report(RootModel[dict[str, Any]]):
    """The deployed report form's fields, checked by the engine against that form (shown here in its place)."""

    model_config = ConfigDict(strict=True)


class StartBody(RequestBody):
    """An instance's start: the start form's data, and the org unit it runs in when the form has no grid."""

    data: dict[str, Any] = Field(
        description="the start form's fields, checked by the engine against that form"
    )
    unit: Text | None = Field(
        None, max_length=32, description="org unit code (default: the form's grid, else the starter's scope)"
    )


class DeployBody(RequestBody):
    """One process model's files to deploy as a draft version (and, with activate, to make it active)."""

    files: dict[str, str] = Field(
        description="path → text: the model's BPMN, DMN, forms and process_model.json "
        "(e.g. processes/household_visit/household_visit.bpmn, forms/report.json)",
        min_length=1,
        max_length=200,
    )
    activate: bool = Field(False, description="also make it the version new instances start on")


class Completion(RequestBody):
    """A task's form data."""

    data: dict[str, Any] = Field(description="the form's fields, checked against TaskDetail.form")


class HandOver(RequestBody):
    """To whom a task goes (assigned or delegated), with an optional note."""

    to: Text = Field(min_length=1, max_length=64, description="the colleague's username (offered the task)")
    note: Text | None = Field(None, max_length=200, description="a note for them")


class GiveBack(RequestBody):
    """A delegated task given back, with an optional note."""

    note: Text | None = Field(None, max_length=200, description="a note for whoever delegated it")


class CommentBody(RequestBody):
    """A comment on a task."""

    text: Text = Field(min_length=1, max_length=1000, description="the comment")


class FollowUpBody(RequestBody):
    """A task's follow-up date: a local day (its start) or a datetime; null clears it."""

    follow_up_at: Moment | None = Field(description="ISO date (a day of the district) or datetime, or null")


class SavedFilterBody(RequestBody):
    """Inbox filters saved under a name of one's own."""

    name: Text = Field(min_length=1, max_length=64, description="the name, unique among one's filters")
    filters: dict[str, Any] = Field(
        description="view, category, grid, colour, sort (as GET /tasks takes them)"
    )


class AttachmentUpload(RequestBody):
    """A photo or document sent as multipart/form-data."""

    file: UploadedFile = Field(description="JPEG, PNG, GIF, WebP or PDF")


class PageQuery(QueryString):
    """Which page of a list, and how long a page is."""

    page: int = Field(1, ge=1, le=MAX_PAGE, description="page number, from 1")
    per_page: int = Field(50, ge=1, le=MAX_PER_PAGE, description="rows per page")


class ListFilters(PageQuery):
    """Filters every list of events or tasks has."""

    category: Filter = Field(None, description="sub-category code or its prefix")
    grid: Filter = Field(None, description="grid code or the code of a unit containing it")


class EventQuery(ListFilters):
    """Filters of the event list."""

    code: Filter = Field(None, description="an event code, or its beginning (E20261102 for that day's)")
    text: Filter = Field(
        None,
        description="words the description holds, separated by spaces (each must occur; Chinese matched as "
        "written, a Latin word or number from its start)",
    )
    state: Filter = Field(None, description="the event's state")
    reported_from: Moment | None = Field(
        None, alias="from", description="reported on or after this ISO date (local day) or datetime"
    )
    reported_to: Moment | None = Field(
        None,
        alias="to",
        description="reported on or before this ISO date (local day), or before this datetime",
    )
    contacts: Literal["masked", "whole"] = Field(
        "masked",
        description="whole: the public reporters' contacts and the phone and identity numbers in the texts "
        "unmasked, for the roles the reporter_contact_roles setting names (everyone else gets them masked)",
    )
    after: Filter = Field(
        None,
        description="the next of the page before: the page after it, instead of the page-th (as fast however "
        "deep into the list; page is then not read)",
    )


class NoticeQuery(PageQuery):
    """Which page of the caller's notices."""

    unread: bool = Field(False, description="only the unread ones")


class InboxQuery(ListFilters):
    """Which view of the inbox, filtered."""

    view: Literal[INBOX_VIEWS] = Field(  # type: ignore[valid-type]
        "mine", description="mine (claimed by me), claimable (offered to me), done (completed by me)"
    )


# ------------------------------------------------------------------ responses


class Error(BaseModel):
    """An error."""

    error: str = Field(description="machine-readable code, e.g. not_found, conflict")
    message: str
    locked_until: datetime | SkipJsonSchema[None] = Field(None, description="401 on a locked account")
    problems: list[str] | SkipJsonSchema[None] = Field(
        None,
        description="400 definitions_invalid (a deploy): each problem as file:line: element: message — fix",
    )


class ValidationError(BaseModel):
    """Invalid input: nothing was changed."""

    error: Literal["validation_failed"]
    message: str
    errors: dict[str, list[str]] = Field(
        description="messages keyed by field path (e.g. category, location.lat, file; a deploy's by the file)"
    )
    problems: list[str] | SkipJsonSchema[None] = Field(
        None, description="a refused deploy: each problem as file:line: element: message — fix"
    )


class Token(BaseModel):
    """A bearer token for the Authorization header."""

    token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds")


class Category(BaseModel):
    """A sub-category (事件小类) of the routing table."""

    code: str
    name: str
    department_kind: str
    handling_level: str
    time_limit: float
    time_unit: str = Field(description="work_hours, work_days, hours or days")


class CategoryClass(BaseModel):
    """A category class (事件大类) and its sub-categories."""

    class_name: str
    categories: list[Category]


class Categories(RootModel[list[CategoryClass]]):
    """The routing table."""


class ProcessVersionRow(BaseModel):
    """One deployed version of a process model and where it stands in its life cycle."""

    id: int
    process_id: str
    content_hash: str
    status: str = Field(description="draft, active or retired")
    deployed_at: datetime
    deployed_by: str
    activated_at: datetime | None
    activated_by: str | None
    retired_at: datetime | None
    retired_by: str | None
    previous_id: int | None = Field(description="the version a rollback of this one re-activates")
    running: int = Field(ge=0, description="unfinished instances on it")
    instances: int = Field(ge=0, description="instances on it, running and finished")


class ProcessModel(BaseModel):
    """A process model of the registry, with its versions (newest first)."""

    id: str
    name: str
    description: str
    takes_reports: bool = Field(description="grid reports start it (POST /events)")
    active: int | None = Field(description="the version new instances start on")
    may_start: bool = Field(description="whether the caller may start it")
    instances: int = Field(ge=0)
    versions: list[ProcessVersionRow]


class ProcessModels(RootModel[list[ProcessModel]]):
    """The process registry."""


class DeploymentResult(BaseModel):
    """A version after a deploy, an activation, a retirement or a rollback."""

    id: int
    process_id: str
    content_hash: str
    status: str
    created: bool = Field(description="a new version (false: the same files were deployed before)")


class Location(BaseModel):
    """Coordinates of the event's place."""

    lat: float
    lng: float


class ListedLight(BaseModel):
    """The time light a case is listed with: the worst of its own limit and its open steps' limits."""

    colour: str = Field(description="a colour of the time_lights setting, e.g. green, yellow, red")
    percent: int | None = Field(description="share of the limit used, in percent (null: unbounded)")
    step: str | None = Field(description="BPMN id of the open step whose limit it is (null: the case's)")
    step_name: str | None
    task: int | None = Field(description="id of that step's task")


class Event(BaseModel):
    """An event (网格事件) as the caller's scope shows it."""

    id: int
    code: str = Field(description="event code, e.g. E20261123000001")
    category: str = Field(description="sub-category code from GET /categories")
    grid: str = Field(description="code of the grid the event lies in")
    channel: str = Field(description="grid, hotline, wechat, app or web")
    description: str
    address: str | None
    location: Location | None
    reporter: str = Field(
        description="username of who entered the report (for a public channel: the intake clerk)"
    )
    reporter_name: str | None = Field(
        description="a public channel's reporter, masked (张**) unless the caller's roles need it whole"
    )
    reporter_phone: str | None = Field(
        description="the reporter's phone, masked (138****5678) unless the caller's roles need it whole"
    )
    channel_ref: str | None = Field(description="the channel's reference number, e.g. the 12345 work order")
    state: str = Field(description="reported, open, closed, rejected, not_found …")
    handling_level: str | None
    department: str | None = Field(description="code of the department handling it")
    reported_at: datetime
    opened_at: datetime | None
    due_at: datetime | None
    closed_at: datetime | None
    closed_on_time: bool | None
    satisfaction: str | None
    rework_count: int
    reassign_count: int
    reopen_count: int
    completed: bool = Field(description="the process instance has finished")
    process_version_id: int
    version: int = Field(description="changes with every command on the event")


class Task(BaseModel):
    """A human task (待办) of an event's process."""

    id: int
    event_id: int
    event_code: str
    category: str
    grid: str
    step: str = Field(description="the BPMN user task id, e.g. accept, dispatch, handle")
    name: str
    role: str | None
    scope: str = Field(description="org unit whose staff of the role are offered the task")
    department: str | None
    assignee: str | None
    status: Literal[TASK_STATUSES]  # type: ignore[valid-type]
    form: str | None
    due_at: datetime | None
    created_at: datetime
    claimed_at: datetime | None
    completed_at: datetime | None
    completed_by: str | None
    delegated_by: str | None = Field(description="who delegated the task to its assignee")
    follow_up_at: datetime | None = Field(description="when its assignee means to come back to it")


class HistoryEntry(BaseModel):
    """One append-only history record."""

    seq: int
    at: datetime
    actor: str
    action: str = Field(description="report, claim, unclaim, complete, timer …")
    step: str | None
    task: int | None
    data: dict[str, Any] = Field(description="what the action submitted and changed")
    hash: str = Field(description="link of the tamper-evident hash chain")


class ShownEvent(Event):
    """An event as a list or its own page shows it: with the time light it is shown with."""

    light: ListedLight | None = Field(
        description="the worst of the event's own limit's and its open steps' lights (null: no limit runs)"
    )


class EventDetail(ShownEvent):
    """An event with all its tasks, its open tasks apart, and its history."""

    tasks: list[Task]
    open_tasks: list[Task]
    history: list[HistoryEntry]


class Page(BaseModel):
    """One page of a list."""

    total: int = Field(ge=0)
    page: int = Field(ge=1)
    per_page: int = Field(ge=1, le=MAX_PER_PAGE)


class EventPage(Page):
    """One page of events, newest first."""

    items: list[ShownEvent]
    next: str | None = Field(
        description="where the list goes on: give it as after for the next page (null on its last page)"
    )


class TaskPage(Page):
    """One page of the caller's inbox."""

    items: list[Task]
    view: Literal[INBOX_VIEWS]  # type: ignore[valid-type]


class TaskDetail(BaseModel):
    """A task with what is needed to complete it."""

    task: Task
    event: Event
    form: dict[str, Any] = Field(description="the step's form as a resolved JSON Schema")
    data: dict[str, Any] = Field(description="the process data the task sees")
    can_complete: bool


class ClaimResult(BaseModel):
    """Who holds the task now."""

    task: int
    assignee: str | None


class HeldResult(BaseModel):
    """Who holds the task now, and who delegated it to them."""

    task: int
    assignee: str | None
    delegated_by: str | None


class CommentResult(BaseModel):
    """A comment made."""

    task: int
    text: str
    at: datetime
    by: str


class FollowUpResult(BaseModel):
    """A task's follow-up date now."""

    task: int
    follow_up_at: datetime | None


class SavedFilter(BaseModel):
    """A saved inbox filter."""

    id: int
    name: str
    filters: dict[str, str]
    created_at: datetime


class SavedFilters(RootModel[list[SavedFilter]]):
    """The caller's saved inbox filters, by name."""


class FilterDeleted(BaseModel):
    """A saved filter deleted."""

    id: int
    deleted: Literal[True]


class CompleteResult(BaseModel):
    """The outcome of completing a task."""

    task: int
    event: int
    state: str
    next: list[int] = Field(description="ids of the new tasks")


class Notice(BaseModel):
    """A notice to the caller: what happened, on which case and task, when, and whether it is read."""

    id: int
    kind: str = Field(description="task_offered, task_returned, assigned, delegated, light, sheet_issued, …")
    title: str = Field(description="in the caller's language")
    text: str = Field(description="in the caller's language")
    event_id: int | None
    task_id: int | None
    data: dict[str, Any] = Field(description="what the text is made of: event_code, step, colour, card …")
    created_at: datetime
    read_at: datetime | None
    unread: bool


class NoticePage(Page):
    """One page of the caller's notices, newest first, and how many are unread in all."""

    items: list[Notice]
    unread: int = Field(ge=0)


class Attachment(BaseModel):
    """A stored photo or document; reference its id from photos fields."""

    id: str
    filename: str
    content_type: str
    size: int


# ------------------------------------------------------------------ route declarations

JSON = "application/json"
MULTIPART = "multipart/form-data"
# what a path argument names, by its name in the route's rule (the document's path parameters)
PATH_PARAMETERS = {
    "event_id": "the event's id",
    "task_id": "the task's id",
    "attachment_id": "the attachment's id",
    "notice_id": "the notice's id",
    "filter_id": "the saved filter's id",
    "process_id": "the process model's id (e.g. household_visit)",
    "version_id": "the process version's id",
}


@dataclass(frozen=True)
class Operation:
    """What one API route takes and answers: read by :func:`operation` and by :mod:`webui.openapi`.

    ``answer`` is a response model (documented by reference) or any other type (its schema inlined); ``errors``
    names the shared error responses (:data:`webui.openapi.ERROR_RESPONSES`) the route may give besides 400
    (added when it parses a body or a query string), 401 (added unless it is ``public``) and 429 (every route: the
    API is rate-limited).
    """

    operation_id: str
    summary: str
    answer: Any
    description: str
    status: int = 200
    media: str = JSON
    headers: Mapping[str, str] = field(default_factory=dict)
    body: type[BaseModel] | None = None
    body_media: str = JSON
    query: type[QueryString] | None = None
    errors: tuple[str, ...] = ()
    public: bool = False


def _body_data(media: str) -> Any:
    """The body as data: a multipart form's fields and files, or the JSON document (None when it is not JSON).

    JSON nested deeper than the parser goes (``[`` × 100,000) is refused as the body's error; anything shallower
    is parsed, and form data is then held to the engine's own limit (:data:`~engine.bpmn.forms.MAX_DEPTH`).
    """
    if media == MULTIPART:
        return {**request.form.to_dict(), **request.files.to_dict()}
    try:
        return request.get_json(silent=True)
    except RecursionError as exc:
        raise ValidationFailed(
            "{what} does not match the API's schema",
            {BODY_FIELD: [FieldError("nesting_too_deep", {"limit": MAX_DEPTH})]},
            code="api.schema",
            what="the request body",
        ) from exc


def _query_data() -> dict[str, str]:
    """The query string as sent: each parameter is read by its field's type (a blank free-text filter filters on
    nothing, a blank number or choice is refused)."""
    return dict(request.args.items())


def operation(
    operation_id: str, summary: str, answer: Any, description: str, **details: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an API route's schemas; the view gets the parsed ``body=`` and ``query=`` models.

    Put it under ``@bp.get``/``@bp.post``; ``details`` are :class:`Operation`'s other fields.
    """
    declared = Operation(operation_id, summary, answer, description, **details)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def parsed(*args: Any, **kwargs: Any) -> Any:
            if declared.query is not None:
                kwargs["query"] = parse(declared.query, _query_data(), "the query string")
            if declared.body is not None:
                body = _body_data(declared.body_media)
                kwargs["body"] = parse(declared.body, body, "the request body")
            return view(*args, **kwargs)

        parsed.operation = declared  # type: ignore[attr-defined]
        return parsed

    return decorate


def declared_operation(view: Callable[..., Any]) -> Operation | None:
    """The :class:`Operation` a view was declared with, if any."""
    return getattr(view, "operation", None)
