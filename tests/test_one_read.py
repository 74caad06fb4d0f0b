"""One read per request (shared/DESIGN.md rule 11): a page or an API call reads through one session on one
pooled connection, and a request that runs commands takes one more connection per command and no other.

Counted with SQLAlchemy's pool ``checkout`` event on the engine's database, for every GET route of the web UI
and of the API — the test fails when a GET route appears that it does not cover — as a user of every demo role
and anonymously, with route parameters filled from a database holding the demo district and events driven
through the loop; then for the POST routes of tasks, the report, the language switch and the sign-in.
On SQLite and, when ``GRIDLOOP_TEST_POSTGRES_URL`` is set, PostgreSQL.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, START, TINY_PNG
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import event, select
from web_support import PASSWORD, at_handle, closed_with_rework, open_task, report, sign_in, staff, token

from engine.app import Gridloop
from engine.bpmn.folders import collect_models
from engine.commands.pipeline import system
from engine.demo import boundaries as demo_boundaries
from engine.demo.district import demo_users
from engine.demo.simulate import simulate
from engine.org.roles import ROLE_KEYS
from engine.store.models import LedgerPerson, ProcessVersion
from engine.time.clock import ManualClock
from webui import create_app

# one demo user of every role
STAFF: dict[str, str] = {
    "grid_worker": "gw_hb1",
    "intake": "intake",
    "dispatcher": "dispatcher",
    "shift_leader": "leader",
    "handler": "h_dh_hw",
    "evaluator": "evaluator",
    "supervisor": "supervisor",
    "auditor": "auditor",
    "designer": "designer",
    "admin": "admin",
}
ANONYMOUS = None


@dataclass
class World:
    """The app and the ids its routes are asked about."""

    app: Flask
    closed_event: int
    open_event: int
    photo_event: int
    version: int  # the household visit's draft
    attachment: str
    monthly_report: int = 0
    active_visit: int = 0  # the household visit's active version, the draft's predecessor
    tasks: dict[str, int] = field(default_factory=dict)

    @property
    def gl(self) -> Gridloop:
        return self.app.extensions["gridloop"]


class Counts:
    """Pool checkouts and units of work (commands) on one engine's database."""

    def __init__(self, gl: Gridloop) -> None:
        self.checkouts = 0
        self.units = 0
        event.listen(gl.db.engine, "checkout", self._checkout)
        unit_of_work = gl.db.unit_of_work

        def counted() -> Any:
            self.units += 1
            return unit_of_work()

        gl.db.unit_of_work = counted  # type: ignore[method-assign]

    def _checkout(self, *_: Any) -> None:
        self.checkouts += 1

    @contextmanager
    def measuring(self) -> Iterator[dict[str, int]]:
        """The checkouts and units of work of the block, filled in when it ends."""
        found: dict[str, int] = {}
        checkouts, units = self.checkouts, self.units
        yield found
        found.update(checkouts=self.checkouts - checkouts, units=self.units - units)


@pytest.fixture
def world(backend: str, tmp_path: Path) -> Iterator[World]:
    """The app with passwords for one user of each role, a closed event (reworked once), one waiting at its
    handling step with a supervision sheet, one reported with a photo and a few simulated ones; then a fresh
    engine on the same database, so that the first requests find every cache cold."""
    from web_support import app_with_staff

    for app in app_with_staff(tmp_path, tuple(STAFF.values()), backend):
        gl = app.extensions["gridloop"]
        closed = closed_with_rework(gl)
        waiting = at_handle(gl)
        gl.issue_sheet("supervisor", waiting, "DH-HW", "请尽快清运")
        photo = gl.upload("gw_hb1", "site.png", TINY_PNG).id
        with_photo = report(gl, photos=[photo])["id"]
        simulate(gl, events=6, seed=7)
        gl.start("gw_hb1", "household_visit", VISIT)  # an instance of the household visit, and a draft of it
        gl.deploy_files(system("test"), _visit_files(0))
        with gl.db.reading() as session:
            version = session.scalar(select(ProcessVersion.id).order_by(ProcessVersion.id.desc()))
            active_visit = session.scalar(
                select(ProcessVersion.id)
                .where(ProcessVersion.process_id == "household_visit", ProcessVersion.id < version)
                .order_by(ProcessVersion.id.desc())
            )
        world = World(app, closed, waiting, with_photo, version, photo, active_visit=active_visit)
        world.monthly_report = gl.write_monthly_report(system("test"), "2026-11")["id"]
        for role, username in STAFF.items():
            world.tasks[role] = _a_task_of(gl, username) or open_task(gl, waiting)["id"]
        fresh = Gridloop(gl.db.url, clock=ManualClock(gl.now()))
        app.extensions["gridloop"] = fresh
        try:
            yield world
        finally:
            fresh.db.dispose()
            app.extensions["gridloop"] = gl


