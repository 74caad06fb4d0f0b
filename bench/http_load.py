"""HTTP under load: simulated staff working a day against gunicorn and ``gridloop scheduler`` on PostgreSQL.

The production profile, on loopback only: ``gunicorn -c python:webui.gunicorn_conf -w WORKERS -b 127.0.0.1:PORT
'webui:create_app()'`` (``GRIDLOOP_LOG_FORMAT=json``, its log kept in a temporary file) and one ``gridloop
scheduler`` beside it, both on a database this benchmark prepares: the schema, the demo district, the repo's
processes and a short seeded history (``engine.demo.simulate`` with ``past``: cases of the last days, a few
left open, one waiting at each step of the README's walk), so that inboxes are not empty. Both processes are
stopped at the end, on an error or Ctrl-C too. flask-limiter's per-address limits would turn one machine's load
into 429s, so both limits are raised through their settings (``GRIDLOOP_RATE_LIMIT_API``,
``GRIDLOOP_RATE_LIMIT_SIGN_IN``); failed sign-ins are throttled in the database as always (none fail here).

``--staff N`` simulated staff, each a thread making one request at a time through urllib3's thread-safe pool
(never retried: a retried POST could write twice) and thinking ``--think`` seconds (on average: 0.5 to 1.5
times it) between two, for ``--seconds``; the mix of each kind of staff is :data:`MIX`. Each signs in through the JSON API (``POST
/api/v1/auth/token``) as a real account of the demo district — grid workers, intake, dispatchers,
departments' handlers, shift leaders, a supervisor and an evaluator; several staff may share an account — and
works as that account would: reads its inbox (``mine``, ``claimable``, ``done``), opens a task (its form's
JSON Schema comes with it), claims it, uploads a photo when the step asks for one and completes it with the
answer the demo simulator gives that step (checked against the form before it is sent); reports events (a
public caller's through intake), searches events by code, by words of the description and by category, opens
events; shift leaders and the supervision staff also sign in on the web page (there is no JSON API for the
dashboard) and read the evaluation dashboard and the supervision board. A 409 from two staff claiming one task
is an outcome of the day, counted by status, not an error.

Prints the requests, requests/s, p50/p95/p99 per route (method and path template, ``GET
/api/v1/tasks?view=mine``, ``POST /api/v1/tasks/{id}/complete``) and per action kind as the client saw them,
with each route's p50 inside a worker (``server_p50_ms``, from the access log: the rest is the wait for a free
worker), responses by status and the 5xx (each with the traceback gunicorn's log holds for its request id); then reads the database directly to
find every acknowledged write — each 2xx report's event with its description, each 2xx claim (the task's
assignee, or its ``claim`` history record), each 2xx completion (the task completed by that user, with its
``complete`` record), each 2xx upload's attachment — and prints ``lost``, those not found (target 0). Then a
saturation run (``--saturation-seconds``; 0 skips it): the same mix with no think time from
``--saturation-clients`` concurrent clients, signed in already, printing its requests/s and p50/p95. The load
generator runs on the same machine and shares its cores with gunicorn and PostgreSQL: ``cpu_seconds`` says how
much each used and how busy the machine was, ``machine_busy_share_before`` how busy it was in the second before
the servers started (other work there skews every figure). Figures are measurements of one run, never asserted
on by the tests; the exit status is 1 when a write was lost or a request got a 5xx.

    python bench/http_load.py [--staff 100] [--seconds 60] [--workers 4] [--db URL] [--json]

Without ``--db`` it creates the database ``gridloop_load`` on ``--server`` and drops it afterwards; ``--db`` names
a PostgreSQL database (or a schema of one, ``…?options=-csearch_path%3DNAME``) to prepare and keep.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jsonschema  # noqa: E402
import urllib3  # noqa: E402
from sqlalchemy import select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.scale_bench import percentile  # noqa: E402
from engine.app import Gridloop  # noqa: E402
from engine.demo.district import demo_users  # noqa: E402
from engine.demo.simulate import TINY_PNG, fake_caller, simulate  # noqa: E402
from engine.demo.simulate import answer_step as simulated_answer  # noqa: E402
from engine.store.db import make_engine  # noqa: E402
from engine.store.models import Attachment, Event, HistoryEntry, Task  # noqa: E402
from webui.cli import definitions_root  # noqa: E402

PASSWORD = "http-load-1"
DATABASE = "gridloop_load"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
# flask-limiter counts per address and worker; the load comes from one address, so the limits are set out of reach
UNLIMITED = "1000000 per minute"
STARTUP_SECONDS = 60
STOP_SECONDS = 30
# the steps the demo simulator answers (engine.demo.simulate); a task of any other step is left alone
ANSWERED_STEPS = frozenset(
    {
        "check_exists", "accept", "self_handle_task", "close_self", "dispatch", "handle", "reassign", "verify",
        "close", "follow_up", "approve_extension", "approve_hold", "approve_void", "resume_hold",
        "hold_reminder", "record_meeting", "joint_handle", "review_legacy",
    }
)  # fmt: skip
PHOTO = "photo-to-upload"
# what staff write when they report: each holds words the searches look for
DESCRIPTIONS = (
    "路边有一堆暴露垃圾，无人清运",
    "人行道井盖松动，行人经过有危险",
    "商铺占道经营，影响行人通行",
    "路灯损坏，夜间无照明",
    "雨后路口积水严重",
)
SEARCHED_WORDS = ("垃圾", "井盖", "占道", "路灯", "积水", "处置")

# Who the simulated staff are: a pattern of ten repeated over --staff, each slot taking the next account of its
# kind in turn (so the first six are the README walk's accounts, who find a case waiting, and an overseer).
PATTERN = (
    "grid",
    "intake",
    "dispatch",
    "handler",
    "leader",
    "oversight",
    "grid",
    "handler",
    "grid",
    "dispatch",
)
# the idle choice of each kind of staff: action → weight (a task found in an inbox is then worked step by step)
MIX: dict[str, dict[str, int]] = {
    "grid": {"mine": 20, "claimable": 25, "done": 5, "report": 12, "search": 18, "event": 15},
    "intake": {"mine": 15, "claimable": 30, "done": 5, "report": 10, "search": 20, "event": 20},
    "dispatch": {"mine": 15, "claimable": 35, "done": 5, "search": 25, "event": 20},
    "handler": {"mine": 20, "claimable": 35, "done": 10, "search": 15, "event": 20},
    "leader": {"mine": 15, "claimable": 30, "done": 5, "search": 15, "event": 15, "dashboard": 5},
    "oversight": {"search": 35, "event": 45, "dashboard": 20},
}
# the route of each request → the action kind it counts as
KINDS = {
    "POST /api/v1/auth/token": "sign_in",
    "GET /login": "page_sign_in",
    "POST /login": "page_sign_in",
    "GET /api/v1/tasks?view=mine": "inbox",
    "GET /api/v1/tasks?view=claimable": "inbox",
    "GET /api/v1/tasks?view=done": "inbox",
    "GET /api/v1/tasks/{id}": "task",
    "POST /api/v1/tasks/{id}/claim": "claim",
    "POST /api/v1/attachments": "upload",
    "POST /api/v1/tasks/{id}/complete": "complete",
    "POST /api/v1/events": "report",
    "GET /api/v1/events?code=…": "search",
    "GET /api/v1/events?text=…": "search",
    "GET /api/v1/events?category=…": "search",
    "GET /api/v1/events/{id}": "event",
    "GET /dashboard": "dashboard",
    "GET /supervision": "dashboard",
}


def _accounts() -> dict[str, list[str]]:
    """The demo accounts of each kind of staff, the README walk's account first."""
    users = demo_users()

    def named(role: str, first: str, exclude: tuple[str, ...] = ()) -> list[str]:
        chosen = [u.username for u in users if u.role == role and u.username not in exclude]
        return [first, *[u for u in chosen if u != first]]

    return {
        "grid": named("grid_worker", "gw_hb1"),
        "intake": ["intake"],
        "dispatch": named("dispatcher", "dispatcher_hb"),
        "handler": named("handler", "h_dh_hw"),
        "leader": named("shift_leader", "leader"),
        "oversight": ["supervisor", "evaluator"],
    }


