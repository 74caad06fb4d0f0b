"""The world the authorization matrix (tests/test_authorization.py) runs in, and the requests its cells make.

**Places.** Every kind of target exists in three places, built once through the engine before any request:

- ``A``, 东湖街道 湖滨社区第一网格 — inside the scope of every representative user;
- ``B``, 西山镇 西山村第一网格 — another town: outside every representative below district level;
- ``Z``, 临江区 江口社区第一网格 — a second district beside the demo one, with staff of its own: outside every
  demo account, the district-wide ones (intake, evaluator, supervisor, auditor, designer, admin)
  included.

A representative's out-of-scope targets are those of ``B`` when their scope lies below the district, those of
``Z`` when it is the whole district (:data:`OUTSIDE`). In each place: an event reported with a photo, accepted,
dispatched to the place's sanitation department and waiting at its handling step, with a supervision sheet to
that department (the *event* of the event routes); and one open task of each step a role works — 核实
(grid worker), 受理 (intake), 派遣 (dispatcher), 社区结案 (shift leader, with the self-handling's photos in its
task data), 处置 (department handler).

**Kinds.** A matrix row names a kind (:data:`KINDS`): a function that makes one cell's request — the path's
ids, the query, the body, what to prepare and undo around it. A cell that the matrix expects to be carried out
and that would use its target up (completing a task, replying to a sheet) gets a fresh target of its own;
claims are given back afterwards; everything else shares the world, which refused requests must leave as it
was (:meth:`World.fingerprint`). A notice belongs to no place but to one user: the notice kinds make a fresh
unread one for the representative, or for someone else (:data:`NOTICES_OF_ANOTHER`), about the event of ``A``
that every representative sees — so that an answer about another's notice is about whose it is, not where.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from conftest import GRID_HB1, POSTGRES_URL, REPO, START, TINY_PNG
from flask import Flask
from flask.testing import FlaskClient
from seeding import empty_database
from sqlalchemy import Select, String, cast, func, literal_column, select, union_all
from web_support import PASSWORD, sign_in, token
from werkzeug.test import TestResponse

from engine import settings
from engine.app import Gridloop
from engine.bpmn.folders import collect_models
from engine.commands.pipeline import system
from engine.demo import boundaries as demo_boundaries
from engine.demo.district import DISTRICT, create_demo_district, demo_users
from engine.org import people, tree
from engine.store.models import (
    AccessToken,
    Attachment,
    CalendarDay,
    Event,
    HistoryEntry,
    LedgerPerson,
    Notice,
    OrgUnit,
    ProcessVersion,
    Setting,
    SupervisionSheet,
    Task,
    User,
)
from engine.time.clock import ManualClock
from webui import create_app

RUBBISH = {"category": "0101", "description": "路边有一堆暴露垃圾，无人清运"}
# ids no row has, for the answers out-of-scope targets are compared with
MISSING_INT = 999_990
VISIT_FILES = next(m.files for m in collect_models(REPO) if m.model_id == "household_visit")
VISIT_BPMN = "processes/household_visit/household_visit.bpmn"
MISSING_ATTACHMENT = "00000000-0000-4000-8000-000000000000"
# an account whose sessions the admin commands revoke, and one they sign out everywhere (neither acts otherwise)
SPARE = "gw_hb3"
SIGNED_OUT_EVERYWHERE = "gw_hb2"
# the account whose notices are someone else's to every representative (it reads none of them)
NOTICES_OF_ANOTHER = "gw_hb2"


@dataclass(frozen=True)
class Place:
    """Where one set of targets lives, and who works there (the accounts the world is driven with)."""

    name: str
    grid: str
    grid_worker: str
    intake: str
    dispatcher: str
    community_leader: str
    department: str
    handler: str
    supervisor: str


A = Place("A", GRID_HB1, "gw_hb1", "intake", "dispatcher_hb", "leader_hb", "DH-HW", "h_dh_hw", "supervisor")
B = Place(
    "B",
    "330199002001001",
    "gw_xs1",
    "intake",
    "dispatcher_xs",
    "leader_xs",
    "XS-HW",
    "h_xs_hw",
    "supervisor",
)
Z = Place(
    "Z",
    "330198001001001",
    "gw_lj1",
    "intake_lj",
    "dispatcher_lj",
    "leader_lj",
    "LJ-HW",
    "h_lj_hw",
    "supervisor_lj",
)
SECOND_DISTRICT = (
    ("330198", "临江区", "district", None),
    ("330198001", "江口街道", "town", "330198"),
    ("330198001001", "江口社区", "community", "330198001"),
    ("330198001001001", "江口社区第一网格", "grid", "330198001001"),
)
SECOND_DISTRICT_STAFF = (
    ("gw_lj1", "grid_worker", "330198001001001", None),
    ("intake_lj", "intake", "330198", None),
    ("dispatcher_lj", "dispatcher", "330198001001", None),
    ("leader_lj", "shift_leader", "330198001001", None),
    ("h_lj_hw", "handler", "330198001", "LJ-HW"),
    ("supervisor_lj", "supervisor", "330198", None),
)

# One demo account per role, at the level its work is done: the patrol of a grid, the community workstation's
# dispatcher, the town centre's shift leader (who supervises the town's departments), a town department's
# handler; the roles the demo has only district-wide.
REPRESENTATIVES: dict[str, str] = {
    "grid_worker": "gw_hb1",
    "intake": "intake",
    "dispatcher": "dispatcher_hb",
    "shift_leader": "leader_dh",
    "handler": "h_dh_hw",
    "evaluator": "evaluator",
    "supervisor": "supervisor",
    "auditor": "auditor",
    "designer": "designer",
    "admin": "admin",
}
ROLES: tuple[str, ...] = tuple(REPRESENTATIVES)
_SCOPES = {u.username: u.scope_code for u in demo_users()}
OUTSIDE: dict[str, Place] = {
    role: Z if _SCOPES[user] == DISTRICT[0] else B for role, user in REPRESENTATIVES.items()
}

# The step each role works, its form data, and who works it in a place; the roles without a step in the
# process are shown the intake's 受理 task (visible to them, offered to someone else).
WORK_STEP = {
    "grid_worker": "check_exists",
    "intake": "accept",
    "dispatcher": "dispatch",
    "shift_leader": "close_self",
    "handler": "handle",
}
WORKER_OF_STEP: dict[str, Callable[[Place], str]] = {
    "check_exists": lambda p: p.grid_worker,
    "accept": lambda p: p.intake,
    "dispatch": lambda p: p.dispatcher,
    "close_self": lambda p: p.community_leader,
    "handle": lambda p: p.handler,
}


# In place A, a colleague offered each step's task besides its worker (accounts of the world's own), to whom a
# task is delegated (the dispatch and the community's closure have theirs in the demo: the district's).
COLLEAGUE_OF_STEP = {
    "check_exists": "gw_hb1_mate",
    "accept": "intake_mate",
    "dispatch": "dispatcher",
    "close_self": "leader",
    "handle": "h_dh_hw_mate",
}
COLLEAGUES = (
    ("gw_hb1_mate", "grid_worker", GRID_HB1, None),
    ("intake_mate", "intake", DISTRICT[0], None),
    ("h_dh_hw_mate", "handler", "330199001", "DH-HW"),
)


def step_data(step: str, place: Place) -> dict[str, Any]:
    """What completing ``step`` in ``place`` submits (JSON types)."""
    return {
        "check_exists": {"exists": True},
        "accept": {"decision": "accept"},
        "dispatch": {"dispatch_action": "assign", "department": place.department},
        "close_self": {"decision": "close"},
        "handle": {"action": "done", "result": "已清运"},
    }[step]


def ledger_file(place: Place, name: str | None = None) -> bytes:
    """A ledger file of one person in the place's grid: its resident (an identity number of the place's own),
    or a newcomer ``name`` without numbers."""
    header = "网格编码,楼栋,单元,房号,姓名,身份证号,联系电话,人员类别,标签,地址"
    if name is None:
        body = "33010219900101" + f"{ord(place.name):03d}"
        weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        number = body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
        row = f"{place.grid},{place.name}区1幢,1,101,居民{place.name},{number},13812345678,户籍,独居老人,"
    else:
        row = f"{place.grid},{place.name}区1幢,1,102,{name},,,流动,,"
    return f"{header}\n{row}\n".encode()


def as_form(data: dict[str, Any]) -> dict[str, str]:
    """JSON form data as a page's form posts it."""
    return {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in data.items()}