def _a_task_of(gl: Gridloop, username: str) -> int | None:
    """A task in the user's inbox: one of their own, else one to claim, else one they completed."""
    for view in ("mine", "claimable", "done"):
        rows, _ = gl.inbox(username, view, per_page=1)
        if rows:
            return rows[0]["id"]
    return None


Variants = Callable[[World, str], list[dict[str, Any]]]


def _one(**values: Any) -> Variants:
    return lambda world, role: [values]


# Every GET route: endpoint → the url_for values (route parameters and query arguments) it is asked with, for a
# role. A GET route missing here fails test_every_get_route_is_covered.
GET_ROUTES: dict[str, Variants] = {
    "status.index": _one(),
    "status.health": _one(),
    "auth.login": _one(),
    "static": _one(filename="css/gridloop.css"),
    "inbox.index": lambda w, r: [
        {},
        {"view": "claimable"},
        {"view": "done", "sort": "-due"},
        {"view": "claimable", "colour": "green", "category": "01", "grid": "330199001"},
    ],
    "tasks.show": lambda w, r: [{"task_id": w.tasks[r]}],
    "report.new": _one(),
    "report.done": lambda w, r: [{"event_id": w.photo_event}],
    "events.index": lambda w, r: [
        {},
        {"state": "closed"},
        {"state": "on_hold", "category": "01", "from": "2026-11-01", "to": "2026-12-31"},
        {"state": "no_such_state"},
        {"code": "E", "page": 2},
    ],
    "events.show": lambda w, r: [{"event_id": w.closed_event}, {"event_id": w.open_event}],
    "processes.index": _one(),
    "processes.diagram": lambda w, r: [{"version_id": w.version}],
    "processes.start_form": _one(process_id="household_visit"),
    "designer.index": _one(),
    "designer.edit": _one(process_id="household_visit"),
    "designer.migration_plan": lambda w, r: [
        {"process_id": "household_visit", "from": w.active_visit, "to": w.version}
    ],
    "designer.step_mapping": lambda w, r: [
        {"process_id": "household_visit", "from": w.active_visit, "to": w.version}
    ],
    "designer.model_file": lambda w, r: [{"process_id": "household_visit", "name": "visit_record.json"}],
    "designer.what_if": lambda w, r: [
        {"process_id": "household_visit", "version": w.version, "from": "2026-11-01", "to": "2026-11-30"}
    ],
    "api.list_processes": _one(),
    "attachments.show": lambda w, r: [{"attachment_id": w.attachment}],
    "audit.show": lambda w, r: [{"event_id": w.closed_event}, {"event_id": w.closed_event, "step": 5}],
    "audit.history_json": lambda w, r: [{"event_id": w.closed_event}],
    "audit.history_csv": lambda w, r: [{"event_id": w.closed_event}],
    "supervision.board": lambda w, r: [{}, {"status": "cleared"}],
    "gridmap.index": lambda w, r: [{}, {"category": "01", "light": "green"}, {"light": "no-such-light"}],
    "ledger.index": lambda w, r: [{}, {"grid": "330199001", "flag": "elderly_alone"}],
    "ledger.template": _one(),
    "admin.grids": _one(),
    "dashboard.index": lambda w, r: [{}, {"by": "worker"}, {"by": "category", "from": "2026-11-01"}],
    "dashboard.reports": _one(),
    "dashboard.cases": lambda w, r: [
        {"from": "2026-11-01", "to": "2026-11-30", "by": "department", "group": "DH-HW", "figure": "due"}
    ],
    "dashboard.download_report": lambda w, r: [{"report_id": w.monthly_report}],
    "admin.settings": _one(),
    "admin.sessions": _one(),
    "admin.calendar": lambda w, r: [{}, {"start": "2026-11-23T09:00", "limit": "4", "unit": "work_hours"}],
    "api.openapi_document": _one(),
    "api.categories": _one(),
    "api.list_events": lambda w, r: [{}, {"state": "closed", "per_page": 5}, {"state": "no_such_state"}],
    "api.event_detail": lambda w, r: [{"event_id": w.closed_event}],
    "api.inbox": lambda w, r: [{}, {"view": "claimable"}, {"view": "done"}],
    "api.task_detail": lambda w, r: [{"task_id": w.tasks[r]}],
    "api.attachment": lambda w, r: [{"attachment_id": w.attachment}],
    "api.list_filters": _one(),
    "notices.index": lambda w, r: [{}, {"unread": 1, "page": 2}],
    "api.notices": lambda w, r: [{}, {"unread": "true", "per_page": 5}],
}


