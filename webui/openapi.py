"""The OpenAPI 3.1 document of the JSON API (webui/api.py), built as a plain dict.

Schemas are JSON Schema 2020-12 (OpenAPI 3.1's dialect), so tests can check real responses against them. The
report body is not restated here: it is the deployed report form (forms/report.json as deployed), passed in by
the route, so that the document follows the process version that is actually running.
"""

from __future__ import annotations

from typing import Any

from engine.reads.queries import INBOX_VIEWS

API_VERSION = "1.0.0"
TASK_STATUSES = ["open", "completed", "cancelled"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(type_name: str, **extra: Any) -> dict[str, Any]:
    return {"type": [type_name, "null"], **extra}


def _object(
    properties: dict[str, Any], description: str, required: list[str] | None = None
) -> dict[str, Any]:
    """An object schema whose properties are all required unless ``required`` says otherwise."""
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": _json(schema)}


def _errors(*names: str) -> dict[str, Any]:
    """References to the shared error responses, keyed by their status code."""
    return {STATUS_OF[name]: {"$ref": f"#/components/responses/{name}"} for name in names}


STATUS_OF = {
    "BadRequest": "400",
    "Unauthorized": "401",
    "Forbidden": "403",
    "NotFound": "404",
    "Conflict": "409",
    "ProcessFailure": "500",
    "NotDeployed": "503",
}

TIME = _nullable("string", format="date-time")

EVENT = _object(
    {
        "id": {"type": "integer"},
        "code": {"type": "string", "description": "event code, e.g. E20261123000001"},
        "category": {"type": "string", "description": "sub-category code from GET /categories"},
        "grid": {"type": "string", "description": "code of the grid the event lies in"},
        "channel": {"type": "string", "description": "grid, hotline, wechat, app or web"},
        "description": {"type": "string"},
        "address": _nullable("string"),
        "location": {"oneOf": [_ref("Location"), {"type": "null"}]},
        "reporter": {"type": "string"},
        "state": {"type": "string", "description": "reported, open, closed, rejected, not_found …"},
        "handling_level": _nullable("string"),
        "department": _nullable("string", description="code of the department handling it"),
        "reported_at": {"type": "string", "format": "date-time"},
        "opened_at": TIME,
        "due_at": TIME,
        "closed_at": TIME,
        "closed_on_time": _nullable("boolean"),
        "satisfaction": _nullable("string"),
        "rework_count": {"type": "integer"},
        "reassign_count": {"type": "integer"},
        "reopen_count": {"type": "integer"},
        "completed": {"type": "boolean", "description": "the process instance has finished"},
        "process_version_id": {"type": "integer"},
        "version": {"type": "integer", "description": "changes with every command on the event"},
    },
    "An event (网格事件) as the caller's scope shows it.",
)

TASK = _object(
    {
        "id": {"type": "integer"},
        "event_id": {"type": "integer"},
        "event_code": {"type": "string"},
        "category": {"type": "string"},
        "grid": {"type": "string"},
        "step": {"type": "string", "description": "the BPMN user task id, e.g. accept, dispatch, handle"},
        "name": {"type": "string"},
        "role": _nullable("string"),
        "scope": {"type": "string", "description": "org unit whose staff of the role are offered the task"},
        "department": _nullable("string"),
        "assignee": _nullable("string"),
        "status": {"type": "string", "enum": TASK_STATUSES},
        "form": _nullable("string"),
        "due_at": TIME,
        "created_at": {"type": "string", "format": "date-time"},
        "claimed_at": TIME,
        "completed_at": TIME,
        "completed_by": _nullable("string"),
    },
    "A human task (待办) of an event's process.",
)

HISTORY_ENTRY = _object(
    {
        "seq": {"type": "integer"},
        "at": {"type": "string", "format": "date-time"},
        "actor": {"type": "string"},
        "action": {"type": "string", "description": "report, claim, unclaim, complete, timer …"},
        "step": _nullable("string"),
        "task": _nullable("integer"),
        "data": {"type": "object", "description": "what the action submitted and changed"},
        "hash": {"type": "string", "description": "link of the tamper-evident hash chain"},
    },
    "One append-only history record.",
)

ERROR = _object(
    {
        "error": {"type": "string", "description": "machine-readable code, e.g. not_found, conflict"},
        "message": {"type": "string"},
        "locked_until": {"type": "string", "format": "date-time", "description": "401 on a locked account"},
    },
    "An error.",
    required=["error", "message"],
)

VALIDATION_ERROR = _object(
    {
        "error": {"const": "validation_failed"},
        "message": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "messages keyed by field path (e.g. category, location.lat, file)",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Invalid input: nothing was changed.",
)


def _page_of(item: str, description: str, **extra: Any) -> dict[str, Any]:
    return _object(
        {
            "items": {"type": "array", "items": _ref(item)},
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": 200},
            **extra,
        },
        description,
    )


def _schemas(report_form: dict[str, Any] | None) -> dict[str, Any]:
    report = report_form or {
        "type": "object",
        "description": "The deployed report form; no process is deployed yet.",
    }
    return {
        "Error": ERROR,
        "ValidationError": VALIDATION_ERROR,
        "Credentials": _object(
            {"username": {"type": "string", "minLength": 1}, "password": {"type": "string", "minLength": 1}},
            "A staff account's sign-in.",
        ),
        "Token": _object(
            {
                "token": {"type": "string"},
                "token_type": {"const": "Bearer"},
                "expires_in": {"type": "integer", "description": "seconds"},
            },
            "A bearer token for the Authorization header.",
        ),
        "Category": _object(
            {
                "code": {"type": "string"},
                "name": {"type": "string"},
                "department_kind": {"type": "string"},
                "handling_level": {"type": "string"},
                "time_limit": {"type": "number"},
                "time_unit": {"type": "string", "description": "work_hours, work_days, hours or days"},
            },
            "A sub-category (事件小类) of the routing table.",
        ),
        "CategoryClass": _object(
            {"class_name": {"type": "string"}, "categories": {"type": "array", "items": _ref("Category")}},
            "A category class (事件大类) and its sub-categories.",
        ),
        "Categories": {"type": "array", "items": _ref("CategoryClass"), "description": "The routing table."},
        "Location": _object(
            {"lat": {"type": "number"}, "lng": {"type": "number"}}, "Coordinates of the event's place."
        ),
        "Report": report,
        "Event": EVENT,
        "EventDetail": {
            "description": "An event with all its tasks, its open tasks apart, and its history.",
            "allOf": [
                _ref("Event"),
                _object(
                    {
                        "tasks": {"type": "array", "items": _ref("Task")},
                        "open_tasks": {"type": "array", "items": _ref("Task")},
                        "history": {"type": "array", "items": _ref("HistoryEntry")},
                    },
                    "What is added to the event's columns.",
                ),
            ],
        },
        "HistoryEntry": HISTORY_ENTRY,
        "EventPage": _page_of("Event", "One page of events, newest first."),
        "Task": TASK,
        "TaskPage": _page_of("Task", "One page of the caller's inbox.", view={"enum": list(INBOX_VIEWS)}),
        "TaskDetail": _object(
            {
                "task": _ref("Task"),
                "event": _ref("Event"),
                "form": {"type": "object", "description": "the step's form as a resolved JSON Schema"},
                "data": {"type": "object", "description": "the process data the task sees"},
                "can_complete": {"type": "boolean"},
            },
            "A task with what is needed to complete it.",
        ),
        "ClaimResult": _object(
            {"task": {"type": "integer"}, "assignee": _nullable("string")}, "Who holds the task now."
        ),
        "Completion": _object(
            {"data": {"type": "object", "description": "the form's fields, checked against TaskDetail.form"}},
            "A task's form data.",
        ),
        "CompleteResult": _object(
            {
                "task": {"type": "integer"},
                "event": {"type": "integer"},
                "state": {"type": "string"},
                "next": {
                    "type": "array",
                    "items": {"type": "integer"},
                    "description": "ids of the new tasks",
                },
            },
            "The outcome of completing a task.",
        ),
        "Attachment": _object(
            {
                "id": {"type": "string"},
                "filename": {"type": "string"},
                "content_type": {"type": "string"},
                "size": {"type": "integer"},
            },
            "A stored photo or document; reference its id from photos fields.",
        ),
    }


def _responses() -> dict[str, Any]:
    def error(description: str, schema: str = "Error") -> dict[str, Any]:
        return {"description": description, "content": _json(_ref(schema))}

    unauthorized = error("Missing, invalid or expired token, or a wrong sign-in.")
    unauthorized["headers"] = {
        "WWW-Authenticate": {"description": "Bearer challenge", "schema": {"type": "string"}}
    }
    return {
        "BadRequest": error(
            "Invalid input, with messages keyed by field; nothing was changed.", "ValidationError"
        ),
        "Unauthorized": unauthorized,
        "Forbidden": error("The caller may see this but may not do it."),
        "NotFound": error("No such thing, or it lies outside the caller's scope (indistinguishable)."),
        "Conflict": error("Someone else changed it first, or it is no longer open; nothing was changed."),
        "ProcessFailure": error("The process itself failed while running; nothing was changed."),
        "NotDeployed": error("No process version is deployed yet."),
    }


def _parameters() -> dict[str, Any]:
    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}

    def path(name: str, description: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "path",
            "required": True,
            "description": description,
            "schema": {"type": "integer"},
        }

    return {
        "EventId": path("event_id", "the event's id"),
        "TaskId": path("task_id", "the task's id"),
        "Page": query("page", "page number, from 1", {"type": "integer", "minimum": 1, "default": 1}),
        "PerPage": query(
            "per_page", "rows per page", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
        ),
        "Category": query("category", "sub-category code or its prefix", {"type": "string"}),
        "Grid": query("grid", "grid code or the code of a unit containing it", {"type": "string"}),
    }


def _param(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    if public:
        op["security"] = []
    else:
        responses.update(_errors("Unauthorized"))
    return op


def _task_command(operation_id: str, summary: str) -> dict[str, Any]:
    return {
        "post": _operation(
            operation_id,
            summary,
            {
                "200": _ok("Claimed or released.", _ref("ClaimResult")),
                **_errors("Forbidden", "NotFound", "Conflict"),
            },
            parameters=[_param("TaskId")],
        )
    }


def _paths() -> dict[str, Any]:
    return {
        "/auth/token": {
            "post": _operation(
                "issueToken",
                "Exchange a username and password for a bearer token",
                {
                    "200": _ok("A token.", _ref("Token")),
                    **_errors("BadRequest", "Unauthorized"),
                },
                body=_json(_ref("Credentials")),
                public=True,
            )
        },
        "/categories": {
            "get": _operation(
                "listCategories",
                "The routing table's sub-categories grouped by class",
                {
                    "200": _ok("Categories.", _ref("Categories")),
                    **_errors("NotDeployed"),
                },
            )
        },
        "/events": {
            "post": _operation(
                "reportEvent",
                "Report an event (上报); grid defaults to the reporter's own",
                {
                    "201": {
                        "description": "The new event.",
                        "headers": {
                            "Location": {"description": "the event's URL", "schema": {"type": "string"}}
                        },
                        "content": _json(_ref("EventDetail")),
                    },
                    **_errors("BadRequest", "Forbidden", "ProcessFailure", "NotDeployed"),
                },
                body=_json(_ref("Report")),
            ),
            "get": _operation(
                "listEvents",
                "Events in the caller's scope",
                {"200": _ok("A page of events.", _ref("EventPage")), **_errors("BadRequest")},
                parameters=[
                    {
                        "name": "code",
                        "in": "query",
                        "description": "part of the event code",
                        "schema": {"type": "string"},
                    },
                    _param("Category"),
                    _param("Grid"),
                    {
                        "name": "state",
                        "in": "query",
                        "description": "the event's state",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "from",
                        "in": "query",
                        "description": "reported on or after this ISO date (local day) or datetime",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "to",
                        "in": "query",
                        "description": "reported on or before this ISO date (local day), or before this datetime",
                        "schema": {"type": "string"},
                    },
                    _param("Page"),
                    _param("PerPage"),
                ],
            ),
        },
        "/events/{event_id}": {
            "get": _operation(
                "getEvent",
                "An event with its tasks and history",
                {"200": _ok("The event.", _ref("EventDetail")), **_errors("NotFound")},
                parameters=[_param("EventId")],
            )
        },
        "/tasks": {
            "get": _operation(
                "listTasks",
                "The caller's inbox",
                {"200": _ok("A page of tasks.", _ref("TaskPage")), **_errors("BadRequest")},
                parameters=[
                    {
                        "name": "view",
                        "in": "query",
                        "description": "mine (claimed by me), claimable (offered to me), done (completed by me)",
                        "schema": {"enum": list(INBOX_VIEWS), "default": "mine"},
                    },
                    _param("Category"),
                    _param("Grid"),
                    _param("Page"),
                    _param("PerPage"),
                ],
            )
        },
        "/tasks/{task_id}": {
            "get": _operation(
                "getTask",
                "A task with its form's JSON Schema and the data so far",
                {"200": _ok("The task.", _ref("TaskDetail")), **_errors("NotFound")},
                parameters=[_param("TaskId")],
            )
        },
        "/tasks/{task_id}/claim": _task_command("claimTask", "Claim a task offered to the caller"),
        "/tasks/{task_id}/unclaim": _task_command("unclaimTask", "Release a task the caller claimed"),
        "/tasks/{task_id}/complete": {
            "post": _operation(
                "completeTask",
                "Complete a task with its form's data",
                {
                    "200": _ok("Completed.", _ref("CompleteResult")),
                    **_errors("BadRequest", "Forbidden", "NotFound", "Conflict", "ProcessFailure"),
                },
                parameters=[_param("TaskId")],
                body=_json(_ref("Completion")),
            )
        },
        "/attachments": {
            "post": _operation(
                "uploadAttachment",
                "Store a photo or PDF (JPEG, PNG, GIF, WebP, PDF; at most 10 MB)",
                {"201": _ok("Stored.", _ref("Attachment")), **_errors("BadRequest")},
                body={
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "file": {"type": "string", "contentMediaType": "application/octet-stream"}
                            },
                            "required": ["file"],
                        }
                    }
                },
            )
        },
        "/attachments/{attachment_id}": {
            "get": _operation(
                "getAttachment",
                "An attachment's content",
                {
                    "200": {
                        "description": "The bytes, with their recognised content type.",
                        "content": {
                            "*/*": {
                                "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
                            }
                        },
                    },
                    **_errors("NotFound"),
                },
                parameters=[
                    {"name": "attachment_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
        "/openapi.json": {
            "get": _operation(
                "getOpenApi",
                "This document",
                {"200": _ok("The OpenAPI 3.1 document.", {"type": "object"})},
                public=True,
            )
        },
    }


def build_document(report_form: dict[str, Any] | None, token_max_age: int) -> dict[str, Any]:
    """The OpenAPI 3.1 document of /api/v1; ``report_form`` is the deployed report form's JSON Schema."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gridloop API",
            "version": API_VERSION,
            "description": (
                "Grid-event handling (网格化管理): report events, work task inboxes, complete steps. "
                f"Get a token at POST /auth/token (valid {token_max_age} s) and send it as "
                "'Authorization: Bearer <token>'. Everything is limited to the caller's scope: what lies "
                "outside it answers 404. Datetimes are ISO 8601 strings."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from POST /auth/token",
                }
            },
            "schemas": _schemas(report_form),
            "responses": _responses(),
            "parameters": _parameters(),
        },
    }
