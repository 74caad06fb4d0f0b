"""Audit benchmark: `audit verify` over a big history, in full and incrementally after a day's new cases.

Fills a database with ``--events`` archived cases by the bulk generator (``bench/generate.py``; a temporary
SQLite file, or ``--db URL`` — an empty database is filled first, a filled one is used as it is), writes a
signed audit checkpoint of it (into a temporary directory, with a key made for the run), then times
`verification.verify_all` three ways, as ``gridloop audit verify`` runs it:

- **full**: every case — the keyed chains, the checkpoint's claims, the exact replays, the counted facts and the
  inbox, timer and sheet rows — and, as it passes, the signed verified anchor written;
- **incremental, nothing new**: the same again against that anchor;
- **incremental after a day**: a day's new cases (the history's cases per day, two years of them; at least
  one) driven through the whole loop by the simulator, then verified against the anchor — only they replay.

Prints ``events``, ``build_seconds``, ``checkpoint_seconds``, ``checkpoint_bytes_per_event``,
``full_seconds``, ``full_ms_per_event``, ``incremental_unchanged_seconds``, ``day_cases``,
``incremental_day_seconds``, ``incremental_day_replayed``, ``verified`` and ``mismatches``. The records are
signed with the audit keys of the directory it is run in (``instance/audit_keys``, or ``GRIDLOOP_AUDIT_KEYS``),
so reuse a database from there.

    python bench/audit_bench.py --events 100000 --db postgresql+psycopg://postgres@127.0.0.1:5432/audit100k
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from sqlalchemy import inspect  # noqa: E402

from bench.generate import generate  # noqa: E402
from engine.app import Gridloop  # noqa: E402
from engine.audit import verification  # noqa: E402
from engine.audit.checkpoints import Checkpoints  # noqa: E402
from engine.demo.simulate import simulate  # noqa: E402
from engine.store.db import Database  # noqa: E402
from engine.time.clock import ManualClock  # noqa: E402

DAY_AFTER = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # the new day: after the generator's templates
DAYS = 2 * 365  # the generator's two years


def build(url: str, events: int, templates: int, grids: int) -> float:
    """Fill the database at ``url`` when it holds no gridloop schema yet; the seconds it took."""
    db = Database(url)
    try:
        empty = not inspect(db.engine).has_table("events")
    finally:
        db.dispose()
    if not empty:
        return 0.0
    started = time.perf_counter()
    generate(url, events, templates=templates, grids=grids)
    return time.perf_counter() - started


def timed(gl: Gridloop, workers: int | None, **how: Any) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    result = verification.verify_all(gl, workers=workers, **how)
    return time.perf_counter() - started, result


def measure(url: str, folder: Path, workers: int | None, day_cases: int | None) -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    gl = Gridloop(url, checkpoints=Checkpoints(folder / "checkpoints", key), clock=ManualClock(DAY_AFTER))
    try:
        started = time.perf_counter()
        checkpoint = gl.write_checkpoint()
        checkpoint_seconds = time.perf_counter() - started
        full_seconds, full = timed(gl, workers, anchor=True)
        unchanged_seconds, unchanged = timed(gl, workers, incremental=True, anchor=True)
        day = day_cases if day_cases is not None else max(1, full["instances"] // DAYS)
        simulate(gl, day, seed=11)
        day_seconds, after_day = timed(gl, workers, incremental=True, anchor=True)
    finally:
        gl.db.dispose()
    problems = full["mismatches"] + unchanged["mismatches"] + after_day["mismatches"]
    return {
        "events": full["instances"],
        "checkpoint_seconds": round(checkpoint_seconds, 3),
        "checkpoint_bytes_per_event": round(checkpoint.stat().st_size / max(full["instances"], 1), 1),
        "full_seconds": round(full_seconds, 2),
        "full_ms_per_event": round(full_seconds / max(full["instances"], 1) * 1000, 3),
        "incremental_unchanged_seconds": round(unchanged_seconds, 2),
        "incremental_unchanged_held": unchanged.get("unchanged", 0),
        "day_cases": after_day["instances"] - full["instances"],
        "incremental_day_seconds": round(day_seconds, 2),
        "incremental_day_replayed": after_day["instances"] - after_day.get("unchanged", 0),
        "verified": after_day["verified"],
        "instances": after_day["instances"],
        "mismatches": len(problems),
        "problems": problems[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="archived cases to generate")
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--templates", type=int, default=300, help="the generator's simulated templates")
    parser.add_argument("--grids", type=int, default=1000)
    parser.add_argument("--day-cases", type=int, help="the new day's cases (default: the history's per day)")
    parser.add_argument(
        "--workers", type=int, help="worker processes for the replays (default: one per core)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/audit.sqlite3"
        build_seconds = build(url, args.events, args.templates, args.grids)
        report = {"build_seconds": round(build_seconds, 1)} | measure(
            url, Path(tmp), args.workers, args.day_cases
        )
    report["workers"] = args.workers or os.cpu_count()
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        for name, value in report.items():
            print(f"{name:>30}: {value}")
    return 0 if not report["mismatches"] else 1


if __name__ == "__main__":
    sys.exit(main())
