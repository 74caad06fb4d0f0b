"""The HTTP load benchmark runs the production set-up end to end at a small size: gunicorn and the scheduler on
PostgreSQL, staff of every kind working through the JSON API and the dashboard pages, every acknowledged write
found in the database afterwards. Its figures are measurements, never asserted; what it saw is.

PostgreSQL only (the production set-up): created only when ``GRIDLOOP_TEST_POSTGRES_URL`` names a server (see
conftest), in a schema of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL
from tests.seeding import empty_database

BENCH = Path(__file__).resolve().parent.parent / "bench" / "http_load.py"
# the action kinds of the working day's mix that a small run reaches every time
KINDS = {"sign_in", "inbox", "task", "claim", "complete", "report", "search", "event", "dashboard"}
# a claim conflict (409) and an event or task that moved out of sight (404) are outcomes of the day; any other
# refusal means the benchmark sent what the API refuses
STATUSES = {"200", "201", "303", "404", "409"}

if POSTGRES_URL:

    @pytest.mark.postgres
    def test_staff_under_load_get_no_server_error_and_every_acknowledged_write_is_in_the_database(tmp_path):
        with empty_database("postgres", tmp_path, POSTGRES_URL, name="load") as url:
            done = subprocess.run(
                [
                    sys.executable,
                    str(BENCH),
                    "--staff",
                    "6",
                    "--seconds",
                    "6",
                    "--saturation-seconds",
                    "3",
                    "--workers",
                    "2",
                    "--seed-events",
                    "4",
                    "--db",
                    url,
                    "--json",
                ],  # fmt: skip
                capture_output=True,
                text=True,
                timeout=300,
            )
        assert done.stdout, done.stderr
        result = json.loads(done.stdout)
        saturation = result["saturation"]
        assert done.returncode == 0, (result["lost_details"], result["server_errors"], done.stderr[-3000:])
        assert (result["staff"], result["workers"], saturation["clients"]) == (6, 2, 16)
        seen = {kind for kind, f in result["kinds"].items() if f["count"]} | {
            kind for kind, count in saturation["kinds"].items() if count
        }
        assert seen >= KINDS, f"no request of {KINDS - seen}"
        assert result["requests"] == sum(f["count"] for f in result["routes"].values()) > 0
        for statuses in (result["statuses"], saturation["statuses"]):
            assert set(statuses) <= STATUSES, statuses
        assert result["errors_5xx"] == saturation["errors_5xx"] == 0
        assert result["transport_errors"] == saturation["transport_errors"] == 0
        assert result["server_errors"] == []
        assert result["answers_not_valid"] == 0, "every answer sent fits its task's form"
        acknowledged = result["acknowledged"]
        assert acknowledged["reports"] > 0 and acknowledged["claims"] > 0 and acknowledged["completions"] > 0
        assert result["lost"] == 0, result["lost_details"]
        assert saturation["requests"] > 0 and saturation["requests_per_s"] > 0
        for route, f in result["routes"].items():
            assert f["p99_ms"] >= f["p95_ms"] >= f["p50_ms"] > 0, route
            assert f["server_p50_ms"] is not None and f["server_p50_ms"] > 0, route
        assert result["p99_ms"] >= result["p95_ms"] >= result["p50_ms"] > 0
        assert saturation["p95_ms"] >= saturation["p50_ms"] > 0