def roster(staff: int) -> list[tuple[str, str]]:
    """(kind, account) of each simulated staff member."""
    accounts, taken = _accounts(), Counter[str]()
    members = []
    for n in range(staff):
        kind = PATTERN[n % len(PATTERN)]
        members.append((kind, accounts[kind][taken[kind] % len(accounts[kind])]))
        taken[kind] += 1
    return members


# ------------------------------------------------------------------ the database and the servers


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new database ``gridloop_load`` on the PostgreSQL ``server``, dropped afterwards."""
    admin = make_engine(server).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            if connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DATABASE}):
                raise SystemExit(
                    f"database {DATABASE} exists on {server} (left by a run that did not finish?): drop it "
                    f"(dropdb {DATABASE}) or name a database with --db"
                )
            connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
        try:
            yield make_url(server).set(database=DATABASE).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    finally:
        admin.dispose()


def prepare(url: str, accounts: set[str], events: int, days: float) -> dict[str, Any]:
    """Bring the database to the demo's starting point: schema, demo district, processes, ``accounts``' password
    and ``events`` cases of the last ``days`` days (once: not again on a database that holds cases)."""
    gl = Gridloop(url)
    try:
        gl.init_schema()
        gl.create_demo_district(by="http-load", password=None)
        gl.deploy(definitions_root(), deployed_by="http-load", activate=True)
        for username in sorted(accounts):
            gl.set_password("admin", username, PASSWORD)
        with gl.db.reading() as session:
            held = session.scalar(select(Event.id).limit(1)) is not None
        seeded = {"events": 0, "open_tasks": 0}
        if events and not held:
            done = simulate(gl, events, seed=1, past=timedelta(days=days), left_open=max(1, events // 5))
            seeded = {"events": done["events"], "open_tasks": done["open_tasks"]}
        with gl.db.reading() as session:
            departments = sorted(gl.directory(session).departments)
        return {
            "seeded": seeded,
            "departments": departments,
            "categories": [c.code for c in gl.bundle().categories],
        }
    finally:
        gl.db.dispose()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serving(url: str, workers: int, folder: Path) -> Iterator[tuple[str, list[subprocess.Popen[Any]]]]:
    """gunicorn (``workers`` workers on a free port of 127.0.0.1) and ``gridloop scheduler`` on ``url``, as the
    production profile runs them; yield the base URL and both processes once both answer."""
    bin_dir = Path(sys.executable).parent
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),  # the checkout this benchmark belongs to
        "GRIDLOOP_DATABASE_URL": url,
        "GRIDLOOP_SECRET_KEY": secrets.token_hex(32),
        "GRIDLOOP_LOG_FORMAT": "json",
        "GRIDLOOP_RATE_LIMIT_API": UNLIMITED,
        "GRIDLOOP_RATE_LIMIT_SIGN_IN": UNLIMITED,
        "GRIDLOOP_CHECKPOINT_DIR": str(folder / "checkpoints"),  # not the checkout's instance/
    }
    port = _free_port()
    gunicorn_command = [
        str(bin_dir / "gunicorn"), "-c", "python:webui.gunicorn_conf", "-w", str(workers),
        "-b", f"127.0.0.1:{port}",
        "--no-control-socket",  # gunicorn's is one path per user: a run must not take another server's
        "webui:create_app()",
    ]  # fmt: skip
    scheduler_command = [str(bin_dir / "gridloop"), "scheduler"]
    started: list[subprocess.Popen[Any]] = []
    try:
        with (folder / "gunicorn.log").open("w") as log:
            started.append(
                subprocess.Popen(
                    gunicorn_command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
                )
            )
        with (folder / "scheduler.log").open("w") as log:
            started.append(
                subprocess.Popen(
                    scheduler_command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
                )
            )
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base, started, folder)
        yield base, started
    finally:
        for process in reversed(started):
            _stop(process)


def _wait_until_up(base: str, started: list[subprocess.Popen[Any]], folder: Path) -> None:
    """Until ``/healthz`` answers 200 and the scheduler says it runs; exit with their logs if either fails."""
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=5))
    deadline = time.monotonic() + STARTUP_SECONDS
    web = scheduler = False
    while time.monotonic() < deadline and not (web and scheduler):
        for process, name in zip(started, ("gunicorn", "scheduler"), strict=True):
            if process.poll() is not None:
                raise SystemExit(f"{name} ended at start:\n{(folder / f'{name}.log').read_text()[-4000:]}")
        with suppress(urllib3.exceptions.HTTPError):
            web = web or http.request("GET", f"{base}/healthz").status == 200
        scheduler = scheduler or "running; next wake" in (folder / "scheduler.log").read_text()
        time.sleep(0.2)
    http.clear()
    if not (web and scheduler):
        logs = "".join((folder / f"{n}.log").read_text()[-2000:] for n in ("gunicorn", "scheduler"))
        raise SystemExit(f"gunicorn or the scheduler did not answer within {STARTUP_SECONDS} s:\n{logs}")


def _cpu_seconds(pid: int | str) -> float:
    """User and system CPU seconds of process ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(gunicorn: int, scheduler: int) -> dict[str, float]:
    """CPU seconds so far of this process (the load generator), gunicorn's master and workers, the scheduler,
    every PostgreSQL process, and the machine's busy and total seconds over all its cores (``/proc``)."""
    try:
        workers = Path(f"/proc/{gunicorn}/task/{gunicorn}/children").read_text().split()
    except OSError:
        workers = []
    postgres = [
        p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _command(p.name) == "postgres"
    ]
    busy, total = machine_seconds()
    return {
        "load_generator": time.process_time(),
        "gunicorn": _cpu_seconds(gunicorn) + sum(_cpu_seconds(pid) for pid in workers),
        "scheduler": _cpu_seconds(scheduler),
        "postgres": sum(_cpu_seconds(pid) for pid in postgres),
        "machine_busy": busy,
        "machine_total": total,
    }


