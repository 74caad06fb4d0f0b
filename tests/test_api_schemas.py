"""The API's schema layer on its own: pydantic's errors in the API's words, and the document's guards.

The routes themselves are tested through HTTP in ``tests/test_api.py``; here a tiny Flask app shows that a route
without a declaration cannot be left out of the document, and a model with nested fields shows the error paths.
"""

from __future__ import annotations

from typing import Literal

import pytest
from flask import Blueprint, Flask
from pydantic import BaseModel, ConfigDict, Field

from engine.errors import ValidationFailed
from webui.api_schemas import ClaimResult, operation, parse
from webui.i18n import field_messages
from webui.openapi import build_document


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    lat: float = Field(ge=-90, le=90)
    lng: float = Field(gt=-180, lt=180)


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    location: Point
    photos: list[str] = Field(min_length=1, max_length=2)
    tags: list[Literal["a", "b"]] = []
    done: bool = False


def errors_of(data: object, language: str = "zh") -> dict[str, list[str]]:
    """The field errors of ``data``, said in ``language`` as the API's error handler says them."""
    with pytest.raises(ValidationFailed) as caught:
        parse(Sample, data, "the sample")
    assert str(caught.value) == "the sample does not match the API's schema"
    return field_messages(caught.value.errors, language)


def test_nested_fields_are_named_by_dotted_paths_in_chinese() -> None:
    assert errors_of({"location": {"lat": 91, "lng": -180, "alt": 3}, "photos": [1], "tags": ["c"]}) == {
        "location.lat": ["不能大于 90"],
        "location.lng": ["必须大于 -180"],
        "location.alt": ["不允许的字段"],
        "photos.0": ["类型不正确，应为文本"],
        "tags.0": ["不是可选的值，可选：'a', 'b'"],
    }
    assert errors_of({"location": "here", "photos": [], "done": "yes"}) == {
        "location": ["类型不正确，应为对象"],
        "photos": ["至少需要 1 项"],
        "done": ["类型不正确，应为是/否"],
    }
    assert errors_of({"location": {"lat": -91, "lng": 180}, "photos": ["1", "2", "3"]}) == {
        "location.lat": ["不能小于 -90"],
        "location.lng": ["必须小于 180"],
        "photos": ["不能超过 2 项"],
    }
    assert errors_of(None) == {"_body": ["请求体必须是一个 JSON 对象（Content-Type: application/json）"]}


def test_english_callers_read_the_same_codes_in_english() -> None:
    assert errors_of({"photos": "x"}, "en") == {
        "location": ["This field is required"],
        "photos": ["Must be a list"],
    }
    assert errors_of(3, "en") == {"_body": ["Expected a JSON object (Content-Type: application/json)"]}


def _app(*routes: tuple[str, bool]) -> Flask:
    """An app with the routes ``(path, declared)`` under /api/v1."""
    blueprint = Blueprint("api", __name__)
    for index, (path, declared) in enumerate(routes):

        def view(**_: object) -> str:
            return ""

        view.__name__ = f"view_{index}"
        if declared:
            view = operation(f"op{index}", "a route", ClaimResult, "Done.")(view)
        blueprint.add_url_rule(path, view_func=view, methods=["POST"])
    app = Flask(__name__)
    app.register_blueprint(blueprint, url_prefix="/api/v1")
    return app


def _document(app: Flask) -> dict[str, object]:
    return build_document(app.url_map.iter_rules(), app.view_functions, "/api/v1", None, 60)


def test_a_route_without_a_declaration_stops_the_document() -> None:
    assert set(_document(_app(("/tasks/<int:task_id>/claim", True)))["paths"]) == {"/tasks/{task_id}/claim"}
    with pytest.raises(LookupError, match=r"/api/v1/undeclared \(api.view_1\) declares no schemas"):
        _document(_app(("/tasks/<int:task_id>/claim", True), ("/undeclared", False)))
    with pytest.raises(LookupError, match="path parameter 'sheet_id' of /api/v1/sheets/<int:sheet_id>"):
        _document(_app(("/sheets/<int:sheet_id>", True)))
