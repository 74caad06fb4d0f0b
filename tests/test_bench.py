"""The benchmarks keep running as the process changes (their numbers are measured, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, POSTGRES_URL

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _run(script: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--json"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_engine_benchmark_runs_all_three_ways_and_reports_its_ratios():
    result = _run("engine_bench.py", "--events", "3")
    assert set(result) >= {"raw_steps_per_s", "roundtrip_steps_per_s", "gridloop_steps_per_s", "ratio_vs_raw"}
    assert all(result[k] > 0 for k in ("raw_steps_per_s", "roundtrip_steps_per_s", "gridloop_steps_per_s"))
    assert abs(result["ratio_vs_raw"] - result["gridloop_steps_per_s"] / result["raw_steps_per_s"]) < 0.002
    assert 0 < result["history_share_of_gridloop_time"] < 1
    shares = result["time_shares"]
    parts = ("spiffworkflow", "history", "state_dump", "form_validation", "store_statements", "transaction")
    assert all(0 < shares[part] < 1 for part in parts), shares
    assert shares["history"] == result["history_share_of_gridloop_time"]
    assert abs(sum(shares.values()) - 1) < 0.01 and shares["other"] >= 0


def test_audit_benchmark_verifies_every_simulated_event(tmp_path):
    result = _run("audit_bench.py", "--events", "8", "--keep", str(tmp_path / "audit.sqlite3"))
    assert (result["events"], result["verified"], result["mismatches"]) == (8, 8, 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_timer_latency_benchmark_sees_the_scheduler_process_fire_every_timer(backend):
    server = ("--db", POSTGRES_URL) if backend == "postgres" else ()
    result = _run("timer_latency.py", "--timers", "2", *server)
    assert result["backend"] == ("postgresql" if backend == "postgres" else "sqlite")
    assert (result["timers"], result["fired"], result["fired_by_scheduler_process"]) == (2, 2, 2)
    assert result["max_ms"] >= result["median_ms"] >= 0
