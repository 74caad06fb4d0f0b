"""The wheel: built from the checkout, installed in a fresh virtual environment away from it, it sets up the
demo and serves it.

This is what ``pip install .`` gives a server: the packages, the BPMN/DMN/form definitions (shipped as
``gridloop_definitions``), the templates, static files (bpmn-js included when ``make vendor`` built it),
translations and migrations. The environment gets its packages from ``requirements.lock`` (hash-checked, from
pip's cache after ``make install``), then the wheel itself without dependencies, and ``pip check`` holds the
lock to what the wheel declares. Every command runs outside the checkout, with nothing of it on the path.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import REPO

VENDOR_BUNDLE = REPO / "webui" / "static" / "vendor" / "bpmn-navigated-viewer.production.min.js"


def _run(command: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    """Run a command to its end; fail the test with its output unless it succeeds. Returns its stdout."""
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _clean_env() -> dict[str, str]:
    """The environment without anything that points back into the checkout or at another database."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GRIDLOOP_") and key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def test_the_wheel_installs_away_from_the_checkout_and_serves_the_demo(tmp_path: Path):
    env = _clean_env()
    site = tmp_path / "site"  # the working directory of every command: instance/ lands here
    site.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]

    _run([*pip, "wheel", "--no-deps", "--quiet", "--wheel-dir", tmp_path / "dist", REPO], site, env)
    (wheel,) = (tmp_path / "dist").glob("gridloop-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], site, env)
    python, gridloop = venv / "bin" / "python", venv / "bin" / "gridloop"
    target = [*pip, "--python", python]
    _run([*target, "install", "--quiet", "--require-hashes", "-r", REPO / "requirements.lock"], site, env)
    _run([*target, "install", "--quiet", "--no-deps", wheel], site, env)
    _run([*target, "check"], site, env)

    where = json.loads(
        _run(
            [
                python,
                "-c",
                "import json, engine, webui.cli; print(json.dumps([engine.__file__, str(webui.cli.definitions_root())]))",
            ],
            site,
            env,
        )
    )
    for path in where:
        assert Path(path).is_relative_to(venv), f"{path} is not the installed copy"
    shipped = Path(where[1])
    assert (shipped / "processes" / "grid_event" / "grid_event.bpmn").is_file()
    assert (shipped / "forms" / "dispatch.json").is_file()
    assert "Usage: gridloop" in _run([python, "-m", "webui.cli", "--help"], site, env)

    url = f"sqlite:///{tmp_path / 'gridloop.sqlite3'}"
    out = _run([gridloop, "--db", url, "init", "--demo"], site, env)
    assert "demo district created" in out
    assert "grid_event: version 1 (" in out and "household_visit: version 2 (" in out
    assert out.rstrip().endswith("new, active")

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(gridloop), "--db", url, "serve", "--port", str(port)],
        cwd=site,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        health = None
        while health is None:
            assert server.poll() is None, f"gridloop serve exited {server.returncode}"
            assert time.monotonic() < deadline, "gridloop serve did not answer within 30 s"
            try:
                health = _get(f"{base}/healthz")
            except OSError:
                time.sleep(0.2)
        status, body = health
        assert status == 200, body
        assert json.loads(body) == {"status": "ok", "database": "up"}  # and nothing a stranger could use

        status, body = _get(f"{base}/login")
        assert status == 200, body
        assert "登录" in body and "auth.title" not in body  # the template, rendered with the zh catalog
        assert _get(f"{base}/static/css/gridloop.css")[0] == 200
        if VENDOR_BUNDLE.is_file():
            assert _get(f"{base}/static/vendor/{VENDOR_BUNDLE.name}")[0] == 200
    finally:
        server.terminate()
        try:
            output, _ = server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert (site / "instance" / "secret_key").is_file(), output
    assert (site / "instance" / "audit_keys").is_file(), output  # the records of init were signed with it
