"""The benchmarks keep running as the process changes (their numbers are measured, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.app import Gridloop
from engine.audit import verification
from engine.evaluation import metrics
from engine.store.db import Database
from engine.store.models import Event, HistoryEntry, Task
from tests.conftest import BACKENDS, POSTGRES_URL
from tests.seeding import empty_database

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _run(script: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--json"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("backend", BACKENDS)
def test_engine_benchmark_runs_all_three_ways_and_reports_its_ratios(backend, tmp_path):
    with empty_database(backend, tmp_path, POSTGRES_URL, name="engine") as url:
        result = _run("engine_bench.py", "--events", "3", "--db", url)
    assert set(result) >= {"raw_steps_per_s", "roundtrip_steps_per_s", "gridloop_steps_per_s", "ratio_vs_raw"}
    assert all(result[k] > 0 for k in ("raw_steps_per_s", "roundtrip_steps_per_s", "gridloop_steps_per_s"))
    assert abs(result["ratio_vs_raw"] - result["gridloop_steps_per_s"] / result["raw_steps_per_s"]) < 0.002
    assert 0 < result["history_share_of_gridloop_time"] < 1
    assert result["dialect"] == ("postgresql" if backend == "postgres" else "sqlite")
    assert 2 <= result["statements_per_command"] < 30
    if backend == "postgres":  # every answer the server gave: SQLAlchemy's statements and the driver's own
        assert result["statements_per_command"] <= result["round_trips_per_command"] < 40
    else:
        assert result["round_trips_per_command"] is None
    shares = result["time_shares"]
    parts = ("spiffworkflow", "history", "state_dump", "form_validation", "store_statements", "transaction")
    assert all(0 < shares[part] < 1 for part in parts), shares
    assert shares["history"] == result["history_share_of_gridloop_time"]
    assert abs(sum(shares.values()) - 1) < 0.01 and shares["other"] >= 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_audit_benchmark_verifies_a_generated_history_in_full_then_only_a_new_days_cases(backend, tmp_path):
    with empty_database(backend, tmp_path, POSTGRES_URL, name="audited") as url:
        args = ("--events", "40", "--templates", "8", "--grids", "20", "--day-cases", "2", "--db", url)
        result = _run("audit_bench.py", *args)
    assert result["events"] > 40 and result["mismatches"] == 0
    assert result["incremental_unchanged_held"] == result["events"], (
        "nothing new: every case held by the anchor"
    )
    assert result["day_cases"] == result["incremental_day_replayed"] == 2, (
        "after the day only its cases replay"
    )
    assert result["verified"] == result["instances"] == result["events"] + 2
    assert result["full_seconds"] > 0 and result["incremental_day_seconds"] > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_timer_latency_benchmark_sees_the_scheduler_process_fire_every_timer(backend):
    server = ("--db", POSTGRES_URL) if backend == "postgres" else ()
    result = _run("timer_latency.py", "--timers", "2", *server)
    assert result["backend"] == ("postgresql" if backend == "postgres" else "sqlite")
    assert (result["timers"], result["fired"], result["fired_by_scheduler_process"]) == (2, 2, 2)
    assert result["max_ms"] >= result["median_ms"] >= 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_bulk_generator_copies_simulated_cases_that_pass_the_audit_and_the_evaluation_bench_reads_them(
    backend, tmp_path
):
    with empty_database(backend, tmp_path, POSTGRES_URL, name="generated") as url:
        made = _run("generate.py", "--events", "150", "--templates", "12", "--grids", "40", "--db", url)
        assert (made["generated"], made["grids"]) == (150, 40)
        assert made["events"] == made["simulated"] + 150 and made["rows"]["events"] == 150
        assert 0 < made["templates"] <= made["simulated"]
        assert made["rows"]["history"] > made["rows"]["tasks"] > 150
        db = Database(url)
        with db.reading() as session:
            generated = list(session.scalars(select(Event).where(Event.id > made["simulated"])))
            assert len(generated) == 150 and len({e.grid_code for e in generated}) > 12
            assert {e.grid_code[:9] for e in generated} <= {"330199001", "330199002"}
            # each copy's history is chained anew under its own id, and its head is the event's
            for event in generated[:40]:
                entries = list(
                    session.scalars(
                        select(HistoryEntry)
                        .where(HistoryEntry.event_id == event.id)
                        .order_by(HistoryEntry.seq)
                    )
                )
                assert entries and verification.chain_problems(event, entries) == []
                # moved to its grid wherever the case names it: the report, the inbox's scopes
                assert entries[0].data["report"]["grid"] == event.grid_code
            tasks = session.scalars(select(Task).where(Task.event_id > made["simulated"]))
            assert all(
                e.grid_code.startswith(t.scope_code) for t in tasks for e in [session.get(Event, t.event_id)]
            )
            # the bench's year: the twelve months up to October 2026, Shanghai
            start, end = datetime(2025, 10, 31, 16, tzinfo=UTC), datetime(2026, 10, 31, 16, tzinfo=UTC)
            opened = session.scalar(
                select(func.count()).where(
                    Event.opened_at >= start, Event.opened_at < end, Event.state.not_in(metrics.NOT_CASES)
                )
            )
        db.dispose()
        # and every copy passes the whole audit: its replay under its moved days, its inbox, timer and sheet
        # rows against its records
        audited = Gridloop(url)
        try:
            verified = verification.verify_all(audited, workers=1)
        finally:
            audited.db.dispose()
        assert (verified["instances"], verified["verified"], verified["mismatches"]) == (
            made["events"],
            made["events"],
            [],
        )
        result = _run("evaluation_bench.py", "--db", url, "--period", "2026-10", "--repeat", "1")
        scale = _run("scale_bench.py", "--db", f"first={url}", "--db", f"again={url}", "--repeat", "2")
    assert set(scale["sizes"]) == {"first", "again"}
    assert scale["sizes"]["first"]["events"] == str(made["events"])
    stored = scale["sizes"]["first"]["storage"]
    assert all(stored["bytes"][t] > 0 for t in ("events", "tasks", "history", "supervision_sheets"))
    assert stored["bytes_per_event"] == round(sum(stored["bytes"].values()) / made["events"])
    assert len(scale["calls"]) == 24 and "events by description words" in scale["calls"]
    for name, by_size in scale["calls"].items():
        for figures in by_size.values():
            assert figures["p95_ms"] >= figures["p50_ms"] > 0, name
            assert figures["ratio"] == pytest.approx(figures["p50_ms"] / by_size["first"]["p50_ms"], abs=0.01)
    assert result["events"] == made["events"]
    for period in ("month", "year"):
        figures = result[period]
        assert figures["count_median_ms"] > 0
        for by in ("district", "department", "grid"):
            assert figures[by]["median_ms"] > 0 and figures[by]["peak_kib"] > 0
            assert figures[by]["ratio"] == pytest.approx(
                figures[by]["median_ms"] / figures["count_median_ms"], rel=0.02
            )
        assert figures["district"]["opened"] == figures["grid"]["opened"] <= figures["opened_events"]
    assert result["year"]["district"]["opened"] == opened > 0, "the cases opened in the year, counted apart"
    trend = result["trend"]  # (the bench itself checks the one statement's months against the twelve's)
    assert trend["one_statement_median_ms"] > 0 and trend["month_by_month_median_ms"] > 0
    assert trend["ratio"] == pytest.approx(
        trend["one_statement_median_ms"] / trend["month_by_month_median_ms"], rel=0.05, abs=0.002
    )
