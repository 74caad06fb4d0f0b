"""No input gives a 500: what the databases cannot take is refused at the edge with a 404 or a field-level 400.

Each case here once answered 500 on SQLite, on PostgreSQL or on both: ids and page numbers beyond the databases'
integers, JSON nested a hundred thousand deep, text with a NUL (PostgreSQL refuses it) or a lone surrogate
(no database stores one), blank or oddly shaped query parameters, and a 405 without its ``Allow``. Every test
runs on every configured backend, through the JSON API and the staff pages, and checks that nothing changed.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TINY_PNG
from flask.testing import FlaskClient
from web_support import PASSWORD, app_with_staff, at_handle, html, open_task, post, report, staff, token

from engine.app import Gridloop
from engine.settings import DEFAULTS
from webui import MAX_ID

STAFF = ("gw_hb1", "intake", "h_dh_hw", "supervisor", "admin")
BEYOND_INT32 = 2**31
BEYOND_INT64 = 2**64
NUL = "\x00"
# what the API says for text no database stores, and for nesting beyond the limit (Chinese by default)
UNSTORABLE = "含有无法保存的字符（如 NUL 或不成对的代理字符），请删除后重试"
TOO_DEEP = "嵌套层级过深（最多 32 层）"
RUBBISH = {"category": "0101", "description": "路边有一堆暴露垃圾，无人清运", "address": "湖滨路 12 号"}


@pytest.fixture
def app(tmp_path: Path, backend: str) -> Iterator[Any]:
    """The app on the test's database (SQLite or PostgreSQL) with staff who sign in and processes deployed."""
    yield from app_with_staff(tmp_path, STAFF, backend)


@pytest.fixture
def gl(app: Any) -> Gridloop:
    """The app's engine."""
    return app.extensions["gridloop"]


class Api:
    """The app's test client with one bearer token per member of staff, from POST /auth/token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        if username not in self.tokens:
            answer = self.client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
            assert answer.status_code == 200, answer.get_json()
            self.tokens[username] = answer.get_json()["token"]
        return self.tokens[username]

    def call(self, method: str, username: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token(username)}", **kwargs.pop("headers", {})}
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    def post_json(self, username: str, path: str, text: str) -> Any:
        """POST ``text`` as it is, as a JSON body (escapes such as ``\\ud800`` reach the server unparsed)."""
        return self.call("POST", username, path, data=text, content_type="application/json")


@pytest.fixture
def api(app: Any) -> Api:
    return Api(app.test_client())


def field_errors(answer: Any) -> dict[str, list[str]]:
    """The field errors of a 400 from the API."""
    body = answer.get_json()
    assert answer.status_code == 400, body
    assert body["error"] == "validation_failed"
    return body["errors"]


def event_count(gl: Gridloop) -> int:
    return gl.list_events("admin")[1]


def block(page: str, element_id: str) -> str:
    """A form field's block on a page: from its id to the end of its <div>."""
    start = page.index(f'id="{element_id}"')
    return page[start : page.index("</div>", start)]


# ------------------------------------------------------------------ ids and page numbers


def test_an_id_beyond_the_databases_integers_is_404_on_the_api(api: Api) -> None:
    for number in (BEYOND_INT32, BEYOND_INT64, 10**40, 0):
        for method, path in (
            ("GET", f"/events/{number}"),
            ("GET", f"/tasks/{number}"),
            ("POST", f"/tasks/{number}/claim"),
            ("POST", f"/tasks/{number}/unclaim"),
            ("POST", f"/tasks/{number}/complete"),
        ):
            answer = api.call(
                method, "intake", path, json={"data": {}} if path.endswith("complete") else None
            )
            assert answer.status_code == 404, (path, answer.get_json())
            assert answer.get_json()["error"] == "not_found"


def test_the_largest_id_is_an_id_nobody_has(api: Api, app: Any) -> None:
    assert api.call("GET", "intake", f"/events/{MAX_ID}").get_json()["error"] == "not_found"
    assert staff(app, "intake").get(f"/tasks/{MAX_ID}").status_code == 404


