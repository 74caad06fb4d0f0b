"""Evaluation benchmark: a month's and a year's evaluation at scale, against counting the period's events.

Times :func:`engine.evaluation.metrics.evaluate` for one month and for the twelve months up to it, grouped by
district, by department and by grid, and measures the peak of Python memory each takes (tracemalloc, in a run
of its own), against a plain ``SELECT count(*)`` of the events opened in the same period measured in the same
run: ``ratio`` is the evaluation's median time over the count's. The database is one that
``bench/generate.py`` filled (``--db``), or, with ``--events``, a new one it fills first (a temporary SQLite
file unless ``--db`` names an empty database).

    python bench/generate.py --events 1000000 --db postgresql+psycopg://postgres@127.0.0.1:5432/big
    python bench/evaluation_bench.py --db postgresql+psycopg://postgres@127.0.0.1:5432/big

Prints, per period and grouping, ``median_ms``, ``peak_kib`` and ``ratio``, and the count's ``median_ms``; and the
dashboard's twelve-month trend as one statement against twelve monthly evaluations (``trend.ratio``: the one
statement's median time over the twelve's, measured in the same run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, inspect, select  # noqa: E402

from bench.generate import generate  # noqa: E402
from engine.evaluation import metrics  # noqa: E402
from engine.store.db import Database  # noqa: E402
from engine.store.models import Event  # noqa: E402

ZONE = ZoneInfo("Asia/Shanghai")
GROUPINGS = ("district", "department", "grid")


def month(period: str) -> tuple[datetime, datetime]:
    year, number = (int(part) for part in period.split("-"))
    start = datetime(year, number, 1, tzinfo=ZONE)
    return start, (start + timedelta(days=32)).replace(day=1)


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The median milliseconds of ``repeat`` calls (after one warm-up), and the last call's result."""
    result = call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def peak_kib(call: Callable[[], Any]) -> float:
    """The peak of Python memory allocated while ``call`` runs, in KiB."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        call()
        return tracemalloc.get_traced_memory()[1] / 1024
    finally:
        tracemalloc.stop()


def bench(url: str, period: str, repeat: int) -> dict[str, Any]:
    db = Database(url)
    month_start, month_end = month(period)
    year_start = month(f"{month_start.year - 1}-{month_start.month:02d}")[1]
    periods = {"month": (month_start, month_end), "year": (year_start, month_end)}
    report: dict[str, Any] = {"period": period}
    with db.reading() as session:
        report["events"] = session.scalar(select(func.count()).select_from(Event))
        for name, (start, end) in periods.items():

            def count(start: datetime = start, end: datetime = end) -> int:
                return session.scalar(
                    select(func.count()).where(Event.opened_at >= start, Event.opened_at < end)
                )

            count_ms, opened = timed(count, repeat)
            figures: dict[str, Any] = {"opened_events": opened, "count_median_ms": round(count_ms, 3)}
            for by in GROUPINGS:

                def evaluation(by: str = by, start: datetime = start, end: datetime = end) -> Any:
                    return metrics.evaluate(session, start, end, by, now=end)

                median_ms, rows = timed(evaluation, repeat)
                figures[by] = {
                    "median_ms": round(median_ms, 3),
                    "peak_kib": round(peak_kib(evaluation), 1),
                    "ratio": round(median_ms / count_ms, 2) if count_ms else None,
                    "groups": len(rows),
                    "opened": sum(r["opened"] for r in rows),
                }
            report[name] = figures
        # the dashboard's trend: the twelve months up to the period, as one statement of conditional counts
        # (metrics.trend) against twelve evaluations of a month each (how the dashboard drew it before)
        months = []
        start = month_start
        for _ in range(12):
            months.insert(0, (start, (start + timedelta(days=32)).replace(day=1)))
            start = (start - timedelta(days=1)).replace(day=1)

        def one_statement() -> Any:
            return metrics.trend(session, months, now=month_end)

        def month_by_month() -> Any:
            return [metrics.evaluate(session, a, b, "district", now=month_end) for a, b in months]

        trend_ms, trend = timed(one_statement, repeat)
        separate_ms, separate = timed(month_by_month, repeat)
        assert [r["opened"] for r in trend] == [sum(g["opened"] for g in rows) for rows in separate]
        report["trend"] = {
            "one_statement_median_ms": round(trend_ms, 2),
            "month_by_month_median_ms": round(separate_ms, 2),
            "ratio": round(trend_ms / separate_ms, 3) if separate_ms else None,
            "peak_kib": round(peak_kib(one_statement), 1),
        }
    db.dispose()
    return report


def _has_events(url: str) -> bool:
    """Whether the database at ``url`` holds gridloop's events already (then it is not generated again)."""
    db = Database(url)
    try:
        return inspect(db.engine).has_table("events")
    finally:
        db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a database bench/generate.py filled (or an empty one, with --events)")
    parser.add_argument(
        "--events", type=int, help="generate this many archived cases first (unless the database has them)"
    )
    parser.add_argument("--templates", type=int, default=300)
    parser.add_argument("--period", default="2026-10", help="the month evaluated (YYYY-MM)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'evaluation.sqlite3'}"
        generated = None
        if args.events and not _has_events(url):
            generated = generate(url, args.events, templates=args.templates, grids=1000)
        report = bench(url, args.period, args.repeat)
    if generated is not None:
        report["generate_seconds"] = generated["seconds"]
    print(json.dumps(report) if args.json else json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
