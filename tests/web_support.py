"""Helpers for the staff pages' tests through Flask's test client: the app on a real SQLite file with staff who
sign in, forms posted with their CSRF token, events reported and driven straight through the engine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import GRID_HB1, POSTGRES_URL, START
from flask.testing import FlaskClient
from seeding import seeded_database
from werkzeug.datastructures import MultiDict

from engine.app import Gridloop
from engine.org import people
from engine.time.clock import ManualClock
from webui import create_app

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "web-test-password"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def app_with_staff(tmp_path: Path, staff: tuple[str, ...], backend: str = "sqlite") -> Iterator[Any]:
    """The app on a database of its own (a SQLite file unless ``backend`` names PostgreSQL) seeded with the demo
    district and the repo's processes (see :mod:`seeding`), real passwords for ``staff``, and an engine on a
    manual clock at Monday 09:00 in Shanghai (``app.extensions["gridloop"]``). A fixture body."""
    with seeded_database(backend, tmp_path, POSTGRES_URL, REPO, START, recipe="pages", name="web") as url:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "web-tests", "TESTING": True})
        app.extensions["gridloop"].db.dispose()
        gl = Gridloop(url, clock=ManualClock(START))
        app.extensions["gridloop"] = gl
        with gl.db.unit_of_work() as session:
            for username in staff:
                people.add_user(session, username).password_hash = password_hash()
        yield app
        gl.db.dispose()


def app_fixtures(staff: tuple[str, ...]) -> tuple[Any, Any]:
    """The ``app`` and ``gl`` fixtures of a module whose tests sign in as ``staff``: ``app, gl =
    app_fixtures(STAFF)`` at its top (the app of :func:`app_with_staff`, and its engine on the manual clock)."""

    @pytest.fixture
    def app(tmp_path: Path) -> Iterator[Any]:
        yield from app_with_staff(tmp_path, staff)

    @pytest.fixture
    def gl(app: Any) -> Gridloop:
        return app.extensions["gridloop"]

    return app, gl


@cache
def password_hash(password: str = PASSWORD) -> str:
    """An Argon2id hash of ``password``, made once per run: every test user signing in with it is checked
    against a real hash, without hashing anew for each user of each test."""
    return people.hash_password(password)


def token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the client's session, read from a page's form."""
    found = TOKEN.search(client.get(path, follow_redirects=True).get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    """Post the sign-in form (with its token) and return the response."""
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token(client)}
    )


def staff(app: Any, username: str) -> FlaskClient:
    """A test client signed in as ``username``."""
    client = app.test_client()
    assert sign_in(client, username).status_code == 303
    return client


def post(client: FlaskClient, path: str, data: dict[str, Any] | MultiDict, page: str | None = None) -> Any:
    """Post a form from ``page`` (default: the same path) with the session's CSRF token; a list value is several
    values of one field, a tuple (stream, filename) a file."""
    fields = data.copy() if isinstance(data, MultiDict) else MultiDict()
    if not isinstance(data, MultiDict):
        for key, value in data.items():
            fields.setlist(key, value if isinstance(value, list) else [value])
    fields["csrf_token"] = token(client, page or path)
    return client.post(path, data=fields, content_type="multipart/form-data")


def html(response: Any) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


def report(gl: Gridloop, username: str = "gw_hb1", **data: Any) -> dict[str, Any]:
    """Report an event straight through the engine (暴露垃圾 in gw_hb1's grid unless overridden)."""
    payload = {"category": "0101", "description": "路边有一堆暴露垃圾，无人清运", "grid": GRID_HB1} | data
    return gl.report(username, payload)


def open_task(gl: Gridloop, event_id: int) -> dict[str, Any]:
    """The event's single open task."""
    tasks = [t for t in gl.event_detail("admin", event_id)["tasks"] if t["status"] == "open"]
    assert len(tasks) == 1
    return tasks[0]


def complete(gl: Gridloop, username: str, event_id: int, step: str, data: dict[str, Any]) -> None:
    """Complete the event's single open task, which must be at ``step``, as ``username``."""
    task = open_task(gl, event_id)
    assert task["step"] == step
    gl.complete(username, task["id"], data)


def at_handle(gl: Gridloop) -> int:
    """A rubbish report accepted and dispatched to 东湖街道环卫所 (DH-HW), waiting at its handling step."""
    event_id = report(gl)["id"]
    complete(gl, "intake", event_id, "accept", {"decision": "accept"})
    complete(gl, "dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    return event_id


def closed_with_rework(gl: Gridloop) -> int:
    """A rubbish report handled twice — the first verification failed (rework) — then closed and followed up.

    History: 1 report, 2 accept, 3 dispatch, 4 handle, 5 verify (failed), 6 handle, 7 verify, 8 close, 9 follow-up.
    """
    event_id = at_handle(gl)
    complete(gl, "h_dh_hw", event_id, "handle", {"action": "done", "result": "已清运"})
    complete(gl, "gw_hb1", event_id, "verify", {"passed": False, "note": "仍有残留"})
    complete(gl, "h_dh_hw", event_id, "handle", {"action": "done", "result": "已彻底清运"})
    complete(gl, "gw_hb1", event_id, "verify", {"passed": True})
    complete(gl, "leader", event_id, "close", {"opinion": "同意"})
    complete(gl, "intake", event_id, "follow_up", {"satisfaction": "satisfied"})
    return event_id
