"""Racing completions over HTTP against a multi-process server (gunicorn, four workers): of two dispatches of
one task sent at the same moment exactly one is answered 200, the other 409 — never a 5xx — and the event
moves on once. Run on SQLite and on PostgreSQL, two hundred races each."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

from conftest import GRID_HB1, REPO
from test_concurrency import together

from engine.app import Gridloop
from engine.demo.district import DEMO_PASSWORD

RACES = 200
WORKERS = 4


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post(url: str, body: dict[str, Any], token: str | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _serve(db_url: str, tmp_path: Path, workers: int = WORKERS) -> tuple[subprocess.Popen, str]:
    """gunicorn with ``workers`` workers on the database, in ``tmp_path``, once it answers its health check."""
    port = _free_port()
    env = {**os.environ, "GRIDLOOP_DATABASE_URL": db_url, "GRIDLOOP_SECRET_KEY": "races-" + "k" * 32}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "webui:create_app()",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the server and its workers in a process group of their own (to kill it whole)
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                return server, base
        except OSError:
            if server.poll() is not None:
                raise AssertionError(
                    server.stderr.read().decode() if server.stderr else "gunicorn exited"
                ) from None
            time.sleep(0.1)
    server.kill()
    raise AssertionError("gunicorn did not come up")


def test_racing_dispatches_over_http_under_four_workers(db_url: str, tmp_path: Path) -> None:
    gl = Gridloop(db_url)
    gl.init_schema()
    gl.create_demo_district("test", DEMO_PASSWORD)
    gl.deploy(REPO, activate=True)
    tasks = []
    for _ in range(RACES):
        event_id = gl.report("gw_hb1", {"category": "0101", "description": "路边暴露垃圾", "grid": GRID_HB1})[
            "id"
        ]
        accept = gl.event_detail("admin", event_id)["tasks"][0]["id"]
        tasks.append((event_id, gl.complete("intake", accept, {"decision": "accept"})["next"][0]))
    server, base = _serve(db_url, tmp_path)
    try:
        status, body = _post(
            base + "/api/v1/auth/token", {"username": "dispatcher", "password": DEMO_PASSWORD}
        )
        assert status == 200, body
        token = body["token"]
        statuses: list[tuple[int, int]] = []
        for _event_id, task_id in tasks:
            url = f"{base}/api/v1/tasks/{task_id}/complete"
            answers = together(
                *(partial(_post, url, {"data": {"department": d}}, token) for d in ("DH-HW", "DH-CG"))
            )
            statuses.append(tuple(sorted(code for code, _body in answers)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert [s for s in statuses if any(code >= 500 for code in s)] == []
    assert {s for s in statuses} == {(200, 409)}, statuses
    for event_id, _task in tasks[:: RACES // 20]:
        event = gl.event_detail("admin", event_id)
        assert [t["step"] for t in event["tasks"] if t["status"] == "open"] == ["handle"]
        assert len([h for h in event["history"] if h["action"] == "complete"]) == 2
    gl.db.dispose()
