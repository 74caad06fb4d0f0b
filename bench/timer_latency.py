"""Timer latency across processes: how long after its due time a BPMN timer fires (wall clock).

The scheduler runs as ``gridloop scheduler`` in a process of its own, with a backstop so long (an hour) that it
can never be what fires a timer; this process creates the timers, as a web worker would: it deploys a copy of
the timer test process whose timer waits one second, reports N events ``--spacing`` seconds apart, and waits
until every timer has fired. So what is measured is how the scheduler hears of a timer another process made
(PostgreSQL: LISTEN/NOTIFY; SQLite: its look at the next due time every second; see
:mod:`engine.time.scheduler`) plus how soon it wakes. For each timer it reads ``fired_at - due_at`` from the
timers table (``fired_at`` is the firing command's instant) and prints ``timers``, ``fired``, how many the
scheduler process fired, ``median_ms`` and ``max_ms`` — a measurement, never asserted by the tests.

SQLite runs on a file in a temporary directory; ``--db`` names a PostgreSQL server instead, on which the
benchmark works in a schema of its own and drops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text  # noqa: E402

from engine.app import Gridloop  # noqa: E402
from engine.demo.district import create_demo_district  # noqa: E402
from engine.store.db import make_engine  # noqa: E402
from engine.store.models import Timer  # noqa: E402
from engine.time import timers  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "timer_process"
WORKING_HOURS_TIMER = (
    '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">due_at(now_iso(), 2, "work_hours")</bpmn:timeDate>'
)
ONE_SECOND_TIMER = '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT1S"</bpmn:timeDuration>'
REPORT = {"category": "0101", "description": "路边有一堆暴露垃圾", "grid": "330199001001001"}
BACKSTOP_SECONDS = 3600
STARTUP_SECONDS = 60


def one_second_process(directory: Path) -> Path:
    """A copy of the timer test process in ``directory`` whose timer waits one second."""
    process = directory / "process"
    shutil.copytree(FIXTURE, process)
    bpmn = process / "processes" / "grid_event.bpmn"
    bpmn_text = bpmn.read_text(encoding="utf-8")
    if WORKING_HOURS_TIMER not in bpmn_text:
        raise SystemExit(f"{bpmn}: the timer this benchmark rewrites is not there any more")
    bpmn.write_text(bpmn_text.replace(WORKING_HOURS_TIMER, ONE_SECOND_TIMER), encoding="utf-8")
    return process


@contextmanager
def database(server: str | None, directory: Path) -> Iterator[str]:
    """A database URL for the run: a new SQLite file, or a new schema on the PostgreSQL ``server`` (dropped after)."""
    if server is None:
        yield f"sqlite:///{directory}/latency.sqlite3"
        return
    if not server.startswith("postgresql"):
        raise SystemExit(f"--db {server}: give a PostgreSQL server URL (SQLite runs on a file of its own)")
    schema = f"bench_timers_{uuid.uuid4().hex[:12]}"
    admin = make_engine(server)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in server else "?"
        try:
            yield f"{server}{separator}options=-csearch_path%3D{schema}"
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@contextmanager
def scheduler_process(url: str) -> Iterator[str]:
    """Run ``gridloop scheduler`` on ``url`` in a process of its own; yield its name once it runs."""
    command = [
        sys.executable, "-m", "webui.cli", "--db", url, "scheduler", "--backstop", str(BACKSTOP_SECONDS),
    ]  # fmt: skip
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}  # the checkout this benchmark belongs to
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stdout or ():
            lines.put(line)
        lines.put("")  # it ended

    threading.Thread(target=read, daemon=True).start()
    try:
        try:
            first = lines.get(timeout=STARTUP_SECONDS)
        except queue.Empty:
            first = ""
        if not first.startswith("scheduler "):
            process.terminate()
            raise SystemExit(f"gridloop scheduler did not start: {first}{process.communicate()[1]}")
        yield first.split(" ")[1]
    finally:
        process.terminate()
        process.wait(timeout=30)


def pending(gl: Gridloop) -> bool:
    """Whether a timer is still to fire."""
    with gl.db.reading() as session:
        return timers.next_due(session) is not None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=10, help="how many timers to create (default 10)")
    parser.add_argument(
        "--spacing", type=float, default=0.3, help="seconds between two reports (default 0.3)"
    )
    parser.add_argument(
        "--db", metavar="URL", help="a PostgreSQL server (default: SQLite in a temporary directory)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database(args.db, Path(tmp)) as url:
        gl = Gridloop(url)
        try:
            gl.init_schema()
            with gl.db.unit_of_work() as session:
                create_demo_district(session, password=None)
            gl.deploy(one_second_process(Path(tmp)), activate=True)
            with scheduler_process(url) as scheduler_name:
                for _ in range(args.timers):
                    gl.report("gw_hb1", REPORT)
                    time.sleep(args.spacing)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and pending(gl):
                    time.sleep(0.05)
            with gl.db.reading() as session:
                rows = list(session.scalars(select(Timer)))
        finally:
            gl.db.dispose()
    late = [(t.fired_at - t.due_at).total_seconds() * 1000 for t in rows if t.fired_at is not None]
    result = {
        "backend": "postgresql" if args.db else "sqlite",
        "timers": len(rows),
        "fired": len(late),
        "fired_by_scheduler_process": sum(1 for t in rows if t.fired_by == scheduler_name),
        "max_ms": round(max(late), 1) if late else None,
        "median_ms": round(statistics.median(late), 1) if late else None,
    }
    print(json.dumps(result) if args.json else "\n".join(f"{k:>26}: {v}" for k, v in result.items()))
    return 0 if len(late) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
