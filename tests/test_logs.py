"""Structured logs: with ``GRIDLOOP_LOG_FORMAT=json`` every line is one JSON object; a request's lines carry
its request id (the one it was sent, when well-formed) and its user; every command writes a
``gridloop.command`` line; gunicorn run with ``webui/gunicorn_conf.py`` writes its own lines as JSON too.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_races_http import _free_port
from web_support import PASSWORD, app_with_staff, open_task, report, sign_in, token

from engine.app import Gridloop
from engine.errors import ValidationFailed
from webui import logs

NEW_REQUEST_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every logger's INFO lines as JSON into a buffer (the root logger is put back as it was afterwards)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in logs.QUIET_LOGGERS}
    buffer = io.StringIO()
    logs.configure("json", buffer)
    yield buffer
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in quiet.items():
        logging.getLogger(name).setLevel(was)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Every line written, each parsed as JSON (a line that is not fails the test)."""
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    yield from app_with_staff(tmp_path, ("intake", "gw_hb1"))


def test_a_request_logs_a_json_line_with_the_request_id_it_was_sent_and_the_user(app, json_lines):
    client = app.test_client()
    assert sign_in(client, "gw_hb1").status_code == 303
    json_lines.truncate(0)
    json_lines.seek(0)

    response = client.get("/inbox", headers={"X-Request-Id": "nginx-4f2a9c01.7"})
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "nginx-4f2a9c01.7"
    (access,) = [line for line in lines(json_lines) if line["logger"] == "gridloop.access"]
    assert access["request_id"] == "nginx-4f2a9c01.7"
    assert access["user"] == "gw_hb1"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/inbox", 200)
    assert access["level"] == "INFO" and access["message"].startswith("GET /inbox 200 ")
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    assert access["remote_addr"] == "127.0.0.1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", access["time"])


@pytest.mark.parametrize(
    "offered", ["", "has spaces in it", "x" * 129, "-leading-dash", 'quote"d', "中文编号"], ids=repr
)
def test_a_missing_or_ill_formed_request_id_is_replaced_by_a_new_one(app, json_lines, offered):
    headers = {"X-Request-Id": offered} if offered else {}
    response = app.test_client().get("/healthz", headers=headers)
    given = response.headers["X-Request-Id"]
    assert NEW_REQUEST_ID.fullmatch(given)
    (access,) = [line for line in lines(json_lines) if line["logger"] == "gridloop.access"]
    assert access["request_id"] == given and access["user"] is None


def test_a_command_in_a_request_logs_a_command_line_with_the_requests_id(app, json_lines):
    gl: Gridloop = app.extensions["gridloop"]
    task = open_task(gl, report(gl)["id"])
    client = app.test_client()
    assert sign_in(client, "intake").status_code == 303
    form = {"csrf_token": token(client, f"/tasks/{task['id']}")}
    json_lines.truncate(0)
    json_lines.seek(0)

    response = client.post(f"/tasks/{task['id']}/claim", data=form, headers={"X-Request-Id": "claim-1"})
    assert response.status_code == 303
    (command,) = [line for line in lines(json_lines) if line["logger"] == "gridloop.command"]
    assert (command["command"], command["actor"], command["outcome"]) == ("claim", "intake", "ok")
    assert command["error"] is None and command["duration_ms"] >= 0
    assert command["request_id"] == "claim-1" and command["user"] == "intake"
    assert command["path"] == f"/tasks/{task['id']}/claim"
    assert command["message"].startswith("claim by intake: ok in ")


def test_every_command_logs_its_outcome_outside_requests_too(app, json_lines):
    gl: Gridloop = app.extensions["gridloop"]
    event_id = report(gl)["id"]
    task = open_task(gl, event_id)
    with pytest.raises(ValidationFailed):
        gl.complete("intake", task["id"], {"decision": "maybe"})
    assert gl.fire_timer(999_999) is False
    found = [line for line in lines(json_lines) if line["logger"] == "gridloop.command"]
    outcomes = [(line["command"], line["actor"], line["outcome"], line["error"]) for line in found]
    assert ("report", "gw_hb1", "ok", None) in outcomes
    assert ("complete", "intake", "refused", "task.form_invalid") in outcomes
    assert ("fire", "scheduler", "ok", None) in outcomes  # no such timer: nothing fired, nothing failed
    assert all("request_id" not in line for line in found)


def test_the_format_is_text_unless_json_is_asked_for(monkeypatch):
    monkeypatch.delenv("GRIDLOOP_LOG_FORMAT", raising=False)
    assert logs.log_format() == "text"
    monkeypatch.setenv("GRIDLOOP_LOG_FORMAT", "JSON")
    assert logs.log_format() == "json"
    assert isinstance(logs.formatter(), logs.JsonLines)
    monkeypatch.setenv("GRIDLOOP_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="GRIDLOOP_LOG_FORMAT is 'xml'"):
        logs.log_format()

    buffer = io.StringIO()
    record = logging.LogRecord(
        "gridloop.command", logging.INFO, __file__, 1, "report by %s", ("gw_hb1",), None
    )
    handler = logs.handler("text", buffer)
    handler.handle(record)
    assert buffer.getvalue().endswith(" INFO gridloop.command: report by gw_hb1\n")


def test_gunicorn_with_its_config_writes_json_lines_only(tmp_path):
    url = f"sqlite:///{tmp_path}/g.sqlite3"
    gl = Gridloop(url)
    gl.init_schema()
    gl.db.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "GRIDLOOP_DATABASE_URL": url,
        "GRIDLOOP_SECRET_KEY": "logs-" + "k" * 32,
        "GRIDLOOP_LOG_FORMAT": "json",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:webui.gunicorn_conf", "-w", "1"]
        + ["-b", f"127.0.0.1:{port}", "webui:create_app()"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/healthz", headers={"X-Request-Id": "lb-check-1"}
        )
        for _ in range(300):
            try:
                with urllib.request.urlopen(request, timeout=2) as answer:
                    assert answer.headers["X-Request-Id"] == "lb-check-1"
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1]
                time.sleep(0.1)
        else:
            raise AssertionError("gunicorn did not come up")
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    assert out == ""
    written = [json.loads(line) for line in err.splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in written)
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in written)
    (access,) = [line for line in written if line["logger"] == "gridloop.access"]
    assert (access["request_id"], access["path"], access["status"]) == ("lb-check-1", "/healthz", 200)
    assert not any(line["logger"] == "gunicorn.access" for line in written)
    assert PASSWORD not in err


def test_the_engine_library_logs_no_case_data_so_a_reporters_phone_never_reaches_the_log(app, json_lines):
    """SpiffWorkflow logs each task's change of state at INFO with the instance's data: under the production
    logging it must stay silent, or every step would write the reporter's name and phone number in clear."""
    gl = app.extensions["gridloop"]
    event = report(gl, description="井盖松动，联系人 13812345678")
    assert open_task(gl, event["id"])["step"] == "accept", "the report moved the instance on"
    written = json_lines.getvalue()
    assert "13812345678" not in written
    assert not [line for line in lines(json_lines) if line["logger"].startswith("spiff")]