def machine_seconds() -> tuple[float, float]:
    """The machine's busy (all but idle and I/O wait) and total CPU seconds so far, over all its cores."""
    jiffies = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(jiffies) - jiffies[3] - jiffies[4]) / tick, sum(jiffies) / tick


def _command(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """CPU seconds each used between two snapshots, and the share of the machine's cores busy meanwhile
    (PostgreSQL's: its processes alive at the end; a connection closed meanwhile is not counted)."""
    used = {
        k: round(after[k] - before[k], 1) for k in ("load_generator", "gunicorn", "scheduler", "postgres")
    }
    total = after["machine_total"] - before["machine_total"]
    busy = after["machine_busy"] - before["machine_busy"]
    return {**used, "cores": os.cpu_count(), "machine_busy_share": round(busy / total, 2) if total else None}


# ------------------------------------------------------------------ the staff


@dataclass
class Sample:
    """One request: its route, status (0: no answer — the connection failed), milliseconds and request id."""

    route: str
    status: int
    ms: float
    request_id: str


@dataclass
class Record:
    """What the staff did: every request, and every write the server acknowledged (for the check afterwards)."""

    samples: list[Sample] = field(default_factory=list)
    reports: list[tuple[int, str, str]] = field(default_factory=list)  # event id, description, user
    claims: list[tuple[int, str]] = field(default_factory=list)  # task id, user
    completions: list[tuple[int, str]] = field(default_factory=list)
    attachments: list[tuple[str, str]] = field(default_factory=list)  # attachment id, user
    answers_not_valid: list[tuple[str, str]] = field(default_factory=list)  # step, the form's complaint


@dataclass
class Member:
    """A simulated member of staff: the account, its bearer token and web session, the events it has seen."""

    kind: str
    username: str
    token: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    signed_in_on_page: bool = False
    events: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=50))


