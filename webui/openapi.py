"""The OpenAPI 3.1 document of the JSON API, written from the routes themselves.

Paths and their path parameters come from Flask's url_map; each route's operation, query parameters, request
body and answers from its :func:`webui.api_schemas.operation` declaration; the schemas from the pydantic models
that also parse the requests (``model_json_schema``: JSON Schema 2020-12, OpenAPI 3.1's dialect), so the document
states what the routes check and tests can hold real answers to it. A route without a declaration is an error
here, not a hole in the document. The report body is the deployed report form (forms/report.json as deployed),
passed in by the route, so that the document follows the process version that is actually running.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema
from werkzeug.routing import Rule

from webui import MAX_ID
from webui.api_schemas import (
    JSON,
    PATH_PARAMETERS,
    Error,
    Operation,
    Report,
    ValidationError,
    declared_operation,
)

API_VERSION = "1.0.0"
REF_TEMPLATE = "#/components/schemas/{model}"
# the shared error answers: name → (status, description, body)
ERROR_RESPONSES: dict[str, tuple[int, str, type[BaseModel]]] = {
    "BadRequest": (400, "Invalid input, with messages keyed by field; nothing was changed.", ValidationError),
    "Unauthorized": (401, "Missing, invalid or expired token, or a wrong sign-in.", Error),
    "Forbidden": (403, "The caller may see this but may not do it.", Error),
    "NotFound": (404, "No such thing, or it lies outside the caller's scope (indistinguishable).", Error),
    "Conflict": (409, "Someone else changed it first, or it is no longer open; nothing was changed.", Error),
    "ProcessFailure": (500, "The process itself failed while running; nothing was changed.", Error),
    "TooManyRequests": (
        429,
        "Too many requests from this address, or too many failed sign-ins: try again later.",
        Error,
    ),
    "NotDeployed": (503, "The process has no active version (none deployed, or all retired).", Error),
}
NO_REPORT_FORM = {"type": "object", "description": "The deployed report form; no process is deployed yet."}
_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_CONVERTER_SCHEMAS = {
    "default": {"type": "string"},
    "string": {"type": "string"},
    "int": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
}


class _Schemas(GenerateJsonSchema):
    """pydantic's JSON Schema without a title on every field (its name says it) and without defaults in what
    the API sends (an answer carries each field it has; a default only means something for input)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if self.mode == "serialization":
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=name)}


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def _inline_schema(kind: Any) -> dict[str, Any]:
    """The schema of an answer that is not a model (the document itself, a file's bytes)."""
    return TypeAdapter(kind).json_schema(
        mode="serialization", ref_template=REF_TEMPLATE, schema_generator=_Schemas
    )


def _path(rule: Rule, mount: str) -> tuple[str, list[dict[str, Any]]]:
    """A Flask rule as an OpenAPI path (``/events/{event_id}``) and its path parameters."""
    parameters = []
    for match in _ARGUMENT.finditer(rule.rule):
        name, converter = match["name"], match["converter"] or "default"
        if name not in PATH_PARAMETERS:
            raise LookupError(f"path parameter {name!r} of {rule.rule} has no description in PATH_PARAMETERS")
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": PATH_PARAMETERS[name],
                "schema": _CONVERTER_SCHEMAS[converter],
            }
        )
    return _ARGUMENT.sub(r"{\g<name>}", rule.rule.removeprefix(mount)), parameters