@dataclass
class Targets:
    """What one place holds."""

    event: int
    event_code: str
    done_task: int
    report_photo: str
    task_photo: str
    sheet: int
    person: int  # a person of the household ledger living in the place's grid
    dwelling: int  # where they live
    tasks: dict[str, int] = field(default_factory=dict)


@dataclass
class Call:
    """One cell's request: path arguments and query, the body (a page's form, JSON, or files for the API), the
    ids an out-of-scope answer is compared on, what tells a list shows the target, and what to do around it."""

    view_args: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    form: dict[str, Any] | None = None
    json: Any = None
    files: dict[str, Any] | None = None
    compared: tuple[str, ...] = ()
    shows: Callable[[TestResponse], bool] | None = None
    check: Callable[[TestResponse], None] | None = None
    client: FlaskClient | None = None
    csrf: str | None = None
    before: Callable[[], None] | None = None
    after: Callable[[], None] | None = None


@dataclass(frozen=True)
class Ask:
    """What a cell asks its kind for: as whom (a role; None signed out), where (``in``, ``out`` or ``-`` for a
    route without a target), through which door (the API or the pages), and whether the matrix expects the
    request to be carried out."""

    role: str | None
    scope: str
    api: bool
    allowed: bool


class World:
    """The app on its database, the places' targets, and a signed-in page client and an API token per role."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.gl: Gridloop = app.extensions["gridloop"]
        self.places: dict[str, Targets] = {}
        self.uploads: dict[str, str] = {}
        self.others_upload = ""
        self.spare_session = ""
        self.version_id = 0
        self.spare_draft = 0  # a draft version of the household visit, the target of refused life-cycle cells
        self.monthly_report = 0  # a kept monthly evaluation report, to download
        self._variants = 0
        self.web: dict[str, tuple[FlaskClient, str]] = {}
        self.tokens: dict[str, str] = {}
        self.anonymous: tuple[FlaskClient, str] = (app.test_client(), "")
        self._missing: dict[tuple[str, str, str | None], tuple[str | None, str]] = {}

    # ------------------------------------------------------------ driving the engine

    def report(self, place: Place, by: str | None = None, **data: Any) -> int:
        """A rubbish report in the place's grid (by its grid worker unless ``by``)."""
        return self.gl.report(by or place.grid_worker, {**RUBBISH, "grid": place.grid, **data})["id"]

    def photo(self, username: str) -> str:
        """An attachment uploaded by ``username``."""
        return self.gl.upload(username, "site.png", TINY_PNG).id

    def task(self, event_id: int, step: str, status: str = "open") -> int:
        """The event's task at ``step`` (read from the store: no account sees all three places)."""
        with self.gl.db.reading() as session:
            found = session.scalars(
                select(Task.id).where(Task.event_id == event_id, Task.bpmn_id == step, Task.status == status)
            ).all()
        assert len(found) == 1, f"event {event_id}: {len(found)} {status} tasks at {step}"
        return found[0]

    def complete(self, username: str, event_id: int, step: str, data: dict[str, Any]) -> None:
        """Complete the event's open task at ``step`` as ``username``."""
        self.gl.complete(username, self.task(event_id, step), data)

    def at_step(self, step: str, place: Place) -> int:
        """A new event of ``place`` waiting at ``step``; its open task's id."""
        if step == "check_exists":
            return self.task(self.report(place, by=place.intake, channel="hotline"), step)
        if step == "close_self":
            event_id = self.report(place, self_handle=True)
            self.complete(place.intake, event_id, "accept", {"decision": "accept"})
            photos = {
                "before_photos": [self.photo(place.grid_worker)],
                "after_photos": [self.photo(place.grid_worker)],
            }
            self.complete(place.grid_worker, event_id, "self_handle_task", {"result": "已现场清理", **photos})
            return self.task(event_id, step)
        event_id = self.report(place, photos=[self.photo(place.grid_worker)])
        if step == "accept":
            return self.task(event_id, step)
        self.complete(place.intake, event_id, "accept", {"decision": "accept"})
        if step == "dispatch":
            return self.task(event_id, step)
        self.complete(place.dispatcher, event_id, "dispatch", step_data("dispatch", place))
        return self.task(event_id, step)

    def event_of(self, task_id: int) -> int:
        """The event a task belongs to."""
        with self.gl.db.reading() as session:
            return session.scalars(select(Task.event_id).where(Task.id == task_id)).one()

    def issue(self, place: Place, event_id: int) -> int:
        """A leader's sheet on the event to the place's department, issued by its supervisor; its id."""
        return self.gl.issue_sheet(place.supervisor, event_id, place.department, "请今日处置完毕")["id"]

    def build(self, place: Place) -> Targets:
        """Every kind of target in ``place``."""
        tasks = {step: self.at_step(step, place) for step in WORKER_OF_STEP}
        event_id = self.event_of(tasks["handle"])
        close_event = self.event_of(tasks["close_self"])
        with self.gl.db.reading() as session:
            code = session.scalars(select(Event.code).where(Event.id == event_id)).one()
        return Targets(
            event=event_id,
            event_code=code,
            done_task=self.task(event_id, "accept", status="completed"),
            report_photo=self._photos(event_id, "report")[0],
            task_photo=self._photos(close_event, "complete")[0],
            sheet=self.issue(place, event_id),
            person=(person := self.resident(place)),
            dwelling=self.dwelling_of(person),
            tasks=tasks,
        )

    def dwelling_of(self, person: int) -> int:
        """The dwelling a ledger person lives in."""
        with self.gl.db.reading() as session:
            return session.scalars(select(LedgerPerson.dwelling_id).where(LedgerPerson.id == person)).one()

    def resident(self, place: Place) -> int:
        """A person of the ledger in the place's grid, with an identity and a phone number; their id."""
        self.gl.import_ledger(system("authorization"), "ledger.csv", ledger_file(place))
        with self.gl.db.reading() as session:
            return session.scalars(
                select(LedgerPerson.id).where(LedgerPerson.name == f"居民{place.name}")
            ).one()

    def _photos(self, event_id: int, action: str) -> list[str]:
        """The attachment ids in the event's history records of ``action`` (its report, its completions)."""
        with self.gl.db.reading() as session:
            records = session.scalars(
                select(HistoryEntry.data).where(
                    HistoryEntry.event_id == event_id, HistoryEntry.action == action
                )
            ).all()
        found = []
        for data in records:
            fields = data.get("report") or data.get("form") or {}
            for name in ("photos", "before_photos"):
                found += fields.get(name, [])
        return found

    def release(self, task_id: int) -> None:
        """Give the task back if anyone holds it (undoing a cell's claim, assignment or delegation)."""
        with self.gl.db.reading() as session:
            assignee, delegated_by = session.execute(
                select(Task.assignee, Task.delegated_by).where(Task.id == task_id)
            ).one()
        if delegated_by is not None:
            self.gl.give_back(assignee, task_id)
            assignee = delegated_by
        if assignee is not None:
            self.gl.unclaim(assignee, task_id)

    def notice(self, username: str) -> int:
        """A new unread notice to ``username`` — place ``A``'s 处置 task offered, as the pipeline writes one (a
        notice of every role cannot be had from a command: auditors, designers … are offered nothing); its id."""
        found = self.places["A"]
        with self.gl.db.unit_of_work() as session:
            notice = Notice(
                username=username,
                kind="task_offered",
                event_id=found.event,
                task_id=found.tasks["handle"],
                data={"event_code": found.event_code, "step": "处置", "department": A.department},
                created_at=self.gl.now(),
            )
            session.add(notice)
            session.flush()
            return notice.id

    def unread_notices(self, username: str) -> list[int]:
        """The ids of the user's unread notices."""
        with self.gl.db.reading() as session:
            return list(
                session.scalars(
                    select(Notice.id).where(Notice.username == username, Notice.read_at.is_(None))
                )
            )

    # ------------------------------------------------------------ targets of a cell

    def place(self, ask: Ask) -> Place:
        """Where the cell's target lies: ``A`` in scope, the role's outside place out of it."""
        return OUTSIDE[ask.role or "grid_worker"] if ask.scope == "out" else A

    def targets(self, ask: Ask) -> Targets:
        """The targets of the cell's place."""
        return self.places[self.place(ask).name]

    def work(self, ask: Ask) -> str:
        """The step whose task the cell works on: the role's own, or 受理 for roles without one."""
        return WORK_STEP.get(ask.role or "", "accept")

    # ------------------------------------------------------------ what a refusal must leave alone

    def visit_files(self) -> dict[str, str]:
        """The files of a new version of the household visit (each call's differ: its review step's name)."""
        self._variants += 1
        files = dict(VISIT_FILES)
        files[VISIT_BPMN] = files[VISIT_BPMN].replace(
            'name="审阅走访"', f'name="审阅走访（{self._variants}）"'
        )
        return files

    def draft(self) -> int:
        """A new draft version of the household visit."""
        return self.gl.deploy_files(system("authorization"), self.visit_files()).id

    def visit_active(self) -> int:
        """The active version of the household visit."""
        with self.gl.db.reading() as session:
            return session.scalar(
                select(ProcessVersion.id).where(
                    ProcessVersion.process_id == "household_visit", ProcessVersion.status == "active"
                )
            )

    def fingerprint(self) -> list[tuple[str, ...]]:
        """What any write would change, read in one statement: events and their versions, tasks and their
        holders, the number of history records and attachments, sheets and their replies, settings, the
        holiday table, accounts' credentials, the revocation of sessions and who has read which notice."""

        def row(tag: str, *columns: Any) -> Select[Any]:
            texts = [func.coalesce(cast(c, String), "-") for c in columns]
            return select(literal_column(f"'{tag}'"), *texts, *[literal_column("''")] * (4 - len(texts)))

        query = union_all(
            row("event", Event.id, Event.version, Event.state),
            row("task", Task.id, Task.status, Task.assignee),
            row("history", func.count()).select_from(HistoryEntry),
            row(
                "sheet",
                SupervisionSheet.id,
                SupervisionSheet.department_code,
                SupervisionSheet.status,
                SupervisionSheet.reply,
            ),
            row("attachments", func.count()).select_from(Attachment),
            row("setting", Setting.key, Setting.value),
            row("day", CalendarDay.day, CalendarDay.is_workday),
            row("user", User.username, User.active, User.credential_version),
            row("session", AccessToken.id, AccessToken.revoked_at),
            row("notice", Notice.id, Notice.username, Notice.read_at),
            row("version", ProcessVersion.id, ProcessVersion.status),
        )
        with self.gl.db.reading() as session:
            return sorted(tuple(r) for r in session.execute(query).all())

    # ------------------------------------------------------------ sending

    def path(self, rule: str, method: str, view_args: dict[str, Any]) -> str:
        """The URL of ``rule`` with ``view_args``."""
        for found in self.app.url_map.iter_rules():
            if found.rule == rule and method in (found.methods or ()):
                adapter = self.app.url_map.bind("localhost")
                return adapter.build(found.endpoint, view_args, method=method)
        raise AssertionError(f"no route {method} {rule}")

    def send(
        self, rule: str, method: str, role: str | None, call: Call, view_args: dict[str, Any] | None = None
    ) -> TestResponse:
        """Make the cell's request as ``role`` (signed out when None), through the API or the pages."""
        path = self.path(rule, method, call.view_args if view_args is None else view_args)
        if rule.startswith("/api/"):
            client = call.client or self.anonymous[0]
            headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
            data = call.files if call.files is not None else None
            return client.open(
                path, method=method, headers=headers, query_string=call.query, json=call.json, data=data
            )
        client, csrf = (call.client, call.csrf) if call.client else self.web.get(role or "", self.anonymous)
        if method == "GET":
            return client.get(path, query_string=call.query)
        response = client.post(path, data={**(call.form or {}), "csrf_token": call.csrf or csrf})
        with client.session_transaction() as session:
            session.pop("_flashes", None)  # a refused or done action's message, never read here
        return response

    def answer_to_missing(
        self, rule: str, method: str, role: str | None, call: Call
    ) -> tuple[str | None, str]:
        """What the route answers ``role`` for ids no row has (:func:`error_message`), asked once per route."""
        key = (rule, method, role)
        if key not in self._missing:
            missing = missing_args(call.view_args, call.compared)
            absent = self.send(rule, method, role, call, view_args=missing)
            assert absent.status_code == 404, f"{method} {rule} for missing ids: {absent.status_code}"
            self._missing[key] = error_message(absent, [str(missing[name]) for name in call.compared])
        return self._missing[key]

    def signed_in_client(self, username: str) -> tuple[FlaskClient, str]:
        """A new page client signed in as ``username``, and its session's CSRF token."""
        client = self.app.test_client()
        answer = sign_in(client, username)
        assert answer.status_code == 303, (username, answer.status_code)
        return client, token(client, "/inbox")