class Staff:
    """The staff's requests, each as one member, through one thread-safe urllib3 pool; records every one."""

    def __init__(self, base: str, http: urllib3.PoolManager, record: Record, context: dict[str, Any]) -> None:
        self.base, self.http, self.record, self.context = base, http, record, context
        # per event: what the simulator's answers have seen of it (a wrong department, a rework …)
        self.notes: dict[int, dict[str, Any]] = context["notes"]

    def request(
        self,
        member: Member,
        method: str,
        path: str,
        route: str,
        query: dict[str, Any] | None = None,
        body: Any = None,
        fields: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send one request as ``member``; answer its status (0 on a failed connection) and JSON body (else its
        text)."""
        headers = {"X-Request-Id": f"load-{uuid.uuid4().hex}", "Accept-Language": "zh-CN"}
        if member.token and path.startswith("/api/"):
            headers["Authorization"] = f"Bearer {member.token}"
        if member.cookies and not path.startswith("/api/"):
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in member.cookies.items())
        url = self.base + path + (f"?{urlencode(query)}" if query else "")
        started = time.perf_counter()
        try:
            if fields is not None:
                response = self.http.request(method, url, fields=fields, headers=headers, redirect=False)
            elif form is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                response = self.http.request(
                    method, url, body=urlencode(form), headers=headers, redirect=False
                )
            else:
                response = self.http.request(method, url, json=body, headers=headers, redirect=False)
        except urllib3.exceptions.HTTPError:
            self.record.samples.append(
                Sample(route, 0, (time.perf_counter() - started) * 1000, headers["X-Request-Id"])
            )
            return 0, None
        self.record.samples.append(
            Sample(route, response.status, (time.perf_counter() - started) * 1000, headers["X-Request-Id"])
        )
        for cookie in response.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(cookie).items():
                member.cookies[name] = morsel.value
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return response.status, response.json()
        return response.status, response.data.decode("utf-8", "replace")

    def sign_in(self, member: Member) -> bool:
        """The member's bearer token, from ``POST /api/v1/auth/token``."""
        status, answer = self.request(
            member, "POST", "/api/v1/auth/token", "POST /api/v1/auth/token",
            body={"username": member.username, "password": PASSWORD},
        )  # fmt: skip
        if status == 200:
            member.token = answer["token"]
        return member.token is not None

    def work(self, member: Member, deadline: float, think: float, rng: random.Random) -> None:
        """Act as ``member`` until ``deadline``: one request, then ``think`` seconds on average, and again."""
        task: dict[str, Any] | None = None  # the task being worked, between its requests
        while time.monotonic() < deadline:
            task = self.next_task_step(member, task, rng) if task else self.idle_action(member, rng)
            if think:
                time.sleep(min(think * rng.uniform(0.5, 1.5), max(0.0, deadline - time.monotonic())))

    def idle_action(self, member: Member, rng: random.Random) -> dict[str, Any] | None:
        """One request of the member's idle mix; answer a task to work on when an inbox offered one."""
        mix = MIX[member.kind]
        action = rng.choices(list(mix), weights=list(mix.values()))[0]
        if action in ("mine", "claimable", "done"):
            status, page = self.request(
                member, "GET", "/api/v1/tasks", f"GET /api/v1/tasks?view={action}", query={"view": action}
            )
            if status != 200:
                return None
            for row in page["items"]:
                member.events.append((row["event_id"], row["event_code"]))
            workable = [r for r in page["items"] if r["step"] in ANSWERED_STEPS and r["status"] == "open"]
            if action == "done" or not workable:
                return None
            chosen = rng.choice(workable)
            return {"id": chosen["id"], "claim": action == "claimable"}
        if action == "report":
            self.report(member, rng)
        elif action == "search" or (action == "event" and not member.events):
            self.search(member, rng)
        elif action == "event":
            event_id, _code = rng.choice(member.events)
            self.request(member, "GET", f"/api/v1/events/{event_id}", "GET /api/v1/events/{id}")
        elif action == "dashboard":
            self.dashboard(member, rng)
        return None

    def next_task_step(
        self, member: Member, task: dict[str, Any], rng: random.Random
    ) -> dict[str, Any] | None:
        """The next request of working a task: open it, claim it, upload the photo its step needs, complete it;
        answer the task for its next step, or None when done with it (finished, taken by a colleague, …)."""
        path = f"/api/v1/tasks/{task['id']}"
        if "answer" not in task:
            status, detail = self.request(member, "GET", path, "GET /api/v1/tasks/{id}")
            if status != 200 or not detail["can_complete"]:
                return None
            event_id = detail["event"]["id"]
            notes = self.notes.setdefault(event_id, {})
            answer = simulated_answer(
                rng, detail["task"]["step"], detail["data"], self.context["departments"], notes, PHOTO,
                datetime.now(UTC),
            )  # fmt: skip
            return {**task, "answer": answer, "form": detail["form"], "step": detail["task"]["step"]}
        if task["claim"]:
            status, _ = self.request(member, "POST", f"{path}/claim", "POST /api/v1/tasks/{id}/claim")
            if status != 200:
                return None  # a colleague was quicker (409), or it moved on (404): back to the inbox
            self.record.claims.append((task["id"], member.username))
            return {**task, "claim": False}
        if PHOTO in json.dumps(task["answer"]):
            status, stored = self.request(
                member, "POST", "/api/v1/attachments", "POST /api/v1/attachments",
                fields={"file": ("site.png", TINY_PNG, "image/png")},
            )  # fmt: skip
            if status != 201:
                return None
            self.record.attachments.append((stored["id"], member.username))
            photo = json.dumps(stored["id"])
            return {
                **task,
                "answer": json.loads(json.dumps(task["answer"]).replace(json.dumps(PHOTO), photo)),
            }
        complaint = jsonschema.Draft202012Validator(task["form"]).iter_errors(task["answer"])
        problem = next(complaint, None)
        if problem is not None:
            self.record.answers_not_valid.append((task["step"], problem.message))
            return None
        status, _ = self.request(
            member,
            "POST",
            f"{path}/complete",
            "POST /api/v1/tasks/{id}/complete",
            body={"data": task["answer"]},
        )
        if status == 200:
            self.record.completions.append((task["id"], member.username))
        return None

    def report(self, member: Member, rng: random.Random) -> None:
        """Report an event: a grid worker in its grid, intake a public caller's (hotline, WeChat, app)."""
        grids: list[str] = self.context["grids"]
        own = self.context["scopes"][member.username]
        description = f"{rng.choice(DESCRIPTIONS)}（{member.username} 巡查 {uuid.uuid4().hex[:8]}）"
        report: dict[str, Any] = {
            "category": rng.choice(self.context["categories"]),
            "description": description,
            "grid": own if own in grids else rng.choice([g for g in grids if g.startswith(own)] or grids),
            "address": f"某路{rng.randint(1, 300)}号",
        }
        if member.kind == "intake":
            report["channel"] = rng.choice(("hotline", "wechat", "app"))
            report.update(fake_caller(rng, report["channel"], datetime.now(UTC)))
        else:
            report["channel"] = "grid"
            report["self_handle"] = rng.random() < 0.2
        status, event = self.request(member, "POST", "/api/v1/events", "POST /api/v1/events", body=report)
        if status == 201:
            self.record.reports.append((event["id"], description, member.username))
            member.events.append((event["id"], event["code"]))

    def search(self, member: Member, rng: random.Random) -> None:
        """Search events: by a seen event's code (or its day's beginning), by words, or by category."""
        by = rng.choice(("code", "text", "category"))
        if by == "code" and member.events:
            code = rng.choice(member.events)[1]
            value = code if rng.random() < 0.5 else code[:9]
        elif by == "category":
            value = rng.choice(self.context["categories"])
            value = value if rng.random() < 0.7 else value[:2]
        else:
            by, value = "text", rng.choice(SEARCHED_WORDS)
        status, page = self.request(
            member, "GET", "/api/v1/events", f"GET /api/v1/events?{by}=…", query={by: value}
        )
        if status == 200:
            for row in page["items"][:10]:
                member.events.append((row["id"], row["code"]))

    def dashboard(self, member: Member, rng: random.Random) -> None:
        """The evaluation dashboard or the supervision board (web pages: signed in through /login first)."""
        if not member.signed_in_on_page:
            status, page = self.request(member, "GET", "/login", "GET /login")
            if status != 200 or 'name="csrf_token" value="' not in page:
                return
            csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            status, _ = self.request(
                member, "POST", "/login", "POST /login",
                form={"username": member.username, "password": PASSWORD, "csrf_token": csrf},
            )  # fmt: skip
            member.signed_in_on_page = status == 303
            return
        if rng.random() < 0.6:
            by = rng.choice(("department", "grid", "level"))
            self.request(member, "GET", "/dashboard", "GET /dashboard", query={"by": by})
        else:
            self.request(member, "GET", "/supervision", "GET /supervision")


def run_phase(
    staff: Staff, members: list[Member], clients: int, seconds: float, think: float, sign_in: bool, seed: int
) -> float:
    """``clients`` threads acting as ``members`` (client i as member i mod len) for ``seconds``; with
    ``sign_in``, each first signs its member in (at a moment within the first think time). Answers the
    phase's length in seconds (from the start until the last request ended)."""
    started = time.monotonic()
    deadline = started + seconds

    def client(n: int) -> None:
        rng = random.Random(seed * 100_003 + n)
        member = members[n % len(members)]
        if sign_in:
            time.sleep(rng.uniform(0, think))
            if not staff.sign_in(member):
                return
        if member.token is not None:
            staff.work(member, deadline, think, rng)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


# ------------------------------------------------------------------ figures and the check


def figures(samples: list[Sample], seconds: float, served: dict[str, float]) -> dict[str, Any]:
    """Requests, requests/s, percentiles overall, per route and per action kind, and statuses. Each route also
    has ``server_p50_ms``: the p50 of the time its requests took inside a worker (``served``, by request id,
    from the access log), without the wait for a free worker and the way there and back."""

    def spread(times: list[float]) -> dict[str, Any]:
        return {
            "count": len(times),
            "p50_ms": round(statistics.median(times), 1) if times else None,
            "p95_ms": round(percentile(times, 0.95), 1) if times else None,
            "p99_ms": round(percentile(times, 0.99), 1) if times else None,
        }

    by_route: dict[str, list[float]] = {}
    by_kind: dict[str, list[float]] = {}
    inside: dict[str, list[float]] = {}
    for s in samples:
        by_route.setdefault(s.route, []).append(s.ms)
        by_kind.setdefault(KINDS[s.route], []).append(s.ms)
        if s.request_id in served:
            inside.setdefault(s.route, []).append(served[s.request_id])
    statuses = Counter(str(s.status) for s in samples)
    overall = spread([s.ms for s in samples])
    return {
        "requests": len(samples),
        "seconds": round(seconds, 1),
        "requests_per_s": round(len(samples) / seconds, 1) if seconds else None,
        "p50_ms": overall["p50_ms"],
        "p95_ms": overall["p95_ms"],
        "p99_ms": overall["p99_ms"],
        "routes": {
            route: {
                **spread(by_route[route]),
                "server_p50_ms": round(statistics.median(inside[route]), 1) if route in inside else None,
            }
            for route in sorted(by_route)
        },
        "kinds": {kind: spread(by_kind[kind]) for kind in sorted(by_kind)},
        "statuses": dict(sorted(statuses.items())),
        "errors_5xx": sum(n for status, n in statuses.items() if status.startswith("5")),
        "transport_errors": statuses.get("0", 0),
    }


def check(url: str, record: Record) -> list[str]:
    """Every acknowledged write, looked up in the database directly: what is not there, one line each."""
    lost: list[str] = []
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            events = dict(connection.execute(select(Event.id, Event.description)).all())
            tasks = {
                t.id: t
                for t in connection.execute(select(Task.id, Task.status, Task.assignee, Task.completed_by))
            }
            records = set(
                connection.execute(
                    select(HistoryEntry.action, HistoryEntry.task_id, HistoryEntry.actor).where(
                        HistoryEntry.action.in_(("claim", "complete"))
                    )
                )
            )
            stored = dict(connection.execute(select(Attachment.id, Attachment.uploaded_by)).all())
    finally:
        engine.dispose()
    for event_id, description, user in record.reports:
        if events.get(event_id) != description:
            lost.append(f"report by {user}: event {event_id} with {description!r} is not in the database")
    for task_id, user in record.claims:
        row = tasks.get(task_id)
        if not ((row is not None and row.assignee == user) or ("claim", task_id, user) in records):
            lost.append(f"claim by {user}: task {task_id} has neither {user} as assignee nor a claim record")
    for task_id, user in record.completions:
        row = tasks.get(task_id)
        if row is None or row.status != "completed" or row.completed_by != user:
            lost.append(f"completion by {user}: task {task_id} is {row and (row.status, row.completed_by)}")
        elif ("complete", task_id, user) not in records:
            lost.append(f"completion by {user}: task {task_id} has no complete record")
    for attachment_id, user in record.attachments:
        if stored.get(attachment_id) != user:
            lost.append(f"upload by {user}: attachment {attachment_id} is not in the database")
    return lost


def read_log(log: Path) -> tuple[dict[str, float], dict[str, list[str]]]:
    """From gunicorn's JSON log: each request's ``duration_ms`` (its ``gridloop.access`` line) and the error
    lines (tracebacks included) logged while it ran, both by request id."""
    durations: dict[str, float] = {}
    errors: dict[str, list[str]] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        rid = entry.get("request_id") if isinstance(entry, dict) else None
        if not isinstance(rid, str):
            continue
        if entry.get("logger") == "gridloop.access" and isinstance(entry.get("duration_ms"), int | float):
            durations[rid] = float(entry["duration_ms"])
        if entry.get("level") in ("ERROR", "CRITICAL"):
            errors.setdefault(rid, []).append(f"{entry.get('message')}\n{entry.get('exc_info', '')}".strip())
    return durations, errors


def server_errors(samples: list[Sample], errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Each 5xx: its route, status, request id and what gunicorn's log says of it."""
    return [
        {
            "route": s.route,
            "status": s.status,
            "request_id": s.request_id,
            "log": errors.get(s.request_id, []),
        }
        for s in samples
        if s.status >= 500
    ]


def _print(result: dict[str, Any]) -> None:
    print(
        f"{result['staff']} staff, think {result['think_s']} s, {result['workers']} gunicorn workers, "
        f"{result['seconds']} s: {result['requests']} requests, {result['requests_per_s']} requests/s, "
        f"p50/p95/p99 {result['p50_ms']}/{result['p95_ms']}/{result['p99_ms']} ms"
    )
    print(f"{'route':40}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'in worker p50':>15}")
    for route, f in result["routes"].items():
        cells = (
            f"{f['count']:>8}{f['p50_ms']:>10}{f['p95_ms']:>10}{f['p99_ms']:>10}{f['server_p50_ms']!s:>15}"
        )
        print(f"{route:40}{cells}")
    print(
        f"statuses: {result['statuses']}; 5xx: {result['errors_5xx']}; no answer: {result['transport_errors']}"
    )
    print(f"acknowledged: {result['acknowledged']}; lost: {result['lost']}")
    for line in result["lost_details"]:
        print(f"  lost: {line}")
    if result["answers_not_valid"]:
        print(f"answers the forms refused before sending: {result['answers_not_valid']}")
    for error in result["server_errors"]:
        print(
            f"  {error['status']} {error['route']} ({error['request_id']}):\n    "
            + "\n    ".join(error["log"])
        )
    cpu = result["cpu_seconds"]
    print(
        f"cpu seconds: load generator {cpu['load_generator']}, gunicorn {cpu['gunicorn']}, scheduler "
        f"{cpu['scheduler']}, PostgreSQL {cpu['postgres']}; the machine's {cpu['cores']} cores (shared by all of "
        f"them) {cpu['machine_busy_share']:.0%} busy (the second before the servers started: "
        f"{result['machine_busy_share_before']:.0%})"
    )
    s = result["saturation"]
    if s:
        print(
            f"saturation, {s['clients']} clients without think time, {s['seconds']} s: {s['requests']} requests, "
            f"{s['requests_per_s']} requests/s, p50/p95 {s['p50_ms']}/{s['p95_ms']} ms, "
            f"statuses {s['statuses']}"
        )


def _interrupt(signum: int, _frame: types.FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace, url: str, folder: Path) -> dict[str, Any]:
    """Prepare ``url``, serve it, run both phases, stop the servers, then read their log and check the writes."""
    members = [Member(kind, username) for kind, username in roster(args.staff)]
    prepared = prepare(url, {m.username for m in members}, args.seed_events, args.seed_days)
    scopes = {u.username: u.scope_code for u in demo_users()}
    context = {
        **prepared,
        "notes": {},
        "scopes": scopes,
        "grids": sorted(code for code in scopes.values() if len(code) == len("330199001001001")),
    }
    http = urllib3.PoolManager(
        maxsize=max(args.staff, args.saturation_clients),
        retries=False,  # a request is sent once: a retried POST could write twice
        timeout=urllib3.Timeout(connect=10, read=120),
    )
    record = Record()
    busy, total = machine_seconds()
    time.sleep(1)  # how busy the machine is without this run: other work skews every figure below
    busy_before = round((machine_seconds()[0] - busy) / (machine_seconds()[1] - total), 2)
    saturated: list[Sample] = []
    saturation_seconds = 0.0
    try:
        with serving(url, args.workers, folder) as (base, (gunicorn, scheduler)):
            staff = Staff(base, http, record, context)
            before = cpu_snapshot(gunicorn.pid, scheduler.pid)
            main_seconds = run_phase(staff, members, len(members), args.seconds, args.think, True, 1)
            cpu = cpu_used(before, cpu_snapshot(gunicorn.pid, scheduler.pid))
            worked = list(record.samples)
            if args.saturation_seconds > 0:
                record.samples.clear()
                signed = [m for m in members if m.token is not None] or members
                saturation_seconds = run_phase(
                    staff, signed, args.saturation_clients, args.saturation_seconds, 0.0, False, 2
                )
                saturated = list(record.samples)
    finally:
        http.clear()
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for name in ("gunicorn.log", "scheduler.log"):
                if (folder / name).exists():
                    (args.keep_logs / name).write_bytes((folder / name).read_bytes())
    lost = check(url, record)
    served, logged_errors = read_log(folder / "gunicorn.log")
    saturation = None
    if saturated:
        f = figures(saturated, saturation_seconds, served)
        saturation = {"clients": args.saturation_clients, **{k: f[k] for k in (
            "seconds", "requests", "requests_per_s", "p50_ms", "p95_ms", "p99_ms", "statuses", "errors_5xx",
            "transport_errors",
        )}, "kinds": {kind: each["count"] for kind, each in f["kinds"].items()}}  # fmt: skip
    return {
        "staff": args.staff,
        "think_s": args.think,
        "workers": args.workers,
        **figures(worked, main_seconds, served),
        "acknowledged": {
            "reports": len(record.reports),
            "claims": len(record.claims),
            "completions": len(record.completions),
            "attachments": len(record.attachments),
        },
        "lost": len(lost),
        "lost_details": lost[:20],
        "answers_not_valid": len(record.answers_not_valid),
        "server_errors": server_errors(worked + saturated, logged_errors)[:20],
        "seeded": prepared["seeded"],
        "cpu_seconds": cpu,
        "machine_busy_share_before": busy_before,
        "saturation": saturation,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--staff", type=int, default=100, help="simulated staff (default 100)")
    parser.add_argument(
        "--think", type=float, default=1.0, help="mean seconds between two requests of one member (default 1)"
    )
    parser.add_argument("--seconds", type=float, default=60, help="length of the run (default 60)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument(
        "--saturation-seconds",
        type=float,
        default=15,
        help="length of the saturation run (default 15; 0 skips it)",
    )
    parser.add_argument(
        "--saturation-clients",
        type=int,
        default=16,
        help="concurrent clients of the saturation run (default 16)",
    )
    parser.add_argument(
        "--seed-events", type=int, default=40, help="cases seeded before the run (default 40)"
    )
    parser.add_argument(
        "--seed-days", type=float, default=14, help="the seeded cases' days of history (default 14)"
    )
    parser.add_argument(
        "--db", metavar="URL", help="a PostgreSQL database to prepare and use (kept afterwards)"
    )
    parser.add_argument(
        "--server", metavar="URL", default=DEFAULT_SERVER, help=f"where {DATABASE} is made without --db"
    )
    parser.add_argument(
        "--keep-logs", metavar="DIR", type=Path, help="copy gunicorn's and the scheduler's log here"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.staff < 1 or args.saturation_clients < 1 or args.workers < 1:
        raise SystemExit("--staff, --saturation-clients and --workers take 1 or more")
    if args.db and not args.db.startswith("postgresql"):
        raise SystemExit(f"--db {args.db}: give a PostgreSQL database URL (this is the production set-up)")
    signal.signal(
        signal.SIGTERM, _interrupt
    )  # a terminated run still stops its servers and drops its database
    database = nullcontext(args.db) if args.db else fresh_database(args.server)
    with tempfile.TemporaryDirectory() as tmp, database as url:
        result = run(args, url, Path(tmp))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        _print(result)
    failed = result["lost"] or result["errors_5xx"] or (result["saturation"] or {}).get("errors_5xx")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