def _absent(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter's schema without its null variant and null default: it is left out, never null."""
    variants = schema.get("anyOf", [])
    kept = [variant for variant in variants if variant != {"type": "null"}]
    if len(kept) == len(variants):
        return schema
    rest = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
    return {**kept[0], **rest} if len(kept) == 1 else {"anyOf": kept, **rest}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One query parameter per field of a query-string model; absent rather than null when optional."""
    properties = model.model_json_schema(ref_template=REF_TEMPLATE, schema_generator=_Schemas)["properties"]
    parameters = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        schema = dict(properties[key])
        description = schema.pop("description", None)
        parameter = {"name": key, "in": "query", "required": info.is_required(), "schema": _absent(schema)}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _error_refs(names: Iterable[str]) -> dict[str, Any]:
    return {
        str(ERROR_RESPONSES[name][0]): {"$ref": f"#/components/responses/{name}"}
        for name in sorted(set(names), key=lambda name: ERROR_RESPONSES[name][0])
    }


def _operation(op: Operation, path_parameters: list[dict[str, Any]]) -> dict[str, Any]:
    answer_schema = _ref(op.answer.__name__) if _is_model(op.answer) else _inline_schema(op.answer)
    success: dict[str, Any] = {
        "description": op.description,
        "content": {op.media: {"schema": answer_schema}},
    }
    if op.headers:
        success["headers"] = {
            name: {"description": text, "schema": {"type": "string"}} for name, text in op.headers.items()
        }
    errors = [*op.errors, "TooManyRequests"]  # every route is rate-limited (webui.limits)
    if op.body is not None or op.query is not None:
        errors.append("BadRequest")
    if not op.public:
        errors.append("Unauthorized")
    document: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "responses": {str(op.status): success, **_error_refs(errors)},
    }
    parameters = path_parameters + (_query_parameters(op.query) if op.query is not None else [])
    if parameters:
        document["parameters"] = parameters
    if op.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {op.body_media: {"schema": _ref(op.body.__name__)}},
        }
    if op.public:
        document["security"] = []
    return document


@functools.cache
def _model_schemas(models: tuple[tuple[type[BaseModel], Any], ...]) -> Mapping[str, Any]:
    """The component schemas of ``models`` (pairs of model and mode), worked out once per process."""
    _, definitions = models_json_schema(list(models), ref_template=REF_TEMPLATE, schema_generator=_Schemas)
    return MappingProxyType(dict(sorted(definitions["$defs"].items())))


def _schemas(operations: Iterable[Operation], report_form: dict[str, Any] | None) -> dict[str, Any]:
    """Every model the operations and the error answers name, and the models those refer to."""
    models: list[tuple[type[BaseModel], Any]] = [
        (model, "serialization") for _, _, model in ERROR_RESPONSES.values()
    ]
    for op in operations:
        if op.body is not None:
            models.append((op.body, "validation"))
        if _is_model(op.answer):
            models.append((op.answer, "serialization"))
    schemas = dict(_model_schemas(tuple(dict.fromkeys(models))))
    if Report.__name__ in schemas:
        schemas[Report.__name__] = report_form or NO_REPORT_FORM
    return schemas


def _responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for name, (_status, description, model) in ERROR_RESPONSES.items():
        responses[name] = {"description": description, "content": {JSON: {"schema": _ref(model.__name__)}}}
    responses["Unauthorized"]["headers"] = {
        "WWW-Authenticate": {"description": "Bearer challenge", "schema": {"type": "string"}}
    }
    responses["TooManyRequests"]["headers"] = {
        "Retry-After": {"description": "seconds to wait, when known", "schema": {"type": "string"}}
    }
    return responses


def build_document(
    rules: Iterable[Rule],
    views: Mapping[str, Callable[..., Any]],
    mount: str,
    report_form: dict[str, Any] | None,
    token_max_age: int,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API rules among ``rules`` whose paths start with ``mount`` (``/api/v1``).

    ``views`` are the app's view functions by endpoint; ``report_form`` is the deployed report form's JSON Schema.
    """
    paths: dict[str, dict[str, Any]] = {}
    operations = []
    for rule in sorted(rules, key=lambda rule: rule.rule):
        if not rule.rule.startswith(f"{mount}/"):
            continue
        op = declared_operation(views[rule.endpoint])
        if op is None:
            raise LookupError(
                f"route {rule.rule} ({rule.endpoint}) declares no schemas: put @operation(...) from "
                "webui.api_schemas under its @bp.get/@bp.post"
            )
        path, parameters = _path(rule, mount)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(op, parameters)
        operations.append(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gridloop API",
            "version": API_VERSION,
            "description": (
                "Grid-event handling (网格化管理): report events, work task inboxes, complete steps. "
                f"Get a token at POST /auth/token (valid {token_max_age} s) and send it as "
                "'Authorization: Bearer <token>'. Everything is limited to the caller's scope: what lies "
                "outside it answers 404. Datetimes are ISO 8601 strings. Input that does not match its schema "
                "is refused with 400 and messages keyed by field path, in Chinese unless Accept-Language "
                "asks for English; nothing is changed."
            ),
        },
        "servers": [{"url": mount}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from POST /auth/token",
                }
            },
            "schemas": _schemas(operations, report_form),
            "responses": _responses(),
        },
    }