def world_on(url: str) -> Iterator[World]:
    """The app on ``url`` with the demo district, the second district, the processes, every place's targets,
    and clients signed in as every representative. A fixture body."""
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "authorization-matrix",
            "TESTING": True,
            # rate limits are not what the matrix is about, and its hundreds of requests come from one address
            "RATE_LIMIT_API": "100000 per minute",
            "RATE_LIMIT_SIGN_IN": "100000 per minute",
        }
    )
    app.extensions["gridloop"].db.dispose()
    gl = Gridloop(url, clock=ManualClock(START))
    app.extensions["gridloop"] = gl
    gl.init_schema()
    with gl.db.unit_of_work() as session:
        create_demo_district(session, password=None)
        for code, name, level, parent in SECOND_DISTRICT:
            tree.add_unit(session, code, name, level, parent)
        tree.add_department(session, "LJ-HW", "江口街道环卫所", "sanitation", "330198001")
        for username, role, scope_code, department in SECOND_DISTRICT_STAFF + COLLEAGUES:
            people.add_user(session, username, username)
            people.grant_role(session, username, role, scope_code, department)
        for username in (*REPRESENTATIVES.values(), SPARE):
            people.add_user(session, username, password=PASSWORD)
    gl.invalidate_org()
    gl.deploy(REPO, activate=True)
    world = World(app)
    with gl.db.reading() as session:
        world.version_id = session.scalar(select(func.max(ProcessVersion.id)))
    for place in (A, B, Z):
        world.places[place.name] = world.build(place)
    world.uploads = {role: world.photo(user) for role, user in REPRESENTATIVES.items()}
    world.others_upload = world.photo("gw_hb2")
    world.spare_session = gl.sign_in(SPARE, PASSWORD).token_id
    world.spare_draft = world.draft()
    world.monthly_report = gl.write_monthly_report(system("test"), "2026-11")["id"]
    for role, username in REPRESENTATIVES.items():
        world.web[role] = world.signed_in_client(username)
        answer = world.anonymous[0].post(
            "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.get_json()
        world.tokens[role] = answer.get_json()["token"]
    anonymous = app.test_client()
    world.anonymous = (anonymous, token(anonymous))
    yield world
    gl.db.dispose()


def world_fixture(backend: str, tmp: Path) -> Iterator[World]:
    """:func:`world_on` a SQLite file in ``tmp`` or a PostgreSQL schema of its own (dropped afterwards)."""
    with empty_database(backend, tmp, POSTGRES_URL, name="authorization") as url:
        yield from world_on(url)


# ---------------------------------------------------------------- kinds: one cell's request


def _links_to(response: TestResponse, api: bool, href: str, key: str, wanted: int) -> bool:
    if api:
        return wanted in [item[key] for item in response.get_json()["items"]]
    return f'href="{href}"' in response.get_data(as_text=True)


def page(world: World, ask: Ask) -> Call:
    """A route without a target (a page, a list, a document)."""
    return Call()


def health(world: World, ask: Ask) -> Call:
    """The health check, which must say whether the service and its database are up and nothing else."""

    def check(response: TestResponse) -> None:
        body = response.get_json()
        assert isinstance(body, dict) and body.get("status") == "ok", body
        leaked = {"events", "versions", "users"} & set(body)
        assert not leaked and all(isinstance(v, str | bool) for v in body.values()), (
            f"the health check tells more than up or down: {body}"
        )

    return Call(check=check)


def static(world: World, ask: Ask) -> Call:
    """The style sheet."""
    return Call(view_args={"filename": "css/gridloop.css"})


def version(world: World, ask: Ask) -> Call:
    """The deployed process version (versions belong to no scope)."""
    return Call(view_args={"version_id": world.version_id})


def event(world: World, ask: Ask) -> Call:
    """The place's event (visible in scope to every representative, the handler's department worked it)."""
    return Call(view_args={"event_id": world.targets(ask).event}, compared=("event_id",))


def event_search(world: World, ask: Ask) -> Call:
    """The event list searched for the place's event by its code: listed in scope, absent out of it."""
    found = world.targets(ask)
    return Call(
        query={"code": found.event_code},
        shows=lambda r: _links_to(r, ask.api, f"/events/{found.event}", "id", found.event),
    )


def work_task(world: World, ask: Ask) -> Call:
    """The open task of the step the role works (受理 for roles without one)."""
    return Call(view_args={"task_id": world.targets(ask).tasks[world.work(ask)]}, compared=("task_id",))


def done_task(world: World, ask: Ask) -> Call:
    """The event's completed 受理 task."""
    return Call(view_args={"task_id": world.targets(ask).done_task}, compared=("task_id",))


def claimable(world: World, ask: Ask) -> Call:
    """The claimable inbox: lists the role's work task when it is offered to them."""
    task_id = world.targets(ask).tasks[world.work(ask)]
    query = {"view": "claimable", **({"per_page": 200} if ask.api else {})}
    return Call(query=query, shows=lambda r: _links_to(r, ask.api, f"/tasks/{task_id}", "id", task_id))


def claim(world: World, ask: Ask) -> Call:
    """Claim the role's work task (given back afterwards)."""
    task_id = world.targets(ask).tasks[world.work(ask)]
    return Call(view_args={"task_id": task_id}, compared=("task_id",), after=lambda: world.release(task_id))


def unclaim(world: World, ask: Ask) -> Call:
    """Give back the role's work task, claimed beforehand by the role when it is theirs to work, else by the
    place's worker of that step."""
    place, step = world.place(ask), world.work(ask)
    task_id = world.places[place.name].tasks[step]
    holder = REPRESENTATIVES[ask.role] if ask.allowed and ask.role else WORKER_OF_STEP[step](place)
    return Call(
        view_args={"task_id": task_id},
        compared=("task_id",),
        before=lambda: world.gl.claim(holder, task_id),
        after=lambda: world.release(task_id),
    )


def complete(world: World, ask: Ask) -> Call:
    """Complete the role's work task with valid data (a fresh task when the matrix expects it done)."""
    place, step = world.place(ask), world.work(ask)
    task_id = world.at_step(step, place) if ask.allowed else world.places[place.name].tasks[step]
    data = step_data(step, place)
    if ask.api:
        return Call(view_args={"task_id": task_id}, json={"data": data}, compared=("task_id",))
    return Call(view_args={"task_id": task_id}, form=as_form(data), compared=("task_id",))


def _body(ask: Ask, data: dict[str, Any]) -> dict[str, Any]:
    """A cell's body: JSON through the API, a form through the pages."""
    return {"json": data} if ask.api else {"form": data}


def assign(world: World, ask: Ask) -> Call:
    """A leader assigns the place's 派遣 task to the place's dispatcher (given back afterwards)."""
    place = world.place(ask)
    task_id = world.places[place.name].tasks["dispatch"]
    return Call(
        view_args={"task_id": task_id},
        compared=("task_id",),
        after=lambda: world.release(task_id),
        **_body(ask, {"to": place.dispatcher}),
    )


def _held_by(world: World, ask: Ask) -> tuple[Place, str, int, str]:
    """The place, the step, its task and who holds it for a cell of a holder's command: the representative when
    the matrix expects the command carried out, else the place's worker of that step."""
    place, step = world.place(ask), world.work(ask)
    task_id = world.places[place.name].tasks[step]
    holder = REPRESENTATIVES[ask.role] if ask.allowed and ask.role else WORKER_OF_STEP[step](place)
    return place, step, task_id, holder


def delegate(world: World, ask: Ask) -> Call:
    """Delegate the role's work task, held beforehand as for unclaiming, to a colleague of its step."""
    _place, step, task_id, holder = _held_by(world, ask)
    return Call(
        view_args={"task_id": task_id},
        compared=("task_id",),
        before=lambda: world.gl.claim(holder, task_id),
        after=lambda: world.release(task_id),
        **_body(ask, {"to": COLLEAGUE_OF_STEP[step]}),
    )


def give_back(world: World, ask: Ask) -> Call:
    """Give back the role's work task: delegated beforehand to the representative by a colleague when the matrix
    expects it given back, else by the place's worker to a colleague (out of scope only claimed by the worker)."""
    place, step, task_id, _holder = _held_by(world, ask)
    worker, colleague = WORKER_OF_STEP[step](place), COLLEAGUE_OF_STEP[step]

    def before() -> None:
        if ask.allowed and ask.role:
            world.gl.claim(colleague, task_id)
            world.gl.delegate(colleague, task_id, REPRESENTATIVES[ask.role])
        else:
            world.gl.claim(worker, task_id)
            if ask.scope == "in":
                world.gl.delegate(worker, task_id, colleague)

    return Call(
        view_args={"task_id": task_id},
        compared=("task_id",),
        before=before,
        after=lambda: world.release(task_id),
        **_body(ask, {}),
    )


def comment(world: World, ask: Ask) -> Call:
    """Comment on the role's work task."""
    task_id = world.targets(ask).tasks[world.work(ask)]
    return Call(
        view_args={"task_id": task_id}, compared=("task_id",), **_body(ask, {"text": "授权矩阵的评论"})
    )


def follow_up(world: World, ask: Ask) -> Call:
    """Set the follow-up date of the role's work task, held beforehand as for unclaiming."""
    _place, _step, task_id, holder = _held_by(world, ask)
    return Call(
        view_args={"task_id": task_id},
        compared=("task_id",),
        before=lambda: world.gl.claim(holder, task_id),
        after=lambda: world.release(task_id),
        **_body(ask, {"follow_up_at": "2026-11-30"}),
    )


def _filter_owner(ask: Ask) -> str:
    return REPRESENTATIVES[ask.role] if ask.role else "gw_hb1"


def save_filter(world: World, ask: Ask) -> Call:
    """Save an inbox filter of one's own (deleted afterwards)."""

    def after() -> None:
        for saved in world.gl.saved_filters(_filter_owner(ask)):
            world.gl.delete_filter(_filter_owner(ask), saved["id"])

    data = {"name": "授权矩阵", "view": "mine", "colour": "red"}
    if ask.api:
        return Call(json={"name": data.pop("name"), "filters": data}, after=after)
    return Call(form=data, after=after)


def delete_filter(world: World, ask: Ask) -> Call:
    """Delete a saved filter of one's own (saved for the cell)."""
    saved = world.gl.save_filter(_filter_owner(ask), f"矩阵 {uuid.uuid4().hex[:8]}", {"view": "mine"})
    return Call(view_args={"filter_id": saved["id"]})


def _attachment(attachment_id: str) -> Call:
    return Call(view_args={"attachment_id": attachment_id}, compared=("attachment_id",))


def report_photo(world: World, ask: Ask) -> Call:
    """The photo in the place's event's report."""
    return _attachment(world.targets(ask).report_photo)


def task_photo(world: World, ask: Ask) -> Call:
    """A photo in the task data of the place's self-handled event (which no department worked)."""
    return _attachment(world.targets(ask).task_photo)


def own_upload(world: World, ask: Ask) -> Call:
    """An attachment the representative uploaded and has not used yet."""
    return _attachment(world.uploads[ask.role or "grid_worker"])


def others_upload(world: World, ask: Ask) -> Call:
    """An attachment someone else (gw_hb2) uploaded and has not used yet."""
    return _attachment(world.others_upload)


def upload(world: World, ask: Ask) -> Call:
    """Upload a photo through the API."""
    return Call(files={"file": (io.BytesIO(TINY_PNG), "site.png")})


def report(world: World, ask: Ask) -> Call:
    """Report an event into the place's grid."""
    data = {**RUBBISH, "grid": world.place(ask).grid}
    return Call(json=data) if ask.api else Call(form=data)


def issue(world: World, ask: Ask) -> Call:
    """Issue a leader's sheet on the place's event to the place's department."""
    place = world.place(ask)
    return Call(
        view_args={"event_id": world.places[place.name].event},
        form={"department": place.department, "reason": "领导批示：请今日处置完毕"},
        compared=("event_id",),
    )


def issue_elsewhere(world: World, ask: Ask) -> Call:
    """Issue a leader's sheet on the in-scope event to a department outside the issuer's scope (another town's,
    or for a district-wide issuer another district's)."""
    return Call(
        view_args={"event_id": world.places["A"].event},
        form={"department": OUTSIDE[ask.role or "grid_worker"].department, "reason": "领导批示：跨区督办"},
    )


def reply(world: World, ask: Ask) -> Call:
    """Reply to the sheet on the place's event (to a fresh sheet when the matrix expects the reply made)."""
    place = world.place(ask)
    found = world.places[place.name]
    sheet_id = world.issue(place, found.event) if ask.allowed else found.sheet
    return Call(
        view_args={"event_id": found.event, "sheet_id": sheet_id},
        form={"reply": "已安排人员清运"},
        compared=("event_id", "sheet_id"),
    )


def task_reply(world: World, ask: Ask) -> Call:
    """Reply to the sheet on the place's event from the page of the department's 处置 task it is about, as
    :func:`reply` does from the event page; carried out, it leads back to that task's sheet."""
    place = world.place(ask)
    found = world.places[place.name]
    task_id = found.tasks["handle"]
    sheet_id = world.issue(place, found.event) if ask.allowed else found.sheet

    def check(response: TestResponse) -> None:
        if ask.allowed:
            assert response.headers["Location"].endswith(f"/tasks/{task_id}#sheet-{sheet_id}"), (
                response.headers
            )
            with world.gl.db.reading() as session:
                replied = session.scalars(
                    select(SupervisionSheet.reply).where(SupervisionSheet.id == sheet_id)
                ).one()
            assert replied == "已安排人员清运", replied

    return Call(
        view_args={"task_id": task_id, "sheet_id": sheet_id},
        form={"reply": "已安排人员清运"},
        compared=("task_id", "sheet_id"),
        check=check,
    )


def load_boundaries(world: World, ask: Ask) -> Call:
    """Check the demo district's own boundary file (a dry run: nothing is stored)."""
    content = json.dumps(demo_boundaries.feature_collection()).encode()
    return Call(form={"file": (io.BytesIO(content), "boundaries.geojson"), "dry_run": "1"})


def redivide_grids(world: World, ask: Ask) -> Call:
    """Preview re-dividing 湖滨's grids as they are (a dry run: nothing changes)."""
    community = "330199001001"
    with world.gl.db.reading() as session:
        grids = session.scalars(
            select(OrgUnit).where(OrgUnit.parent_code == community, OrgUnit.valid_to.is_(None))
        )
        features = [
            {"type": "Feature", "properties": {"code": g.code}, "geometry": g.boundary} for g in grids
        ]
    content = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    return Call(
        form={"community": community, "file": (io.BytesIO(content), "division.geojson"), "dry_run": "1"}
    )


def ledger_page(world: World, ask: Ask) -> Call:
    """The household ledger: shows the place's resident in scope, nothing of them out of it."""
    person = world.targets(ask).person
    return Call(shows=lambda r: f'data-person="{person}"' in r.get_data(as_text=True))


def ledger_import(world: World, ask: Ask) -> Call:
    """Check a ledger file of a newcomer in the place's grid (a dry run: nothing is stored)."""
    content = ledger_file(world.place(ask), "新住户")
    return Call(form={"file": (io.BytesIO(content), "ledger.csv"), "dry_run": "1"})


def ledger_edit(world: World, ask: Ask) -> Call:
    """Save the place's resident's details as they stand (nothing changes, the command says so)."""
    place = world.place(ask)
    return Call(
        view_args={"person_id": world.targets(ask).person},
        form={
            "name": f"居民{place.name}",
            "kind": "registered",
            "flags": "elderly_alone",
            "id_number": "",
            "phone": "",
        },
        compared=("person_id",),
    )


def ledger_add(world: World, ask: Ask) -> Call:
    """Add a newcomer to the place's resident's dwelling."""
    return Call(
        view_args={"dwelling_id": world.targets(ask).dwelling},
        form={"name": "新住户", "kind": "migrant"},
        compared=("dwelling_id",),
    )


def move_out(world: World, ask: Ask) -> Call:
    """Mark a person of the place's dwelling as moved out: a newcomer when the cell is to succeed (the resident
    stays for the other cells), the resident otherwise (nothing changes)."""
    found = world.targets(ask)
    person = found.person
    if ask.allowed:
        person = world.gl.add_person(
            system("authorization"), found.dwelling, {"name": "将迁出", "kind": "migrant"}
        )["person"]
    return Call(view_args={"person_id": person}, compared=("person_id",))


def unmask(world: World, ask: Ask) -> Call:
    """Read the place's resident's numbers whole (the viewing is logged)."""
    return Call(view_args={"person_id": world.targets(ask).person}, compared=("person_id",))


def sheet_board(world: World, ask: Ask) -> Call:
    """The supervision board: shows the sheet on the place's event in scope, nothing of it out of scope."""
    sheet_id = world.targets(ask).sheet
    return Call(shows=lambda r: f'data-sheet="{sheet_id}"' in r.get_data(as_text=True))


def _notice_owner(ask: Ask) -> str:
    return REPRESENTATIVES[ask.role] if ask.role else "gw_hb1"


def _lists_notice(response: TestResponse, api: bool, notice_id: int) -> bool:
    if api:
        return notice_id in [item["id"] for item in response.get_json()["items"]]
    return f'data-notice="{notice_id}"' in response.get_data(as_text=True)


def notices(world: World, ask: Ask) -> Call:
    """The notice list, which shows a new notice of the representative's."""
    notice_id = world.notice(_notice_owner(ask))
    return Call(shows=lambda r: _lists_notice(r, ask.api, notice_id))


def others_notices(world: World, ask: Ask) -> Call:
    """The notice list, which must not show a new notice of someone else's."""
    notice_id = world.notice(NOTICES_OF_ANOTHER)
    return Call(shows=lambda r: _lists_notice(r, ask.api, notice_id))


def _read_after(world: World, ask: Ask, notice_id: int) -> None:
    if ask.allowed:
        assert notice_id not in world.unread_notices(_notice_owner(ask)), f"notice {notice_id} still unread"


def own_notice(world: World, ask: Ask) -> Call:
    """Mark a new notice of the representative's read (read once done)."""
    notice_id = world.notice(_notice_owner(ask))
    return Call(
        view_args={"notice_id": notice_id},
        compared=("notice_id",),
        check=lambda r: _read_after(world, ask, notice_id),
    )


def open_notice(world: World, ask: Ask) -> Call:
    """Open a new notice of the representative's: read once done, and on to the task it is about."""
    notice_id = world.notice(_notice_owner(ask))
    task_id = world.places["A"].tasks["handle"]

    def check(response: TestResponse) -> None:
        _read_after(world, ask, notice_id)
        if ask.allowed:
            assert response.headers["Location"].endswith(f"/tasks/{task_id}"), response.headers

    return Call(view_args={"notice_id": notice_id}, compared=("notice_id",), check=check)


def others_notice(world: World, ask: Ask) -> Call:
    """Mark read (or open) a new unread notice of someone else's."""
    return Call(view_args={"notice_id": world.notice(NOTICES_OF_ANOTHER)}, compared=("notice_id",))


def read_all(world: World, ask: Ask) -> Call:
    """Mark every notice read, with a new unread one of the representative's and one of someone else's: once
    done, none of the representative's is unread and the other's still is."""
    world.notice(_notice_owner(ask))
    others = world.notice(NOTICES_OF_ANOTHER)

    def check(response: TestResponse) -> None:
        if ask.allowed:
            assert world.unread_notices(_notice_owner(ask)) == [], "a notice of the caller's left unread"
            assert others in world.unread_notices(NOTICES_OF_ANOTHER), "someone else's notice marked read"

    return Call(check=check)


def setting(world: World, ask: Ask) -> Call:
    """Change a setting (put back afterwards)."""
    default = settings.DEFAULTS["report_rewards"]
    value = {**default, "valid": default["valid"] + 1}
    return Call(
        form={"key": "report_rewards", "value": json.dumps(value)},
        after=lambda: world.gl.change_setting("admin", "report_rewards", default),
    )


def calendar_day(world: World, ask: Ask) -> Call:
    """Enter a holiday (removed afterwards)."""
    day = date(2031, 1, 2)
    return Call(
        form={"day": day.isoformat(), "kind": "holiday", "note": "授权矩阵"},
        after=lambda: world.gl.set_calendar_day("admin", day, None),
    )


def revoke(world: World, ask: Ask) -> Call:
    """Revoke a session of another account (a new one when the matrix expects it revoked)."""
    token_id = world.gl.sign_in(SPARE, PASSWORD).token_id if ask.allowed else world.spare_session
    return Call(view_args={"token_id": token_id})


def sign_out_everywhere(world: World, ask: Ask) -> Call:
    """End every session of another account."""
    return Call(view_args={"name": SIGNED_OUT_EVERYWHERE})


def language(world: World, ask: Ask) -> Call:
    """Choose Chinese (the language everyone has already)."""
    return Call(form={"language": "zh"})


def deploy(world: World, ask: Ask) -> Call:
    """Deploy a new draft of the household visit: its files as JSON through the API, its diagram alone uploaded
    through the page (its own forms come from the version deployed)."""
    files = world.visit_files()
    if ask.api:
        return Call(json={"files": files})
    return Call(form={"files": (io.BytesIO(files[VISIT_BPMN].encode("utf-8")), "household_visit.bpmn")})


def _restore_visit(world: World, active: int) -> Callable[[], None]:
    def restore() -> None:
        if world.visit_active() != active:
            world.gl.activate(system("authorization"), active)

    return restore


def activate(world: World, ask: Ask) -> Call:
    """Activate a draft of the household visit (a new one when the matrix expects it done; the version active
    before is activated again afterwards)."""
    active = world.visit_active()
    version_id = world.draft() if ask.allowed else world.spare_draft
    return Call(view_args={"version_id": version_id}, after=_restore_visit(world, active))


def retire(world: World, ask: Ask) -> Call:
    """Retire a draft of the household visit (a new one when the matrix expects it done)."""
    return Call(view_args={"version_id": world.draft() if ask.allowed else world.spare_draft})


def rollback(world: World, ask: Ask) -> Call:
    """Roll the household visit back, after activating a new version over the active one when the matrix
    expects it done (so that there is one to roll back to)."""
    active = world.visit_active()
    if ask.allowed:
        world.gl.activate(system("authorization"), world.draft())
    return Call(view_args={"process_id": "household_visit"}, after=_restore_visit(world, active))


def designer_model(world: World, ask: Ask) -> Call:
    """The household visit in the workbench (a JSON route posted a form answers 400: its body is JSON)."""
    return Call(view_args={"process_id": "household_visit"}, form={})


def migration_plan(world: World, ask: Ask) -> Call:
    """The dry run of moving the household visit's active version's instances to its spare draft."""
    return Call(
        view_args={"process_id": "household_visit"},
        query={"from": world.visit_active(), "to": world.spare_draft},
    )


def model_file(world: World, ask: Ask) -> Call:
    """A form of the household visit, as the workbench's form editor opens it."""
    return Call(view_args={"process_id": "household_visit", "name": "visit_plan.json"})


def figure_cases(world: World, ask: Ask) -> Call:
    """The cases behind November's count of opened cases of a department."""
    return Call(
        query={
            "from": "2026-11-01",
            "to": "2026-11-30",
            "by": "department",
            "group": "DH-HW",
            "figure": "opened",
        }
    )


def write_report(world: World, ask: Ask) -> Call:
    """Write November's monthly evaluation report."""
    return Call(form={"period": "2026-11"})


def report_file(world: World, ask: Ask) -> Call:
    """Download the kept monthly report."""
    return Call(view_args={"report_id": world.monthly_report})


def what_if(world: World, ask: Ask) -> Call:
    """The household visit's cases of last month played through its spare draft."""
    return Call(view_args={"process_id": "household_visit"}, query={"version": world.spare_draft})


def start_page(world: World, ask: Ask) -> Call:
    """The household visit's start form."""
    return Call(view_args={"process_id": "household_visit"})


def start(world: World, ask: Ask) -> Call:
    """Start a household visit in the place's grid."""
    data = {"grid": world.place(ask).grid, "household": "3幢2单元401室", "purpose": "care"}
    if ask.api:
        return Call(view_args={"process_id": "household_visit"}, json={"data": data})
    return Call(view_args={"process_id": "household_visit"}, form=data)


def _credentials(ask: Ask) -> dict[str, str]:
    if ask.role is None:
        return {"username": "nobody", "password": "not-a-password"}
    return {"username": REPRESENTATIVES[ask.role], "password": PASSWORD}


def sign_in_form(world: World, ask: Ask) -> Call:
    """Sign in through the form from a new client, as the representative (signed out: an unknown account)."""
    client = world.app.test_client()
    return Call(form=_credentials(ask), client=client, csrf=token(client))


def sign_out(world: World, ask: Ask) -> Call:
    """Sign out, from a client of its own."""
    if ask.role is None:
        return Call()
    client, csrf = world.signed_in_client(REPRESENTATIVES[ask.role])
    return Call(client=client, csrf=csrf)


def api_token(world: World, ask: Ask) -> Call:
    """Ask for an API token with the representative's password (signed out: an unknown account)."""
    return Call(json=_credentials(ask))


KINDS: dict[str, Callable[[World, Ask], Call]] = {
    kind.__name__: kind
    for kind in (
        page,
        health,
        static,
        version,
        event,
        event_search,
        work_task,
        done_task,
        claimable,
        claim,
        unclaim,
        complete,
        assign,
        delegate,
        give_back,
        comment,
        follow_up,
        save_filter,
        delete_filter,
        report_photo,
        task_photo,
        own_upload,
        others_upload,
        upload,
        report,
        deploy,
        activate,
        retire,
        rollback,
        start_page,
        start,
        designer_model,
        migration_plan,
        write_report,
        report_file,
        figure_cases,
        model_file,
        what_if,
        issue,
        issue_elsewhere,
        reply,
        task_reply,
        sheet_board,
        load_boundaries,
        redivide_grids,
        ledger_page,
        ledger_import,
        ledger_edit,
        ledger_add,
        move_out,
        unmask,
        notices,
        others_notices,
        own_notice,
        open_notice,
        others_notice,
        read_all,
        setting,
        calendar_day,
        revoke,
        sign_out_everywhere,
        language,
        sign_in_form,
        sign_out,
        api_token,
    )
}
# kinds whose target lies in a place, so that each role has an in-scope and an out-of-scope cell
SCOPED = frozenset(
    {
        "event",
        "event_search",
        "work_task",
        "done_task",
        "claimable",
        "claim",
        "unclaim",
        "complete",
        "assign",
        "delegate",
        "give_back",
        "comment",
        "follow_up",
        "report_photo",
        "task_photo",
        "report",
        "start",
        "issue",
        "reply",
        "task_reply",
        "sheet_board",
        "ledger_page",
        "ledger_import",
        "ledger_edit",
        "ledger_add",
        "move_out",
        "unmask",
    }
)


def error_message(response: TestResponse, ids: list[str]) -> tuple[str | None, str]:
    """What an error answer says (the API's code and message, or the error page's text), with ``ids`` — the
    ones the request named — written as ``{id}``, so that answers about different ids compare."""
    if response.is_json:
        body = response.get_json()
        said = f"{body.get('error')}: {body.get('message')}"
    else:
        page_text = response.get_data(as_text=True)
        found = re.search(r'<section class="card narrow">(.*?)</section>', page_text, re.S)
        said = found.group(1) if found else page_text
    for value in ids:
        said = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", "{id}", said)
    return response.mimetype, said


def missing_args(view_args: dict[str, Any], compared: tuple[str, ...]) -> dict[str, Any]:
    """``view_args`` with the compared ids replaced by ids no row has."""
    missing = dict(view_args)
    for offset, name in enumerate(compared):
        missing[name] = MISSING_ATTACHMENT if name == "attachment_id" else MISSING_INT + offset
    return missing
