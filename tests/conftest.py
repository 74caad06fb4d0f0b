"""Shared fixtures: one fresh database per test on every configured backend, and an engine with the demo
district deployed on it, plus a small driver that finds an event's open task and completes it as a user.

SQLite always runs. PostgreSQL runs only when ``GRIDLOOP_TEST_POSTGRES_URL`` names a server (the case is
not created at all otherwise, so nothing is skipped); each test then gets a database or schema of its own,
dropped at teardown. Seeded databases are copies of a template built once per run (see seeding.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from seeding import drop_templates, empty_database, schema_url, seeded_database

from engine.app import Gridloop
from engine.audit import checkpoints
from engine.time.clock import ManualClock

REPO = Path(__file__).resolve().parent.parent
# Monday 2026-11-23 09:00 in Asia/Shanghai: the start of a working morning.
START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
POSTGRES_URL = os.environ.get("GRIDLOOP_TEST_POSTGRES_URL")
BACKENDS = [pytest.param("sqlite", id="sqlite")]
if POSTGRES_URL:
    BACKENDS.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))

GRID_HB1 = "330199001001001"
GRID_HB2 = "330199001001002"
GRID_LA1 = "330199001002001"
# A 1×1 PNG: photo fields take the ids of stored attachments.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


_schema_url = schema_url


@pytest.fixture(autouse=True)
def own_checkpoint_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The signed checkpoints and anchors a test's engines and command lines write go into its own folder, not
    the repository's instance/ (where one test's files would be held against the next test's database)."""
    if not os.environ.get(checkpoints.DIRECTORY_ENV):
        monkeypatch.setenv(checkpoints.DIRECTORY_ENV, str(tmp_path / "checkpoints"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of the test: ``sqlite``, or ``postgres`` when a server is configured."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database URL nobody else uses: a SQLite file in tmp_path, or a PostgreSQL database or schema of its own.

    Empty, unless the test asks for ``gl`` (itself or through ``driver``): then it holds what ``gl`` starts
    from — the schema, the demo district and the repo's processes — copied from the run's template (see
    :mod:`seeding`), and ``gl`` and every other engine the test makes on it find it so."""
    if "gl" in request.fixturenames:
        with seeded_database(backend, tmp_path, POSTGRES_URL, REPO, START) as url:
            yield url
    else:
        with empty_database(backend, tmp_path, POSTGRES_URL) as url:
            yield url


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The run's database templates go when it ends."""
    drop_templates(POSTGRES_URL)


@pytest.fixture
def make_gridloop(db_url: str) -> Iterator[Any]:
    """A factory of engines on the test's database sharing one manual clock; all are disposed at teardown."""
    made: list[Gridloop] = []
    clock = ManualClock(START)

    def make() -> Gridloop:
        gl = Gridloop(db_url, clock=clock)
        made.append(gl)
        return gl

    yield make
    for gl in made:
        gl.db.dispose()


@pytest.fixture
def gl(make_gridloop: Any) -> Gridloop:
    """An engine at Monday 09:00 Shanghai with the schema, the demo district (made through the command pipeline
    by ``test``, no passwords) and the repo's processes deployed and active: ``db_url`` is seeded so."""
    return make_gridloop()


class Driver:
    """Test helpers over one engine: report, find the open task of an event, complete it, look at inboxes."""

    def __init__(self, gl: Gridloop) -> None:
        self.gl = gl

    def report(self, username: str, **data: Any) -> int:
        """Report an event (暴露垃圾 in gw_hb1's grid unless overridden) and return its id."""
        payload = {"category": "0101", "description": "路边有一堆暴露垃圾，无人清运", "grid": GRID_HB1}
        payload.update(data)
        return self.gl.report(username, payload)["id"]

    def photo(self, username: str = "gw_hb1") -> str:
        """Upload a photo as ``username`` and return its attachment id, for a form's photo field."""
        return self.gl.upload(username, "site.png", TINY_PNG).id

    def event(self, event_id: int) -> dict[str, Any]:
        """The event as the admin (district scope) sees it, with tasks and history."""
        return self.gl.event_detail("admin", event_id)

    def open_tasks(self, event_id: int) -> list[dict[str, Any]]:
        """The event's open tasks."""
        return [t for t in self.event(event_id)["tasks"] if t["status"] == "open"]

    def open_task(self, event_id: int, step: str | None = None) -> dict[str, Any]:
        """The event's single open task, checked to be at ``step`` when given."""
        tasks = self.open_tasks(event_id)
        assert len(tasks) == 1, f"expected one open task, found {[t['step'] for t in tasks]}"
        if step is not None:
            assert tasks[0]["step"] == step
        return tasks[0]

    def claimable(self, username: str) -> list[int]:
        """Ids of the tasks in the user's claimable inbox."""
        rows, total = self.gl.inbox(username, "claimable", per_page=1000)
        assert total == len(rows)
        return [r["id"] for r in rows]

    def mine(self, username: str) -> list[int]:
        """Ids of the tasks in the user's own ("mine") inbox."""
        rows, _ = self.gl.inbox(username, "mine", per_page=1000)
        return [r["id"] for r in rows]

    def complete(self, username: str, event_id: int, step: str, data: dict[str, Any]) -> dict[str, Any]:
        """Complete the event's open task, which must be at ``step``, as ``username``."""
        task = self.open_task(event_id, step)
        return self.gl.complete(username, task["id"], data)

    def completions(self, event_id: int) -> list[dict[str, Any]]:
        """The event's history entries that completed a task, in order."""
        return [h for h in self.event(event_id)["history"] if h["action"] == "complete"]


@pytest.fixture
def driver(gl: Gridloop) -> Driver:
    """Helpers over the ``gl`` engine."""
    return Driver(gl)
