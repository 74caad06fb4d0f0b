"""Timer latency: how long after its due time a BPMN timer fires in a running scheduler (wall clock).

Deploys a copy of the timer test process whose timer waits one second, starts a real TimerScheduler, reports N
events one after another and reads, for each timer, ``fired_at - due_at`` from the timers table. Prints
``timers``, ``max_ms``, ``median_ms`` (a measurement, never asserted by the tests).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from engine.app import Gridloop  # noqa: E402
from engine.demo.district import create_demo_district  # noqa: E402
from engine.store.models import Timer  # noqa: E402
from engine.time.scheduler import TimerScheduler  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "timer_process"
WORKING_HOURS_TIMER = (
    '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">due_at(now_iso(), 2, "work_hours")</bpmn:timeDate>'
)
ONE_SECOND_TIMER = '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT1S"</bpmn:timeDuration>'
REPORT = {"category": "0101", "description": "路边有一堆暴露垃圾", "grid": "330199001001001"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        process = Path(tmp) / "process"
        shutil.copytree(FIXTURE, process)
        bpmn = process / "processes" / "grid_event.bpmn"
        text = bpmn.read_text(encoding="utf-8")
        if WORKING_HOURS_TIMER not in text:
            raise SystemExit(f"{bpmn}: the timer this benchmark rewrites is not there any more")
        bpmn.write_text(text.replace(WORKING_HOURS_TIMER, ONE_SECOND_TIMER), encoding="utf-8")
        gl = Gridloop(f"sqlite:///{tmp}/latency.sqlite3")
        gl.init_schema()
        with gl.db.unit_of_work() as session:
            create_demo_district(session, password=None)
        gl.deploy(process)
        scheduler = TimerScheduler(gl, name="latency")
        scheduler.start()
        try:
            for _ in range(args.timers):
                gl.report("gw_hb1", REPORT)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and gl.next_timer_due() is not None:
                    time.sleep(0.05)
        finally:
            scheduler.shutdown()
        with gl.db.reading() as session:
            rows = list(session.scalars(select(Timer)))
        gl.db.dispose()
    late = [(t.fired_at - t.due_at).total_seconds() * 1000 for t in rows if t.fired_at is not None]
    result = {
        "timers": len(rows),
        "fired": len(late),
        "max_ms": round(max(late), 1) if late else None,
        "median_ms": round(statistics.median(late), 1) if late else None,
    }
    print(json.dumps(result) if args.json else "\n".join(f"{k:>10}: {v}" for k, v in result.items()))
    return 0 if len(late) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