@pytest.mark.parametrize("number", [BEYOND_INT32, BEYOND_INT64])
def test_an_id_beyond_the_databases_integers_is_404_on_the_pages(app: Any, gl: Gridloop, number: int) -> None:
    client = staff(app, "supervisor")
    for path in (
        f"/events/{number}",
        f"/tasks/{number}",
        f"/report/{number}/done",
        f"/audit/events/{number}",
        f"/processes/versions/{number}/diagram.bpmn",
    ):
        assert client.get(path).status_code == 404, path
    event_id = at_handle(gl)
    assert post(client, f"/tasks/{number}/claim", {}, page="/inbox").status_code == 404
    assert (
        post(client, f"/events/{event_id}/sheets/{number}/reply", {"reply": "好"}, page="/inbox").status_code
        == 404
    )


def test_a_page_number_beyond_the_last_page_shows_an_empty_page_not_an_error(app: Any) -> None:
    client = staff(app, "intake")
    for path in (
        f"/events?page={BEYOND_INT64}",
        f"/inbox?page={BEYOND_INT64}",
        f"/inbox?page={BEYOND_INT32}",
    ):
        assert client.get(path).status_code == 200, path


def test_a_page_or_choice_out_of_range_or_blank_is_400_by_field(api: Api) -> None:
    for query, field, message in (
        (f"/events?page={BEYOND_INT64}", "page", "不能大于 1000000"),
        ("/events?per_page=201", "per_page", "不能大于 200"),
        ("/tasks?view=", "view", "不是可选的值，可选：'mine', 'claimable', 'follow_up', 'done'"),
        ("/tasks?page=", "page", "类型不正确，应为整数"),
        # an object in place of a number, as schemathesis sends one ({} as a blank)
        ("/events?per_page=", "per_page", "类型不正确，应为整数"),
        ("/events?from=", "from", "应为 ISO 8601 日期（2026-11-23）或日期时间（2026-11-23T09:00:00+08:00）"),
    ):
        assert field_errors(api.call("GET", "intake", query)) == {field: [message]}, query


def test_a_date_beyond_the_calendar_is_400_on_the_api_and_no_filter_on_the_page(api: Api, app: Any) -> None:
    client = staff(app, "intake")
    for query in (
        "from=0001-01-01",
        "to=9999-12-31",
        "from=0001-01-01T00:00:00%2B14:00",
        "to=9999-12-31T23:59:59-12:00",
    ):
        field = query.split("=")[0]
        answer = api.call("GET", "intake", f"/events?{query}")
        assert field_errors(answer) == {field: ["年份须在 1900 至 9998 之间"]}, query
        assert client.get(f"/events?{query}").status_code == 200, query


def test_a_blank_free_text_filter_still_filters_on_nothing(api: Api, gl: Gridloop) -> None:
    event_id = report(gl)["id"]
    page = api.call("GET", "intake", "/events?grid=&category=%20&code=").get_json()
    assert [e["id"] for e in page["items"]] == [event_id]


# ------------------------------------------------------------------ nesting


def test_json_nested_a_hundred_thousand_deep_is_400(api: Api, gl: Gridloop) -> None:
    before = event_count(gl)
    task = open_task(gl, report(gl)["id"])
    for path, text in (
        ("/events", "[" * 100_000),
        ("/events", '{"description": ' + "[" * 100_000),
        (f"/tasks/{task['id']}/complete", '{"data": ' + '{"a": ' * 100_000),
        ("/auth/token", "[" * 100_000),
    ):
        assert field_errors(api.post_json("intake", path, text)) == {"_body": [TOO_DEEP]}, path
    assert event_count(gl) == before + 1
    assert open_task(gl, task["event_id"])["id"] == task["id"]


