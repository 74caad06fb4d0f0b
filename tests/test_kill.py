"""Killing the server under load loses nothing it acknowledged: gunicorn (two workers) is killed with SIGKILL,
process group and all, while four clients keep reporting events over the API; it is started again, three times.
Every report answered 201 is in the database with its history, and `audit verify` passes on what is left.
On SQLite and PostgreSQL."""

from __future__ import annotations

import http.client
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import GRID_HB1, REPO
from test_races_http import _post, _serve

from engine.app import Gridloop
from engine.audit import verification
from engine.demo.district import DEMO_PASSWORD

ROUNDS = 3
CLIENTS = 4
ACKNOWLEDGED_PER_ROUND = 12  # the kill comes once this many more reports were answered 201


def _report_until_killed(base: str, token: str, acknowledged: list[int], lock: threading.Lock) -> None:
    """Report events until the server stops answering; remember every one answered 201."""
    body = {"category": "0101", "description": "路边暴露垃圾", "grid": GRID_HB1}
    while True:
        try:
            status, answer = _post(base + "/api/v1/events", body, token)
        except (OSError, http.client.HTTPException):  # the server is gone (refused, reset or cut off
            return  # mid-answer): nothing acknowledged
        if status != 201:
            continue
        with lock:
            acknowledged.append(answer["id"])


def test_a_server_killed_under_load_keeps_every_acknowledged_report(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the server processes and this one sign and check the history with the same audit key
    monkeypatch.setenv("GRIDLOOP_AUDIT_KEYS", "kill-test:" + "5a" * 32)
    monkeypatch.setenv("GRIDLOOP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    gl = Gridloop(db_url)
    gl.init_schema()
    gl.create_demo_district("test", DEMO_PASSWORD)
    gl.deploy(REPO, activate=True)
    acknowledged: list[int] = []
    lock = threading.Lock()
    try:
        for _round in range(ROUNDS):
            server, base = _serve(db_url, tmp_path, workers=2)
            try:
                status, answer = _post(
                    base + "/api/v1/auth/token", {"username": "gw_hb1", "password": DEMO_PASSWORD}
                )
                assert status == 200, answer
                goal = len(acknowledged) + ACKNOWLEDGED_PER_ROUND
                clients = [
                    threading.Thread(
                        target=_report_until_killed, args=(base, answer["token"], acknowledged, lock)
                    )
                    for _ in range(CLIENTS)
                ]
                for client in clients:
                    client.start()
                while len(acknowledged) < goal and all(c.is_alive() for c in clients):
                    threading.Event().wait(0.01)
            finally:
                os.killpg(server.pid, signal.SIGKILL)  # mid-request: no shutdown, no flush
                server.wait(timeout=30)
            for client in clients:
                client.join(timeout=60)
            assert not any(client.is_alive() for client in clients)
            assert len(acknowledged) >= goal
        stored = {e["id"]: e for e in gl.list_events("admin", per_page=1000)[0]}
        lost = [event_id for event_id in acknowledged if event_id not in stored]
        assert lost == []
        for event_id in acknowledged[:: max(1, len(acknowledged) // 6)]:
            history = gl.event_detail("admin", event_id)["history"]
            assert [h["action"] for h in history][:1] == ["report"]
        audit: dict[str, Any] = verification.verify_all(gl, workers=1)
        assert audit["mismatches"] == [], audit["mismatches"][:5]
        assert audit["verified"] == len(stored)
    finally:
        gl.db.dispose()
