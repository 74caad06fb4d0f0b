"""Audit benchmark: how long `audit verify` takes over many simulated events, and what history costs the engine.

Builds a SQLite file with N events driven through the whole loop by the simulator (the realistic mix), writes a
signed audit checkpoint of it (into a temporary directory, with a key made for the run), then times
`verification.verify_all` over all of them: the keyed chains, the checkpoint's claims, the exact replays, the
counted facts and the inbox, timer and sheet rows. Prints ``events``, ``build_seconds``, ``checkpoint_seconds``,
``checkpoint_bytes_per_event``, ``verify_seconds``, ``verify_ms_per_event`` and ``verified``.
Pass ``--keep PATH`` to keep (or reuse) the database; its records are signed with the audit keys of the
directory it is run in (``instance/audit_keys``, or ``GRIDLOOP_AUDIT_KEYS``), so reuse it from there.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from engine.app import Gridloop  # noqa: E402
from engine.audit import verification  # noqa: E402
from engine.audit.checkpoints import Checkpoints  # noqa: E402
from engine.demo.district import create_demo_district  # noqa: E402
from engine.demo.simulate import simulate  # noqa: E402
from engine.time.clock import ManualClock  # noqa: E402


def build(url: str, events: int) -> float:
    """Create the schema, the demo district and ``events`` simulated events; return the seconds it took."""
    started = time.perf_counter()
    gl = Gridloop(url, clock=ManualClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC)))
    gl.init_schema()
    with gl.db.unit_of_work() as session:
        create_demo_district(session, password=None)
    gl.deploy(ROOT, activate=True)
    simulate(gl, events, seed=7)
    gl.db.dispose()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--keep", help="database file to build (or reuse when it exists)")
    parser.add_argument(
        "--workers", type=int, help="worker processes for the replays (default: one per core)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "audit.sqlite3"
        url = f"sqlite:///{path}"
        build_seconds = 0.0 if path.exists() else build(url, args.events)
        key = Ed25519PrivateKey.generate()
        gl = Gridloop(url, checkpoints=Checkpoints(Path(tmp) / "checkpoints", key))
        started = time.perf_counter()
        checkpoint = gl.write_checkpoint()
        checkpoint_seconds = time.perf_counter() - started
        started = time.perf_counter()
        result = verification.verify_all(gl, workers=args.workers)
        verify_seconds = time.perf_counter() - started
        gl.db.dispose()
        checkpoint_bytes = checkpoint.stat().st_size

    report = {
        "events": result["instances"],
        "build_seconds": round(build_seconds, 1),
        "checkpoint_seconds": round(checkpoint_seconds, 3),
        "checkpoint_bytes_per_event": round(checkpoint_bytes / max(result["instances"], 1), 1),
        "verify_seconds": round(verify_seconds, 2),
        "verify_ms_per_event": round(verify_seconds / max(result["instances"], 1) * 1000, 2),
        "workers": args.workers or os.cpu_count(),
        "verified": result["verified"],
        "mismatches": len(result["mismatches"]),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>20}: {value}")
    return 0 if not result["mismatches"] else 1


if __name__ == "__main__":
    sys.exit(main())
