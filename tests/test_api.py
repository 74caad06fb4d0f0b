"""The JSON API (/api/v1) through Flask's test client, on a real SQLite file with the demo district.

Staff work the whole loop through the API as themselves; every answer's shape is checked against the
OpenAPI document the API serves, so the document cannot drift from what the routes return. Malformed bodies and
query strings are refused by the routes' schemas with field-level 400s that leave the database as it was.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import START
from itsdangerous import URLSafeTimedSerializer
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from seeding import seeded_database
from web_support import password_hash

from engine.org import people
from webui import create_app
from webui.api import PUBLIC_ENDPOINTS, bp
from webui.api_schemas import declared_operation

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "api-test-password"
STAFF = ("gw_hb1", "gw_la1", "intake", "dispatcher", "h_dh_hw", "leader", "auditor")
GRID_HB1 = "330199001001001"
GRID_LA1 = "330199001002001"
# the smallest valid PNG: signature, IHDR, IDAT, IEND of a 1×1 image
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f0e0000000049454e44ae426082"
)
RUBBISH = {"category": "0101", "description": "路边有一堆暴露垃圾，无人清运", "address": "湖滨路 12 号"}


class Api:
    """The test client plus one bearer token per staff member, and the served OpenAPI document."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = app.test_client()
        self.tokens: dict[str, str] = {}
        self._document: dict[str, Any] | None = None

    def login(self, username: str) -> str:
        """A token for ``username`` from POST /auth/token."""
        if username not in self.tokens:
            answer = self.client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
            assert answer.status_code == 200, answer.get_json()
            self.tokens[username] = answer.get_json()["token"]
        return self.tokens[username]

    def call(self, method: str, user: str, path: str, **kwargs: Any) -> Any:
        """One request as ``user``."""
        headers = {"Authorization": f"Bearer {self.login(user)}", **kwargs.pop("headers", {})}
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    def get(self, user: str, path: str, **kwargs: Any) -> Any:
        return self.call("GET", user, path, **kwargs)

    def post(self, user: str, path: str, **kwargs: Any) -> Any:
        return self.call("POST", user, path, **kwargs)

    def document(self) -> dict[str, Any]:
        """The served OpenAPI document."""
        if self._document is None:
            self._document = self.client.get("/api/v1/openapi.json").get_json()
        return self._document

    def conforms(self, answer: Any, status: int, schema: str) -> Any:
        """Check the status and that the JSON body matches ``components/schemas/<schema>``; return the body."""
        body = answer.get_json()
        assert answer.status_code == status, body
        registry = Registry().with_resource("urn:gridloop-api", DRAFT202012.create_resource(self.document()))
        validator = Draft202012Validator(
            {"$ref": f"urn:gridloop-api#/components/schemas/{schema}"},
            registry=registry,
            format_checker=FormatChecker(),
        )
        problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
        assert not problems, problems
        return body

    def report(self, user: str, **data: Any) -> dict[str, Any]:
        """Report an event (rubbish unless overridden) and return the new event."""
        return self.conforms(self.post(user, "/events", json={**RUBBISH, **data}), 201, "EventDetail")

    def open_task(self, user: str, event_id: int, step: str) -> dict[str, Any]:
        """The event's single open task, which must be at ``step``, as ``user`` sees the event."""
        event = self.conforms(self.get(user, f"/events/{event_id}"), 200, "EventDetail")
        assert [t["step"] for t in event["open_tasks"]] == [step]
        return event["open_tasks"][0]

    def inbox(self, user: str, view: str) -> list[int]:
        """Task ids in one view of ``user``'s inbox."""
        page = self.conforms(self.get(user, f"/tasks?view={view}&per_page=200"), 200, "TaskPage")
        assert page["view"] == view and page["total"] == len(page["items"])
        return [t["id"] for t in page["items"]]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The app on a SQLite file of its own with the demo district, the repo's processes (copied from the run's
    template, see :mod:`seeding`) and passwords for STAFF."""
    with seeded_database("sqlite", tmp_path, None, ROOT, START, recipe="pages", name="api") as url:
        app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "test"})
        if "api" not in app.blueprints:
            app.register_blueprint(bp, url_prefix="/api/v1")
        gl = app.extensions["gridloop"]
        with gl.db.unit_of_work() as session:
            for username in STAFF:
                people.add_user(session, username).password_hash = password_hash(PASSWORD)
        yield Api(app)
        gl.db.dispose()


def database_dump(api: Api) -> list[str]:
    """Every row of every table of the test database, as SQL (read on a connection of its own)."""
    path = api.app.config["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        return list(connection.iterdump())


def assert_unauthorized(answer: Any) -> dict[str, Any]:
    """A 401 with a Bearer challenge and a JSON error."""
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    body = answer.get_json()
    assert body["error"] == "unauthorized" and body["message"]
    return body


# ---------------------------------------------------------------- auth


def test_token_is_issued_for_a_good_password_and_refused_for_a_wrong_one(api: Api) -> None:
    good = api.client.post("/api/v1/auth/token", json={"username": "gw_hb1", "password": PASSWORD})
    token = api.conforms(good, 200, "Token")
    assert token["expires_in"] == 12 * 3600 and token["token_type"] == "Bearer"
    claims = URLSafeTimedSerializer("test", salt="gridloop-api").loads(token["token"])
    assert claims["sub"] == "gw_hb1" and [
        t["id"] for t in api.app.extensions["gridloop"].access_tokens("gw_hb1")
    ] == [claims["jti"]]

    wrong = api.client.post("/api/v1/auth/token", json={"username": "gw_hb1", "password": "guess"})
    assert_unauthorized(wrong)
    api.conforms(wrong, 401, "Error")
    unknown = api.client.post("/api/v1/auth/token", json={"username": "nobody", "password": "guess"})
    assert assert_unauthorized(unknown)["message"] == wrong.get_json()["message"]

    missing = api.conforms(
        api.client.post("/api/v1/auth/token", json={"username": "gw_hb1"}), 400, "ValidationError"
    )
    assert list(missing["errors"]) == ["password"]
    not_json = api.client.post("/api/v1/auth/token", data="username=gw_hb1")
    assert api.conforms(not_json, 400, "ValidationError")["errors"] == {
        "_body": ["请求体必须是一个 JSON 对象（Content-Type: application/json）"]
    }


def test_a_missing_forged_or_expired_token_is_401(api: Api) -> None:
    assert_unauthorized(api.client.get("/api/v1/events"))
    assert_unauthorized(api.client.get("/api/v1/tasks", headers={"Authorization": "Basic Z3c6eA=="}))
    assert_unauthorized(api.client.get("/api/v1/events", headers={"Authorization": "Bearer not-a-token"}))
    forged = URLSafeTimedSerializer("another key", salt="gridloop-api").dumps({"sub": "admin"})
    assert_unauthorized(api.client.get("/api/v1/events", headers={"Authorization": f"Bearer {forged}"}))
    assert_unauthorized(api.client.post("/api/v1/events", json=RUBBISH))

    assert api.get("gw_hb1", "/events").status_code == 200
    api.app.config["API_TOKEN_MAX_AGE"] = -1
    assert "过期" in assert_unauthorized(api.get("gw_hb1", "/events"))["message"]
    english = api.get("gw_hb1", "/events", headers={"Accept-Language": "en"})
    assert "expired" in assert_unauthorized(english)["message"]


def test_a_token_of_a_deactivated_user_is_refused(api: Api) -> None:
    assert api.get("gw_hb1", "/tasks").status_code == 200
    gl = api.app.extensions["gridloop"]
    with gl.db.unit_of_work() as session:
        people.add_user(session, "gw_hb1").active = False
    assert_unauthorized(api.get("gw_hb1", "/tasks"))


# ----------------------------------------------------- categories, reporting, scope


def test_categories_are_grouped_by_class_with_their_codes(api: Api) -> None:
    classes = api.conforms(api.get("gw_hb1", "/categories"), 200, "Categories")
    rubbish = next(c for group in classes for c in group["categories"] if c["code"] == "0101")
    assert rubbish["name"] == "暴露垃圾" and rubbish["department_kind"] == "sanitation"
    group = next(g for g in classes if any(c["code"] == "0101" for c in g["categories"]))
    assert group["class_name"] == "市容环境"
    assert len({g["class_name"] for g in classes}) == len(classes)


def test_report_answers_201_with_code_location_and_the_reporters_grid(api: Api) -> None:
    photo = api.conforms(
        api.post("gw_hb1", "/attachments", data={"file": (io.BytesIO(PNG), "before.png")}), 201, "Attachment"
    )
    answer = api.post(
        "gw_hb1",
        "/events",
        json={**RUBBISH, "photos": [photo["id"]], "location": {"lat": 30.27, "lng": 120.15}},
    )
    event = api.conforms(answer, 201, "EventDetail")
    assert event["code"].startswith("E") and event["state"] == "reported"
    assert (event["grid"], event["channel"], event["reporter"]) == (GRID_HB1, "grid", "gw_hb1")
    assert event["location"] == {"lat": 30.27, "lng": 120.15}
    assert [t["step"] for t in event["open_tasks"]] == ["accept"]
    assert event["history"][0]["data"]["report"]["photos"] == [photo["id"]]
    assert answer.headers["Location"] == f"/api/v1/events/{event['id']}"
    assert (
        api.get("gw_hb1", answer.headers["Location"].removeprefix("/api/v1")).get_json()["code"]
        == event["code"]
    )
    assert datetime.fromisoformat(event["reported_at"]).tzinfo is not None


def test_report_with_a_bad_category_is_400_and_creates_nothing(api: Api) -> None:
    answer = api.post("gw_hb1", "/events", json={**RUBBISH, "category": "9999"})
    body = api.conforms(answer, 400, "ValidationError")
    assert body["error"] == "validation_failed" and body["errors"]["category"]
    short = api.conforms(api.post("gw_hb1", "/events", json={"category": "0101"}), 400, "ValidationError")
    assert "description" in short["errors"]
    unknown_photo = api.post("gw_hb1", "/events", json={**RUBBISH, "photos": ["no-such-photo"]})
    assert "photos" in api.conforms(unknown_photo, 400, "ValidationError")["errors"]
    assert api.get("gw_hb1", "/events").get_json()["total"] == 0


def test_report_outside_the_reporters_scope_is_403(api: Api) -> None:
    answer = api.post("gw_hb1", "/events", json={**RUBBISH, "grid": GRID_LA1})
    assert api.conforms(answer, 403, "Error")["error"] == "forbidden"
    assert api.get("gw_la1", "/events").get_json()["total"] == 0


def test_events_are_limited_to_the_callers_scope(api: Api) -> None:
    mine = api.report("gw_hb1")
    theirs = api.report("gw_la1", description="柳岸社区门口垃圾堆放")
    assert theirs["grid"] == GRID_LA1

    for user, own, other in (("gw_hb1", mine, theirs), ("gw_la1", theirs, mine)):
        page = api.conforms(api.get(user, "/events"), 200, "EventPage")
        assert [e["id"] for e in page["items"]] == [own["id"]] and page["total"] == 1
        hidden = api.conforms(api.get(user, f"/events/{other['id']}"), 404, "Error")
        assert hidden["error"] == "not_found" and other["code"] not in hidden["message"]
        assert api.get(user, f"/events?code={other['code']}").get_json()["items"] == []
    missing = api.conforms(api.get("gw_hb1", "/events/999999"), 404, "Error")
    assert missing["message"].replace("999999", "") == api.get(
        "gw_hb1", f"/events/{theirs['id']}"
    ).get_json()["message"].replace(str(theirs["id"]), "")

    district = api.conforms(api.get("intake", "/events?per_page=1"), 200, "EventPage")
    assert (district["total"], len(district["items"]), district["per_page"]) == (2, 1, 1)
    assert district["items"][0]["id"] == theirs["id"]
    second = api.get("intake", "/events?per_page=1&page=2").get_json()
    assert [e["id"] for e in second["items"]] == [mine["id"]]


def test_a_list_of_events_is_read_on_from_where_the_page_before_ended(api: Api) -> None:
    """``next`` of a page, given as ``after``, is the following page however deep the list: the same events as
    the numbered pages, in the same order, each once; the last page has none."""
    reported = [api.report("gw_hb1", description=f"路边垃圾堆放第{n}处")["id"] for n in range(5)]
    for query in ("", "&code=E"):  # newest first by report time; by code when searched by code
        numbered = []
        for page in (1, 2, 3):
            numbered += [
                e["id"]
                for e in api.get("intake", f"/events?per_page=2&page={page}{query}").get_json()["items"]
            ]
        walked, after, pages = [], "", 0
        while True:
            page = api.conforms(api.get("intake", f"/events?per_page=2{after}{query}"), 200, "EventPage")
            walked += [e["id"] for e in page["items"]]
            pages += 1
            if page["next"] is None:
                break
            after = f"&after={page['next']}"
        assert walked == numbered and sorted(walked) == sorted(reported) and pages == 3, query
    last = api.get("intake", "/events?per_page=5").get_json()
    assert len(last["items"]) == 5 and last["next"] is not None  # a full page: there may be more
    assert api.get("intake", f"/events?per_page=5&after={last['next']}").get_json() | {"total": 0} == {
        "items": [],
        "total": 0,
        "page": 1,
        "per_page": 5,
        "next": None,
    }
    for bad in ("nonsense", "t.x.1", "t.1", "c.E1", "t.99999999999999999999999.1"):
        refused = api.conforms(api.get("intake", f"/events?after={bad}"), 400, "ValidationError")
        assert list(refused["errors"]) == ["after"], bad


def test_events_filters_and_their_validation(api: Api) -> None:
    event = api.report("gw_hb1")
    api.report("gw_hb1", category="0103", description="道路不洁，落叶堆积")
    day = datetime.fromisoformat(event["reported_at"]).astimezone(
        api.app.extensions["gridloop"].calendar.timezone
    )
    today, yesterday = day.date().isoformat(), (day.date() - timedelta(days=1)).isoformat()

    def ids(query: str) -> list[int]:
        return [
            e["id"] for e in api.conforms(api.get("intake", f"/events?{query}"), 200, "EventPage")["items"]
        ]

    assert ids("category=0101") == [event["id"]]
    assert ids(f"code={event['code']}") == [event["id"]]
    assert len(ids(f"from={today}&to={today}")) == 2
    assert ids(f"to={yesterday}") == []
    assert ids(f"grid={GRID_LA1}") == []
    assert len(ids("state=reported")) == 2 and ids("state=closed") == []

    bad = api.conforms(
        api.get("intake", "/events?per_page=201&page=0&from=23/11/2026"), 400, "ValidationError"
    )
    assert set(bad["errors"]) == {"per_page", "page", "from"}
    view = api.conforms(api.get("intake", "/tasks?view=everything"), 400, "ValidationError")
    assert list(view["errors"]) == ["view"]


# ------------------------------------------------------------------ the loop


def work(api: Api, user: str, event_id: int, step: str, data: dict[str, Any], not_for: str) -> dict[str, Any]:
    """Find ``step`` in ``user``'s claimable inbox (not in ``not_for``'s), claim it, read it, complete it."""
    task = api.open_task(user, event_id, step)
    assert task["id"] in api.inbox(user, "claimable")
    assert task["id"] not in api.inbox(not_for, "claimable")
    claimed = api.conforms(api.post(user, f"/tasks/{task['id']}/claim"), 200, "ClaimResult")
    assert claimed == {"task": task["id"], "assignee": user}
    assert task["id"] in api.inbox(user, "mine")
    detail = api.conforms(api.get(user, f"/tasks/{task['id']}"), 200, "TaskDetail")
    assert detail["can_complete"] and detail["form"]["type"] == "object"
    assert detail["task"]["assignee"] == user
    result = api.conforms(
        api.post(user, f"/tasks/{task['id']}/complete", json={"data": data}), 200, "CompleteResult"
    )
    assert (result["task"], result["event"]) == (task["id"], event_id)
    assert task["id"] in api.inbox(user, "done")
    return result


def test_the_whole_loop_through_the_api_as_each_member_of_staff(api: Api) -> None:
    event = api.report("gw_hb1")
    eid = event["id"]
    work(
        api,
        "intake",
        eid,
        "accept",
        {"decision": "accept", "note": "信息完整，予以受理"},
        not_for="dispatcher",
    )

    dispatch = api.open_task("dispatcher", eid, "dispatch")
    detail = api.get("dispatcher", f"/tasks/{dispatch['id']}").get_json()
    assert detail["data"]["proposed_department"] == "DH-HW"
    assert {"const": "DH-HW", "title": "东湖街道环卫所"} in detail["form"]["properties"]["department"][
        "oneOf"
    ]
    work(
        api,
        "dispatcher",
        eid,
        "dispatch",
        {"department": "DH-HW", "instructions": "请按时限处置"},
        not_for="intake",
    )

    photo = api.post("h_dh_hw", "/attachments", data={"file": (io.BytesIO(PNG), "after.png")}).get_json()
    handled = {"action": "done", "result": "已清运完毕，现场已清洁", "photos": [photo["id"]]}
    work(api, "h_dh_hw", eid, "handle", handled, not_for="dispatcher")
    work(api, "gw_hb1", eid, "verify", {"passed": True, "note": "现场已处置到位"}, not_for="gw_la1")
    work(api, "leader", eid, "close", {"opinion": "同意结案"}, not_for="gw_hb1")
    last = work(api, "intake", eid, "follow_up", {"satisfaction": "satisfied"}, not_for="dispatcher")
    assert (last["state"], last["next"]) == ("closed", [])

    closed = api.conforms(api.get("gw_hb1", f"/events/{eid}"), 200, "EventDetail")
    assert (closed["state"], closed["open_tasks"], closed["satisfaction"]) == ("closed", [], "satisfied")
    assert closed["closed_at"] is not None and closed["department"] == "DH-HW"
    steps = [(t["step"], t["completed_by"]) for t in closed["tasks"]]
    assert steps == [
        ("accept", "intake"),
        ("dispatch", "dispatcher"),
        ("handle", "h_dh_hw"),
        ("verify", "gw_hb1"),
        ("close", "leader"),
        ("follow_up", "intake"),
    ]
    assert [h["action"] for h in closed["history"]] == ["report"] + ["claim", "complete"] * 6
    assert api.get("gw_hb1", "/events?state=closed").get_json()["total"] == 1
    attachment = api.get("gw_hb1", f"/attachments/{photo['id']}")
    assert (attachment.status_code, attachment.mimetype, attachment.data) == (200, "image/png", PNG)


def test_claim_and_unclaim_move_a_task_between_inbox_views(api: Api) -> None:
    task = api.open_task("intake", api.report("gw_hb1")["id"], "accept")
    api.post("intake", f"/tasks/{task['id']}/claim")
    assert task["id"] in api.inbox("intake", "mine") and task["id"] not in api.inbox("intake", "claimable")
    again = api.conforms(api.post("intake", f"/tasks/{task['id']}/claim"), 409, "Error")
    assert again["error"] == "conflict"

    released = api.conforms(api.post("intake", f"/tasks/{task['id']}/unclaim"), 200, "ClaimResult")
    assert released == {"task": task["id"], "assignee": None}
    assert task["id"] in api.inbox("intake", "claimable") and task["id"] not in api.inbox("intake", "mine")
    assert (
        api.conforms(api.post("intake", f"/tasks/{task['id']}/unclaim"), 409, "Error")["error"] == "conflict"
    )


def test_complete_with_bad_data_is_400_by_field_and_changes_nothing(api: Api) -> None:
    eid = api.report("gw_hb1")["id"]
    task = api.open_task("intake", eid, "accept")
    before = api.get("intake", f"/events/{eid}").get_json()

    bad = api.post(
        "intake", f"/tasks/{task['id']}/complete", json={"data": {"decision": "maybe", "extra": 1}}
    )
    body = api.conforms(bad, 400, "ValidationError")
    assert "decision" in body["errors"] and body["errors"]["decision"]
    reject_without_reason = api.post(
        "intake", f"/tasks/{task['id']}/complete", json={"data": {"decision": "reject"}}
    )
    assert "reason" in api.conforms(reject_without_reason, 400, "ValidationError")["errors"]
    no_data = api.post("intake", f"/tasks/{task['id']}/complete", json={"decision": "accept"})
    assert api.conforms(no_data, 400, "ValidationError")["errors"] == {
        "data": ["此项为必填项"],
        "decision": ["不允许的字段"],
    }

    after = api.get("intake", f"/events/{eid}").get_json()
    assert after == before
    assert after["open_tasks"][0]["status"] == "open" and after["version"] == before["version"]


def test_a_second_complete_is_409_and_changes_nothing(api: Api) -> None:
    eid = api.report("gw_hb1")["id"]
    task = api.open_task("intake", eid, "accept")
    done = api.post("intake", f"/tasks/{task['id']}/complete", json={"data": {"decision": "accept"}})
    assert done.status_code == 200
    before = api.get("intake", f"/events/{eid}").get_json()
    again = api.post(
        "intake", f"/tasks/{task['id']}/complete", json={"data": {"decision": "reject", "reason": "重复"}}
    )
    assert api.conforms(again, 409, "Error")["error"] == "conflict"
    assert api.get("intake", f"/events/{eid}").get_json() == before


def test_a_task_outside_the_callers_scope_is_404_everywhere(api: Api) -> None:
    eid = api.report("gw_hb1")["id"]
    for step, data in (("accept", {"decision": "accept"}), ("dispatch", {"department": "DH-HW"})):
        task = api.open_task("intake", eid, step)
        api.post(
            "dispatcher" if step == "dispatch" else "intake",
            f"/tasks/{task['id']}/complete",
            json={"data": data},
        )
    handle = api.open_task("gw_hb1", eid, "handle")
    for path in ("", "/claim", "/unclaim", "/complete"):
        method = api.get if not path else api.post
        answer = method(
            "gw_la1", f"/tasks/{handle['id']}{path}", json={"data": {"action": "done", "result": "好"}}
        )
        assert api.conforms(answer, 404, "Error")["error"] == "not_found"
    missing = api.conforms(api.get("gw_la1", "/tasks/999999"), 404, "Error")
    assert missing["message"].replace("999999", "") == api.get("gw_la1", f"/tasks/{handle['id']}").get_json()[
        "message"
    ].replace(str(handle["id"]), "")
    assert handle["id"] not in api.inbox("gw_la1", "claimable")
    assert api.open_task("intake", eid, "handle")["assignee"] is None


def test_an_auditor_may_read_but_not_complete_a_task(api: Api) -> None:
    eid = api.report("gw_hb1")["id"]
    task = api.open_task("auditor", eid, "accept")
    assert api.get("auditor", f"/tasks/{task['id']}").get_json()["can_complete"] is False
    answer = api.post("auditor", f"/tasks/{task['id']}/complete", json={"data": {"decision": "accept"}})
    assert api.conforms(answer, 403, "Error")["error"] == "forbidden"
    assert (
        api.conforms(api.post("auditor", f"/tasks/{task['id']}/claim"), 403, "Error")["error"] == "forbidden"
    )
    assert api.open_task("intake", eid, "accept")["status"] == "open"


# -------------------------------------------------------------- attachments


def test_attachment_upload_accepts_a_png_and_refuses_text(api: Api) -> None:
    good = api.post("gw_hb1", "/attachments", data={"file": (io.BytesIO(PNG), "../../photo.png")})
    stored = api.conforms(good, 201, "Attachment")
    assert (stored["filename"], stored["content_type"], stored["size"]) == (
        "photo.png",
        "image/png",
        len(PNG),
    )
    assert good.headers["Location"] == f"/api/v1/attachments/{stored['id']}"
    fetched = api.get("gw_hb1", f"/attachments/{stored['id']}")
    assert (fetched.data, fetched.headers["X-Content-Type-Options"]) == (PNG, "nosniff")
    # nobody else reads it until an event uses it (see tests/test_hardening.py)
    assert (
        api.conforms(api.get("gw_la1", f"/attachments/{stored['id']}"), 404, "Error")["error"] == "not_found"
    )

    text = api.post("gw_hb1", "/attachments", data={"file": (io.BytesIO(b"just some text"), "fake.png")})
    assert api.conforms(text, 400, "ValidationError")["errors"]["file"]
    empty = api.post("gw_hb1", "/attachments", data={"file": (io.BytesIO(b""), "empty.png")})
    assert api.conforms(empty, 400, "ValidationError")["errors"]["file"]
    none = api.post("gw_hb1", "/attachments", data={"other": "x"})
    assert api.conforms(none, 400, "ValidationError")["errors"]["file"]
    assert api.conforms(api.get("gw_hb1", "/attachments/not-an-id"), 404, "Error")["error"] == "not_found"


# ----------------------------------------------------------------- OpenAPI


def test_openapi_document_is_valid_and_describes_every_route(api: Api) -> None:
    answer = api.client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    document = answer.get_json()
    validate_openapi(document)
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "a token from POST /auth/token",
    }
    for name in ("Event", "Task", "Error", "ValidationError"):
        assert name in document["components"]["schemas"]
    assert "category" in document["components"]["schemas"]["Report"]["properties"]

    routes = {
        (
            rule.rule.removeprefix("/api/v1").replace("<int:", "{").replace("<", "{").replace(">", "}"),
            method.lower(),
        )
        for rule in api.app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == documented
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (path, method)
            public = operation.get("security") == []
            assert public == ((path, method) in {("/auth/token", "post"), ("/openapi.json", "get")})
            assert public or "401" in operation["responses"]


def test_openapi_document_is_openapi_3_1_built_from_the_route_declarations(api: Api) -> None:
    document = api.document()
    OpenAPIV31SpecValidator(document).validate()
    schemas = document["components"]["schemas"]
    credentials, completion = schemas["Credentials"], schemas["Completion"]
    assert credentials["additionalProperties"] is False and credentials["required"] == [
        "username",
        "password",
    ]
    assert credentials["properties"]["username"]["minLength"] == 1
    assert (
        completion["additionalProperties"] is False and completion["properties"]["data"]["type"] == "object"
    )
    assert schemas["Task"]["properties"]["status"]["enum"] == ["open", "completed", "cancelled"]
    assert schemas["TaskPage"]["properties"]["per_page"]["maximum"] == 200
    assert set(schemas["Event"]["required"]) == set(schemas["Event"]["properties"])
    assert schemas["Report"]["properties"]["description"]["maxLength"] == 2000

    inbox = document["paths"]["/tasks"]["get"]
    parameters = {p["name"]: p for p in inbox["parameters"]}
    assert parameters["view"]["schema"] == {
        "default": "mine",
        "enum": ["mine", "claimable", "follow_up", "done"],
        "type": "string",
    }
    assert parameters["per_page"]["schema"] == {
        "default": 50,
        "minimum": 1,
        "maximum": 200,
        "type": "integer",
    }
    assert parameters["grid"]["schema"] == {"type": "string"} and not parameters["grid"]["required"]
    assert {"400", "401"} <= set(inbox["responses"])
    task = document["paths"]["/tasks/{task_id}"]["get"]
    assert task["parameters"] == [
        {
            "name": "task_id",
            "in": "path",
            "required": True,
            "description": "the task's id",
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        }
    ]
    assert "400" not in task["responses"]

    referenced = {
        ref.removeprefix("#/components/schemas/")
        for ref in _refs(document)
        if ref.startswith("#/components/schemas/")
    }
    assert referenced == set(schemas), "every schema is used and every reference resolves"
    public = {
        rule.endpoint
        for rule in api.app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        and declared_operation(api.app.view_functions[rule.endpoint]).public
    }
    assert public == PUBLIC_ENDPOINTS


def _refs(node: Any) -> list[str]:
    """Every ``$ref`` in a document."""
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


LONG = "长" * 2001
MALFORMED_TOKEN_REQUESTS = [
    ({"username": "gw_hb1"}, "password", "此项为必填项"),
    ({"username": 5, "password": PASSWORD}, "username", "类型不正确，应为文本"),
    ({"username": "gw_hb1", "password": PASSWORD, "remember": True}, "remember", "不允许的字段"),
    ({"username": "gw_hb1", "password": "x" * 1025}, "password", "不能超过 1024 个字符"),
    ({"username": "", "password": PASSWORD}, "username", "至少需要 1 个字符"),
    (["gw_hb1", PASSWORD], "_body", "请求体必须是一个 JSON 对象（Content-Type: application/json）"),
]


@pytest.mark.parametrize(("body", "field", "message"), MALFORMED_TOKEN_REQUESTS)
def test_a_malformed_sign_in_is_400_before_any_sign_in_is_tried(
    api: Api, monkeypatch: pytest.MonkeyPatch, body: Any, field: str, message: str
) -> None:
    before = database_dump(api)
    gl = api.app.extensions["gridloop"]
    monkeypatch.setattr(gl, "sign_in", lambda *args: pytest.fail("the engine was called"))
    answer = api.conforms(api.client.post("/api/v1/auth/token", json=body), 400, "ValidationError")
    assert answer["error"] == "validation_failed" and answer["errors"][field] == [message]
    assert database_dump(api) == before


MALFORMED_REPORTS = [
    ({"description": RUBBISH["description"]}, "category"),
    ({**RUBBISH, "description": 12345}, "description"),
    ({**RUBBISH, "priority": "urgent"}, "priority"),
    ({**RUBBISH, "description": LONG}, "description"),
    ({**RUBBISH, "address": "路" * 201}, "address"),
    ({**RUBBISH, "channel": "fax"}, "channel"),
    ({**RUBBISH, "location": {"lat": 91, "lng": 120.15}}, "location.lat"),
    ({**RUBBISH, "location": {"lat": 30.27}}, "location.lng"),
    ({**RUBBISH, "photos": "photo-1"}, "photos"),
    ([RUBBISH], "_body"),
]


@pytest.mark.parametrize(("body", "field"), MALFORMED_REPORTS)
def test_a_malformed_report_is_400_by_field_and_creates_nothing(api: Api, body: Any, field: str) -> None:
    api.login("gw_hb1")
    before = database_dump(api)
    answer = api.conforms(api.post("gw_hb1", "/events", json=body), 400, "ValidationError")
    assert answer["errors"][field], answer
    assert not any(message.isascii() for messages in answer["errors"].values() for message in messages)
    assert database_dump(api) == before


MALFORMED_COMPLETIONS = [
    ({}, "data", "此项为必填项"),
    ({"data": "accept"}, "data", "类型不正确，应为对象"),
    ({"data": {"decision": "accept"}, "comment": "好"}, "comment", "不允许的字段"),
    # what is inside data is the task's form's to check, as on the task page
    ({"data": {"decision": "accept", "note": "备" * 1001}}, "note", "不能超过 1000 个字符"),
    ({"data": {"decision": "maybe"}}, "decision", "不是可选的值"),
    ({"data": {"decision": "accept", "urgent": True}}, "urgent", "不允许的字段"),
]


@pytest.mark.parametrize(("body", "field", "message"), MALFORMED_COMPLETIONS)
def test_a_malformed_completion_is_400_by_field_and_changes_nothing(
    api: Api, body: dict[str, Any], field: str, message: str
) -> None:
    task = api.open_task("intake", api.report("gw_hb1")["id"], "accept")
    api.post("intake", f"/tasks/{task['id']}/claim")
    before = database_dump(api)
    answer = api.conforms(
        api.post("intake", f"/tasks/{task['id']}/complete", json=body), 400, "ValidationError"
    )
    assert answer["errors"][field] == [message]
    assert database_dump(api) == before


def test_schema_errors_reach_no_engine_command_and_speak_english_on_request(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = api.open_task("intake", api.report("gw_hb1")["id"], "accept")
    gl = api.app.extensions["gridloop"]
    for command in ("report", "complete", "upload"):
        monkeypatch.setattr(gl, command, lambda *args, **kwargs: pytest.fail("the engine was called"))
    refused = [
        api.post("gw_hb1", "/events", data="category=0101"),
        api.post("intake", f"/tasks/{task['id']}/complete", json={"data": None}),
        api.post("gw_hb1", "/attachments", data={"file": "not a file"}),
    ]
    assert [answer.status_code for answer in refused] == [400, 400, 400]
    english = api.post(
        "intake", f"/tasks/{task['id']}/complete", json={"date": {}}, headers={"Accept-Language": "en"}
    )
    assert api.conforms(english, 400, "ValidationError")["errors"] == {
        "data": ["This field is required"],
        "date": ["This field is not allowed"],
    }


def test_a_malformed_upload_is_400_by_field_and_stores_nothing(api: Api) -> None:
    api.login("gw_hb1")
    before = database_dump(api)
    for form, field, message in (
        ({}, "file", "此项为必填项"),
        ({"file": "not a file"}, "file", "应为以 multipart/form-data 上传的文件"),
        ({"file": (io.BytesIO(PNG), "a.png"), "caption": "现场"}, "caption", "不允许的字段"),
    ):
        answer = api.conforms(api.post("gw_hb1", "/attachments", data=form), 400, "ValidationError")
        assert answer["errors"][field] == [message], answer
    assert database_dump(api) == before


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("/events?page=abc", "page", "类型不正确，应为整数"),
        ("/events?page=1.5", "page", "类型不正确，应为整数"),
        ("/events?page=0", "page", "不能小于 1"),
        ("/events?per_page=100000", "per_page", "不能大于 200"),
        (
            "/events?from=yesterday",
            "from",
            "应为 ISO 8601 日期（2026-11-23）或日期时间（2026-11-23T09:00:00+08:00）",
        ),
        (
            "/events?to=2026-13-01",
            "to",
            "应为 ISO 8601 日期（2026-11-23）或日期时间（2026-11-23T09:00:00+08:00）",
        ),
        ("/events?sort=code", "sort", "不允许的字段"),
        ("/tasks?view=everything", "view", "不是可选的值，可选：'mine', 'claimable', 'follow_up', 'done'"),
        ("/tasks?per_page=-1", "per_page", "不能小于 1"),
        ("/tasks?page=99999999999999999999999", "page", "不能大于 1000000"),
    ],
)
def test_a_malformed_query_parameter_is_400_not_500(api: Api, query: str, field: str, message: str) -> None:
    answer = api.conforms(api.get("intake", query), 400, "ValidationError")
    assert answer["errors"] == {field: [message]}


def test_blank_free_text_filters_mean_no_filter_and_other_blanks_are_refused(api: Api) -> None:
    event = api.report("gw_hb1")
    page = api.conforms(api.get("intake", "/events?grid=&category=%20&code=&state="), 200, "EventPage")
    assert [e["id"] for e in page["items"]] == [event["id"]] and (page["page"], page["per_page"]) == (1, 50)
    for query, field in (("/events?page=", "page"), ("/events?from=", "from"), ("/tasks?view=", "view")):
        assert list(api.conforms(api.get("intake", query), 400, "ValidationError")["errors"]) == [field]