def _endpoints(app: Flask, method: str) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules() if method in (rule.methods or ())}


def test_every_route_is_covered(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/routes.sqlite3", "SECRET_KEY": "routes"})
    try:
        gets, posts = _endpoints(app, "GET"), _endpoints(app, "POST")
    finally:
        app.extensions["gridloop"].db.dispose()
    assert not gets - set(GET_ROUTES), f"GET routes no test here asks: {gets - set(GET_ROUTES)}"
    assert not set(GET_ROUTES) - gets, f"GET routes that are gone: {set(GET_ROUTES) - gets}"
    assert not posts - POST_ROUTES, f"POST routes no test here posts to: {posts - POST_ROUTES}"
    assert not POST_ROUTES - posts, f"POST routes that are gone: {POST_ROUTES - posts}"


def _api_token(client: FlaskClient, username: str) -> str:
    answer = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["token"]


def test_every_get_route_reads_on_one_connection_as_every_role(world: World) -> None:
    app = world.app
    counts = Counts(world.gl)
    seen: list[tuple[str, str, int, int]] = []
    for role in (*STAFF, ANONYMOUS):
        client = app.test_client()
        headers = {}
        if role is not None:
            assert sign_in(client, STAFF[role]).status_code == 303
            headers = {"Authorization": f"Bearer {_api_token(client, STAFF[role])}"}
        # each role's round starts with no instance in memory: task and event pages rebuild them
        world.gl.parts.instances.cache.clear()
        for endpoint, variants in GET_ROUTES.items():
            for values in variants(world, role or "admin"):
                with app.test_request_context():
                    path = url_for(endpoint, **values)
                with counts.measuring() as found:
                    answer = client.get(path, headers=headers if endpoint.startswith("api.") else {})
                seen.append((role or "anonymous", path, answer.status_code, found["checkouts"]))
    over = [s for s in seen if s[3] > 1]
    assert not over, (
        "requests that took more than one connection (who, path, status, checkouts):\n"
        + "\n".join(map(str, over))
    )
    failed = [s for s in seen if s[2] >= 500]
    assert not failed, f"requests that failed: {failed}"
    answered = {path for _, path, status, _ in seen if status == 200}
    with app.test_request_context():
        unanswered = [
            endpoint
            for endpoint, variants in GET_ROUTES.items()
            if not any(url_for(endpoint, **v) in answered for v in variants(world, "admin"))
            and not any(url_for(endpoint, **v) in answered for r in STAFF for v in variants(world, r))
        ]
    assert not unanswered, f"routes no role got a 200 from: {unanswered}"


# Every POST route; test_posts_take_one_connection_to_read_and_one_for_each_command posts to each.
POST_ROUTES = {
    "ledger.import_file",
    "ledger.unmask",
    "ledger.edit",
    "ledger.add",
    "ledger.move_out",
    "admin.load_boundaries",
    "admin.redivide",
    "auth.login",
    "auth.logout",
    "i18n.switch",
    "tasks.complete",
    "tasks.claim",
    "tasks.unclaim",
    "report.submit",
    "supervision.issue",
    "supervision.reply",
    "supervision.reply_on_task",
    "admin.save_setting",
    "admin.set_day",
    "admin.revoke",
    "admin.sign_out_everywhere",
    "api.issue_token",
    "api.report_event",
    "api.claim",
    "api.unclaim",
    "api.complete",
    "api.upload",
    "notices.read",
    "notices.read_all",
    "notices.open_notice",
    "api.read_notice",
    "tasklist.assign",
    "tasklist.delegate",
    "tasklist.give_back",
    "tasklist.comment",
    "tasklist.follow_up",
    "tasklist.save_filter",
    "tasklist.delete_filter",
    "api.assign",
    "api.delegate",
    "api.give_back",
    "api.comment",
    "api.follow_up",
    "api.save_filter",
    "processes.deploy",
    "processes.activate",
    "processes.retire",
    "processes.rollback",
    "processes.start",
    "api.deploy_process",
    "api.activate_version",
    "api.retire_version",
    "api.rollback_process",
    "api.start_instance",
    "designer.check",
    "designer.deploy",
    "designer.diff",
    "designer.migrate",
    "designer.form_preview",
    "dashboard.write_report",
}
RUBBISH = {"category": "0101", "description": "路边有一堆暴露垃圾，无人清运", "grid": "330199001001001"}
VISIT = {"grid": "330199001001001", "household": "3幢2单元401室", "purpose": "care"}
VISIT_BPMN = "processes/household_visit/household_visit.bpmn"


def _visit_files(n: int) -> dict[str, str]:
    """The files of the n-th new version of the household visit (its review step renamed)."""
    files = dict(next(m.files for m in collect_models(REPO) if m.model_id == "household_visit"))
    files[VISIT_BPMN] = files[VISIT_BPMN].replace('name="审阅走访"', f'name="审阅走访 {n}"')
    return files


@dataclass
class Post:
    """One POST (by ``who``, None for nobody signed in) with the status it answers and the commands it runs.

    ``form`` is posted as a form with the session's CSRF token (a multipart one when it holds a file),
    ``api`` as a JSON body with the user's bearer token, ``page_json`` as a page's script posts JSON (the
    session's cookie and CSRF token); ``upload`` (a filename) as the API's multipart file.
    """

    who: str | None
    path: str
    form: dict[str, Any] | None = None
    api: dict[str, Any] | None = None
    upload: str | None = None
    page_json: dict[str, Any] | None = None
    status: int = 303
    commands: int = 1


def _photo() -> tuple[io.BytesIO, str]:
    return io.BytesIO(TINY_PNG), "site.png"


def _posts(world: World) -> Iterator[Post]:
    gl = world.gl
    fresh = report(gl)["id"]
    accept = open_task(gl, fresh)["id"]
    # a refused completion runs its command (which saves nothing) like any other
    yield Post("intake", f"/tasks/{accept}", {"decision": "nonsense"}, status=400)
    yield Post("intake", f"/tasks/{accept}", {"decision": "accept", "note": "予以受理"})
    dispatch = open_task(gl, fresh)["id"]
    yield Post("dispatcher", f"/tasks/{dispatch}/claim", {})
    yield Post("dispatcher", f"/tasks/{dispatch}/unclaim", {})
    yield Post("dispatcher", f"/tasks/{dispatch}/claim", {})
    # the Tasklist's tools (webui/tasklist.py), each one command
    yield Post("dispatcher", f"/tasks/{dispatch}/comments", {"text": "已联系环卫所"})
    yield Post("dispatcher", f"/tasks/{dispatch}/follow-up", {"follow_up_at": "2026-11-25"})
    yield Post("dispatcher", f"/tasks/{dispatch}/delegate", {"to": "dispatcher_hb"})
    gl.give_back("dispatcher_hb", dispatch)
    gl.unclaim("dispatcher", dispatch)
    gl.claim("dispatcher_hb", dispatch)
    gl.delegate("dispatcher_hb", dispatch, "dispatcher")
    yield Post("dispatcher", f"/tasks/{dispatch}/give-back", {})
    yield Post("leader", f"/tasks/{dispatch}/assign", {"to": "dispatcher"})
    yield Post("dispatcher", "/inbox/filters", {"name": "红灯", "view": "mine", "colour": "red"})
    saved = gl.saved_filters("dispatcher")[0]["id"]
    yield Post("dispatcher", f"/inbox/filters/{saved}/delete", {})
    yield Post("dispatcher", "/api/v1/filters", api={"name": "红灯", "filters": {}}, status=201)
    yield Post("dispatcher", f"/tasks/{dispatch}", {"department": "DH-HW"})
    yield Post("gw_hb1", "/report", RUBBISH)
    yield Post("gw_hb1", "/report", {**RUBBISH, "photos": _photo()}, commands=2)  # the upload, the report
    yield Post(
        "supervisor", f"/events/{world.open_event}/sheets", {"department": "DH-CG", "reason": "请配合"}
    )
    sheet = next(
        s["id"]
        for s in gl.sheets("h_dh_hw")
        if s["event_id"] == world.open_event and s["department"] == "DH-HW"
    )
    yield Post("h_dh_hw", f"/events/{world.open_event}/sheets/{sheet}/reply", {"reply": "已安排清运"})
    handle = open_task(gl, world.open_event)["id"]
    second = gl.issue_sheet("supervisor", world.open_event, "DH-HW", "请今日办结")["id"]
    yield Post("h_dh_hw", f"/tasks/{handle}/sheets/{second}/reply", {"reply": "今日办结"})
    yield Post("admin", "/admin/settings", {"key": "rework_rate_base", "value": '"due"'})
    yield Post("admin", "/admin/calendar", {"day": "2027-01-04", "kind": "holiday", "note": "测试"})
    yield Post("intake", "/language", {"language": "en", "next": "/inbox"})
    yield Post("intake", "/language", {"language": "zh", "next": "/inbox"})
    yield Post(None, "/language", {"language": "en"}, commands=0)  # kept in the session only
    yield Post(None, "/api/v1/auth/token", api={"username": "gw_hb1", "password": PASSWORD}, status=200)
    yield Post(None, "/login", {"username": "designer", "password": PASSWORD})  # sign-in, then a read
    yield Post("gw_hb1", "/api/v1/events", api=RUBBISH, status=201)  # the report, then the new event read
    yield Post("gw_hb1", "/api/v1/attachments", upload="site.png", status=201)
    second = report(gl)["id"]
    api_task = open_task(gl, second)["id"]
    yield Post("intake", f"/api/v1/tasks/{api_task}/claim", api={}, status=200)
    yield Post("intake", f"/api/v1/tasks/{api_task}/comments", api={"text": "好"}, status=201)
    yield Post("intake", f"/api/v1/tasks/{api_task}/follow-up", api={"follow_up_at": None}, status=200)
    yield Post("intake", f"/api/v1/tasks/{api_task}/unclaim", api={}, status=200)
    yield Post(
        "intake", f"/api/v1/tasks/{api_task}/complete", api={"data": {"decision": "accept"}}, status=200
    )
    third = report(gl)["id"]
    gl.complete("intake", open_task(gl, third)["id"], {"decision": "accept"})
    handed = open_task(gl, third)["id"]
    yield Post("leader", f"/api/v1/tasks/{handed}/assign", api={"to": "dispatcher"}, status=200)
    yield Post("dispatcher", f"/api/v1/tasks/{handed}/delegate", api={"to": "dispatcher_hb"}, status=200)
    gl.give_back("dispatcher_hb", handed)
    gl.unclaim("dispatcher", handed)
    gl.claim("dispatcher_hb", handed)
    gl.delegate("dispatcher_hb", handed, "dispatcher")
    yield Post("dispatcher", f"/api/v1/tasks/{handed}/give-back", api={}, status=200)
    # the process registry's life cycle and starts (webui/processes.py, the API), each one command
    drafts = [gl.deploy_files(system("test"), _visit_files(n)).id for n in range(1, 5)]
    yield Post("designer", f"/processes/versions/{drafts[0]}/activate", {})
    yield Post("designer", "/processes/household_visit/rollback", {})
    yield Post("designer", f"/processes/versions/{drafts[1]}/retire", {})
    diagram = _visit_files(5)[VISIT_BPMN].encode("utf-8")
    yield Post("designer", "/processes/deploy", {"files": (io.BytesIO(diagram), "household_visit.bpmn")})
    yield Post("designer", "/api/v1/processes", api={"files": _visit_files(6)}, status=201)
    yield Post("designer", f"/api/v1/versions/{drafts[2]}/activate", api={}, status=200)
    yield Post("designer", "/api/v1/processes/household_visit/rollback", api={}, status=200)
    yield Post("designer", f"/api/v1/versions/{drafts[3]}/retire", api={}, status=200)
    # the workbench's page script: lint (no command), diff (none), deploy a draft, move an instance to it
    edited = {"file": "household_visit.bpmn", "xml": _visit_files(7)[VISIT_BPMN]}
    yield Post("designer", "/designer/household_visit/check", page_json=edited, status=200, commands=0)
    yield Post("designer", "/designer/household_visit/diff", page_json=edited, status=200, commands=0)
    yield Post("designer", "/designer/household_visit/deploy", page_json=edited, status=201)
    yield Post("evaluator", "/dashboard/reports", {"period": "2026-11"})
    # the form editor's preview as the editor asks for it, and as its own form posts what was typed
    form = (REPO / "processes" / "household_visit" / "visit_record.json").read_text(encoding="utf-8")
    preview = {"file": "visit_record.json", "text": form}
    yield Post(
        "designer", "/designer/household_visit/form-preview", page_json=preview, status=200, commands=0
    )
    yield Post(
        "designer",
        "/designer/household_visit/form-preview",
        {"_form_file": "visit_record.json", "_form_text": form, "met": "true"},
        status=200,
        commands=0,
    )
    visit = gl.start("gw_hb1", "household_visit", VISIT)["id"]
    yield Post(
        "designer",
        "/designer/household_visit/migration",
        page_json={"event": visit, "to": drafts[0]},
        status=200,
    )
    yield Post("gw_hb1", "/processes/household_visit/start", VISIT)
    yield Post("gw_hb1", "/api/v1/processes/household_visit/instances", api={"data": VISIT}, status=201)
    issued = next(t["id"] for t in gl.access_tokens("gw_hb1") if t["kind"] == "api")
    yield Post("admin", f"/admin/sessions/{issued}/revoke", {}, status=303)
    first, second, third = (n["id"] for n in gl.notices("intake", per_page=3).rows)
    yield Post("intake", f"/notices/{first}/read", {})
    yield Post("intake", f"/notices/{second}/open", {})
    yield Post("intake", f"/api/v1/notices/{third}/read", api={}, status=200)
    yield Post("intake", "/notices/read-all", {})
    yield Post("admin", "/admin/users/designer/sign-out", {}, status=303)
    # the household ledger: an import (one command) and a person's numbers read whole (one, logged)
    ledger = (
        "网格编码,楼栋,单元,房号,姓名,身份证号,联系电话,人员类别,标签,地址\n"
        "330199001001001,湖滨花园1幢,1,101,陈一,330102199001011234,13812345678,户籍,,\n"
    ).encode()
    yield Post("admin", "/ledger/import", {"file": (io.BytesIO(ledger), "ledger.csv")}, status=200)
    with gl.db.reading() as session:
        person = session.scalars(select(LedgerPerson.id).where(LedgerPerson.name == "陈一")).one()
    yield Post("admin", f"/ledger/people/{person}/unmask", {}, status=200)
    yield Post("admin", f"/ledger/people/{person}", {"name": "陈一", "kind": "migrant"}, status=200)
    with gl.db.reading() as session:
        home = session.scalars(select(LedgerPerson.dwelling_id).where(LedgerPerson.id == person)).one()
    yield Post(
        "admin", f"/ledger/dwellings/{home}/people", {"name": "陈二", "kind": "registered"}, status=200
    )
    yield Post("admin", f"/ledger/people/{person}/move-out", {}, status=200)
    # the grids page: a boundary file checked (no command: a dry run is one command abandoned)
    demo = json.dumps(demo_boundaries.feature_collection()).encode()
    yield Post(
        "admin",
        "/admin/grids/boundaries",
        {"file": (io.BytesIO(demo), "b.geojson"), "dry_run": "1"},
        status=200,
        commands=1,
    )
    yield Post(
        "admin",
        "/admin/grids/redivide",
        {"community": "330199001001", "file": (io.BytesIO(b"{}"), "d.geojson")},
        status=400,
        commands=1,
    )
    yield Post("intake", "/logout", {})  # signing out ends the session in the database


def test_posts_take_one_connection_to_read_and_one_for_each_command(world: World) -> None:
    app = world.app
    counts = Counts(world.gl)
    clients: dict[str | None, tuple[FlaskClient, str, str | None]] = {}
    routes = app.url_map.bind("localhost")
    posted = set()
    for post in _posts(world):
        if post.who not in clients:
            client = app.test_client()
            if post.who is not None:
                assert sign_in(client, post.who).status_code == 303
            bearer = _api_token(client, post.who) if post.who is not None else None
            clients[post.who] = (client, token(client, "/inbox" if post.who else "/login"), bearer)
        client, csrf, bearer = clients[post.who]
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        with counts.measuring() as found:
            if post.form is not None:
                answer = client.post(post.path, data={**post.form, "csrf_token": csrf})
            elif post.page_json is not None:
                answer = client.post(post.path, json=post.page_json, headers={"X-CSRFToken": csrf})
            elif post.upload is not None:
                answer = client.post(post.path, data={"file": _photo()}, headers=headers)
            else:
                answer = client.post(post.path, json=post.api, headers=headers)
        assert answer.status_code == post.status, (post, answer.get_data(as_text=True)[:500])
        assert found["units"] == post.commands, (post, found)
        assert found["checkouts"] <= 1 + found["units"], (post, found)
        posted.add(routes.match(post.path, method="POST")[0])
    assert posted == POST_ROUTES


def test_a_read_scope_holds_one_snapshot_until_a_command_of_its_own_commits(world: World) -> None:
    """Inside one read scope, a change committed by another engine (another process) is not seen, so a page
    cannot show two states; a command run in the scope's own context ends the snapshot, so what is read after
    it includes what it did — still on the scope's one connection."""
    gl = world.gl
    other = Gridloop(gl.db.url, clock=ManualClock(START))
    counts = Counts(gl)
    try:
        with counts.measuring() as found, gl.db.read_scope():
            _, before = gl.list_events("admin")
            report(other)
            assert gl.list_events("admin")[1] == before
            report(gl)
            assert gl.list_events("admin")[1] == before + 2
        assert found == {"checkouts": 2, "units": 1}
        assert gl.list_events("admin")[1] == before + 2
    finally:
        other.db.dispose()


def test_staff_are_loaded_once_per_request(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.org import auth, people

    loads: list[str] = []
    load_actor = people.load_actor

    def counted(session: Any, username: str) -> Any:
        loads.append(username)
        return load_actor(session, username)

    monkeypatch.setattr(people, "load_actor", counted)
    check_token = auth.check_token

    def checked(session: Any, token_id: str, username: str, now: Any) -> Any:
        loads.append(username)
        return check_token(session, token_id, username, now)

    monkeypatch.setattr(auth, "check_token", checked)
    client = staff(world.app, "leader")
    bearer = _api_token(client, "leader")
    for path in (
        f"/tasks/{world.tasks['shift_leader']}",
        f"/events/{world.open_event}",
        "/inbox",
        "/supervision",
    ):
        loads.clear()
        assert client.get(path).status_code == 200, path
        assert loads == ["leader"], (path, loads)
    for path in ("/api/v1/tasks", f"/api/v1/events/{world.open_event}"):
        loads.clear()
        assert client.get(path, headers={"Authorization": f"Bearer {bearer}"}).status_code == 200, path
        assert loads == ["leader"], (path, loads)


def test_every_demo_role_is_asked() -> None:
    assert set(STAFF) == {user.role for user in demo_users()} <= set(ROLE_KEYS)