def nested(levels: int) -> list[Any]:
    """Lists in lists, ``levels`` deep: ``[[[]]]`` for 3."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_form_data_nested_deeper_than_forms_go_is_400_at_its_field(api: Api, gl: Gridloop) -> None:
    task = open_task(gl, report(gl)["id"])
    deep = json.dumps({"data": {"decision": "accept", "note": nested(32)}})
    answer = api.post_json("intake", f"/tasks/{task['id']}/complete", deep)
    assert field_errors(answer) == {"note": [TOO_DEEP]}
    report_body = json.dumps({**RUBBISH, "location": {"lat": nested(31)}})
    assert field_errors(api.post_json("gw_hb1", "/events", report_body)) == {"location": [TOO_DEEP]}
    shallower = json.dumps({"data": {"decision": "accept", "note": nested(31)}})
    answer = api.post_json("intake", f"/tasks/{task['id']}/complete", shallower)
    assert field_errors(answer) == {"note": ["类型不正确，应为文本"]}, (
        "within the limit, the form has its say"
    )
    assert open_task(gl, task["event_id"])["id"] == task["id"]


# ------------------------------------------------------------------ text the databases cannot store


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\u0000"])
def test_unstorable_text_in_a_report_is_400_naming_its_field(api: Api, gl: Gridloop, escape: str) -> None:
    before = event_count(gl)
    description = f'"路边有一堆暴露垃圾{escape}，无人清运"'
    body = f'{{"category": "0101", "description": {description}, "address": "湖滨路"}}'
    assert field_errors(api.post_json("gw_hb1", "/events", body)) == {"description": [UNSTORABLE]}
    key = f'{{"category": "0101", "description": "路边有一堆暴露垃圾，无人清运", "x{escape}": 1}}'
    assert list(field_errors(api.post_json("gw_hb1", "/events", key))) == ["x\ufffd"]
    photos = f'{{"category": "0101", "description": "路边有一堆暴露垃圾，无人清运", "photos": ["a{escape}"]}}'
    assert field_errors(api.post_json("gw_hb1", "/events", photos)) == {"photos.0": [UNSTORABLE]}
    assert event_count(gl) == before


def test_unstorable_text_in_a_completion_is_400_naming_its_field(api: Api, gl: Gridloop) -> None:
    task = open_task(gl, report(gl)["id"])
    body = '{"data": {"decision": "accept", "note": "好\\u0000"}}'
    assert field_errors(api.post_json("intake", f"/tasks/{task['id']}/complete", body)) == {
        "note": [UNSTORABLE]
    }
    english = api.call(
        "POST",
        "intake",
        f"/tasks/{task['id']}/complete",
        data='{"data": {"decision": "accept", "reason": "\\ud800"}}',
        content_type="application/json",
        headers={"Accept-Language": "en"},
    )
    assert english.status_code == 400
    assert english.get_json()["errors"] == {
        "reason": [
            "Contains characters that cannot be stored (such as NUL or a lone surrogate); remove them and try again"
        ]
    }
    assert open_task(gl, task["event_id"])["id"] == task["id"]


def test_unstorable_text_in_a_query_or_a_sign_in_is_400_naming_its_field(api: Api) -> None:
    assert field_errors(api.call("GET", "intake", "/events?code=%00")) == {"code": [UNSTORABLE]}
    assert field_errors(api.call("GET", "intake", "/tasks?grid=33%00")) == {"grid": [UNSTORABLE]}
    for credentials, field in (
        ('{"username": "gw\\u0000", "password": "x"}', "username"),
        ('{"username": "gw_hb1", "password": "\\ud800"}', "password"),
    ):
        answer = api.client.post("/api/v1/auth/token", data=credentials, content_type="application/json")
        assert field_errors(answer) == {field: [UNSTORABLE]}


def test_a_nul_in_a_path_or_a_file_name_is_refused(api: Api, app: Any) -> None:
    assert api.call("GET", "intake", "/attachments/a%00b").status_code == 404
    assert staff(app, "intake").get("/attachments/a%00b").status_code == 404
    upload = api.call("POST", "gw_hb1", "/attachments", data={"file": (io.BytesIO(TINY_PNG), "现场\x00.png")})
    assert field_errors(upload) == {"file": [UNSTORABLE]}


def test_a_sign_in_with_a_nul_is_refused_before_any_account_is_looked_up(app: Any) -> None:
    client = app.test_client()
    answer = client.post(
        "/login", data={"username": f"gw_hb1{NUL}", "password": PASSWORD, "csrf_token": token(client)}
    )
    assert answer.status_code == 400 and "含有无法保存的字符" in html(answer)
    assert staff(app, "gw_hb1").get("/inbox").status_code == 200, "the account is not locked by it"


def test_the_pages_refuse_a_nul_in_a_search(app: Any) -> None:
    client = staff(app, "intake")
    for path in ("/events?code=%00", "/events?grid=%00", "/inbox?category=%00", "/inbox?x%00=1"):
        answer = client.get(path)
        assert answer.status_code == 400, path
        assert "含有无法保存的字符" in html(answer)


def test_the_report_form_refuses_a_nul_next_to_its_field(app: Any, gl: Gridloop) -> None:
    before = event_count(gl)
    client = staff(app, "gw_hb1")
    answer = post(client, "/report", {**RUBBISH, "description": f"路边有一堆暴露垃圾{NUL}，无人清运"})
    assert answer.status_code == 400
    assert UNSTORABLE in block(html(answer), "field-description")
    assert event_count(gl) == before


def test_a_task_form_refuses_a_nul_next_to_its_field(app: Any, gl: Gridloop) -> None:
    task = open_task(gl, report(gl)["id"])
    client = staff(app, "intake")
    path = f"/tasks/{task['id']}"
    answer = post(client, path, {"decision": "accept", "note": f"已受理{NUL}"})
    assert answer.status_code == 400
    assert UNSTORABLE in block(html(answer), "field-note")
    assert open_task(gl, task["event_id"])["id"] == task["id"]


def test_the_supervision_forms_refuse_a_nul_next_to_their_fields(app: Any, gl: Gridloop) -> None:
    event_id = at_handle(gl)
    event_path = f"/events/{event_id}"
    supervisor = staff(app, "supervisor")
    refused = post(
        supervisor, f"{event_path}/sheets", {"department": "DH-HW", "reason": f"督办{NUL}"}, page=event_path
    )
    assert refused.status_code == 400
    assert UNSTORABLE in block(html(refused), "field-reason")
    odd_department = post(
        supervisor, f"{event_path}/sheets", {"department": f"DH{NUL}", "reason": "督办"}, page=event_path
    )
    assert odd_department.status_code == 400
    assert gl.sheets("supervisor") == []
    issued = post(
        supervisor, f"{event_path}/sheets", {"department": "DH-HW", "reason": "请今日处置"}, page=event_path
    )
    assert issued.status_code == 303
    [sheet] = gl.sheets("supervisor")
    reply = post(
        staff(app, "h_dh_hw"),
        f"{event_path}/sheets/{sheet['id']}/reply",
        {"reply": f"已处置{NUL}"},
        page=event_path,
    )
    assert reply.status_code == 400 and UNSTORABLE in html(reply)
    assert gl.sheets("supervisor")[0]["reply"] is None


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800"])
def test_the_admin_forms_refuse_unstorable_text(app: Any, gl: Gridloop, escape: str) -> None:
    admin = staff(app, "admin")
    before = {key: gl.get_setting(key) for key in DEFAULTS}
    setting = post(admin, "/admin/settings", {"key": "satisfied_answers", "value": f'["satisfied{escape}"]'})
    assert setting.status_code == 400
    assert UNSTORABLE in block(html(setting), "json-satisfied_answers")
    assert {key: gl.get_setting(key) for key in DEFAULTS} == before
    day = post(admin, "/admin/calendar", {"day": "2027-01-01", "kind": "holiday", "note": f"元旦{NUL}"})
    assert day.status_code == 400 and UNSTORABLE in html(day)
    assert "2027-01-01" not in html(admin.get("/admin/calendar"))


# ------------------------------------------------------------------ 405


def test_a_405_says_which_methods_the_path_takes(api: Api, app: Any) -> None:
    answer = api.call("PUT", "intake", "/events")
    assert answer.status_code == 405 and answer.get_json()["error"]
    assert set(answer.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    page = staff(app, "intake").put("/report")
    assert page.status_code == 405
    assert set(page.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}


def test_the_admin_pages_refuse_deep_json_and_absurd_limits_without_a_500(app: Any, gl: Gridloop) -> None:
    from engine import settings

    admin = staff(app, "admin")
    deep = post(admin, "/admin/settings", {"key": "score_weights", "value": "[" * 100_000})
    assert deep.status_code == 400 and TOO_DEEP in html(deep)
    with gl.db.reading() as session:
        assert settings.get(session, "score_weights") == DEFAULTS["score_weights"]
    for limit in ("1e308", "nan", "inf", "4000"):
        answer = admin.get(f"/admin/calendar?start=2026-11-23T09:00&limit={limit}&unit=work_days")
        assert answer.status_code == 200 and "0 到 3660" in html(answer), limit
