"""Scale benchmark: the staff pages and API lists at several history sizes, each against the smallest.

Each database is one that ``bench/generate.py`` filled (``--db SIZE=URL``, given smallest first; an empty one
is filled with SIZE cases first — 10k, 100k, 1M or a number), or with ``--events N,N,…`` new temporary SQLite
files it fills first. For each, the web app is started on it (a Flask
test client: routing, the reads, the templates, the JSON — no network) and two staff sign in, a grid worker and
the district's dispatcher; then every call below is made ``--repeat`` times after a warm-up:

- the inbox's three tabs (mine, claimable, done) for both, as page and as API list;
- the events list; an event's page; its audit page (the history replayed and checked);
- event search by an exact code, by a code's beginning (a month's codes), by category and year, and by words in
  the description (two Chinese characters of an event's description), as page and as API list.

The searched values are read from each database (the middle event's code, month, category, year and words), so
the same kind of call is timed on each; each search is wide enough to fill a page even on the smallest database,
and the API lists are asked for the pages' 20 rows, so that every call returns as much on each database and the
ratio is that of the history's size alone (a day's codes fill 14 rows at 10k and 20 at 1M: that was the result's
size growing, not the history). Prints per call and size ``p50_ms`` and ``p95_ms``, and ``ratio``: the
p50 over the same call's p50 on the first (smallest) database, measured in the same run; and per size the
storage the cases take (``bytes_per_event``: the events, inbox, history, sheet and timer tables with their
indexes, over the events).

    python bench/scale_bench.py --db 10k=postgresql+psycopg://…/s10k --db 100k=…/s100k --db 1M=…/s1m
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, inspect, select  # noqa: E402

from bench.generate import generate  # noqa: E402
from engine.store.db import Database, migrate  # noqa: E402
from engine.store.models import Event  # noqa: E402
from engine.store.search import terms  # noqa: E402
from webui import create_app  # noqa: E402

PASSWORD = "scale-bench-1"
UNITS = {"k": 1_000, "m": 1_000_000}
STAFF = {"grid_worker": "gw_hb1", "dispatcher": "dispatcher"}
PER_PAGE = 20  # the rows a staff page shows; the API lists are asked for as many


def percentile(times: list[float], share: float) -> float:
    """The ``share`` percentile of ``times`` (nearest rank)."""
    ordered = sorted(times)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _searched(app: Any) -> dict[str, str]:
    """The values searched on this database: those of its middle event."""
    with app.extensions["gridloop"].db.reading() as session:
        total = session.scalar(select(func.count()).select_from(Event)) or 0
        middle = session.scalar(select(Event).order_by(Event.id).offset(total // 2).limit(1))
        assert middle is not None, "the database holds no events"
        words = next(t for t in (terms(middle.description) or "").split() if len(t) == 2)
        day = middle.reported_at.astimezone(app.extensions["gridloop"].calendar.timezone).date()
        return {
            "events": str(total),
            "id": str(middle.id),
            "code": str(middle.code),
            "month": str(middle.code)[:7],
            "category": middle.category,
            "from": (day - timedelta(days=364)).isoformat(),  # a year up to the day
            "to": day.isoformat(),
            "words": words,
        }


HISTORY_TABLES = ("events", "tasks", "history", "supervision_sheets", "timers")


def storage(app: Any) -> dict[str, Any]:
    """The bytes the cases' tables take on disk with their indexes (and, on PostgreSQL, their TOAST; on SQLite
    the description search's FTS5 tables, counted with the events), and per event."""
    db = app.extensions["gridloop"].db
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            sizes = {
                t: conn.exec_driver_sql(f"SELECT pg_total_relation_size('{t}')").scalar() or 0
                for t in HISTORY_TABLES
            }
        else:
            rows = conn.exec_driver_sql(
                "SELECT m.tbl_name, sum(d.pgsize) FROM dbstat AS d JOIN sqlite_master AS m ON m.name = d.name "
                "GROUP BY m.tbl_name"
            ).all()
            sizes = dict.fromkeys(HISTORY_TABLES, 0)
            for table, size in rows:
                owner = "events" if table.startswith("event_search") else table
                if owner in sizes:
                    sizes[owner] += size or 0
        events = conn.scalar(select(func.count()).select_from(Event)) or 1
    return {"bytes": sizes, "bytes_per_event": round(sum(sizes.values()) / events)}


def _calls(app: Any) -> tuple[dict[str, Callable[[], Any]], dict[str, str]]:
    gl = app.extensions["gridloop"]
    for username in STAFF.values():
        gl.set_password("admin", username, PASSWORD)
    searched = _searched(app)
    pages, tokens = {}, {}
    for who, username in STAFF.items():
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf})
        assert signed.status_code == 303, f"{username} could not sign in"
        pages[who] = client
        answer = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
        tokens[who] = {"Authorization": f"Bearer {answer.get_json()['token']}"}

    def page(who: str, path: str) -> Callable[[], Any]:
        return lambda: _ok(pages[who].get(path), path)

    def api(who: str, path: str) -> Callable[[], Any]:
        asked = f"/api/v1{path}{'&' if '?' in path else '?'}per_page={PER_PAGE}"
        return lambda: _ok(pages[who].get(asked, headers=tokens[who]), asked)

    calls: dict[str, Callable[[], Any]] = {}
    for who in STAFF:
        for view in ("mine", "claimable", "done"):
            calls[f"inbox {view} ({who})"] = page(who, f"/inbox?view={view}")
            calls[f"api tasks {view} ({who})"] = api(who, f"/tasks?view={view}")
    s = searched
    searches = {
        "exact code": f"code={s['code']}",
        "code prefix": f"code={s['month']}",
        "category + year": f"category={s['category']}&from={s['from']}&to={s['to']}",
        "description words": f"text={s['words']}",
    }
    calls["events list"] = page("dispatcher", "/events")
    calls["api events list"] = api("dispatcher", "/events")
    for name, query in searches.items():
        calls[f"events by {name}"] = page("dispatcher", f"/events?{query}")
        calls[f"api events by {name}"] = api("dispatcher", f"/events?{query}")
    calls["event page"] = page("dispatcher", f"/events/{s['id']}")
    calls["audit page"] = page("dispatcher", f"/audit/events/{s['id']}")
    return calls, searched


def _ok(response: Any, path: str) -> Any:
    assert response.status_code == 200, f"{path}: {response.status_code}"
    return response


def timed(call: Callable[[], Any], repeat: int) -> list[float]:
    """Milliseconds of ``repeat`` calls, after one warm-up."""
    call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def bench(databases: list[tuple[str, str]], repeat: int) -> dict[str, Any]:
    """Time every call on each database; the ratios are to the first."""
    report: dict[str, Any] = {"sizes": {}, "calls": {}}
    for size, url in databases:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "scale-bench", "TESTING": True})
        try:
            calls, searched = _calls(app)
            report["sizes"][size] = searched | {"storage": storage(app)}
            for name, call in calls.items():
                times = timed(call, repeat)
                report["calls"].setdefault(name, {})[size] = {
                    "p50_ms": round(statistics.median(times), 2),
                    "p95_ms": round(percentile(times, 0.95), 2),
                }
        finally:
            app.extensions["gridloop"].db.dispose()
    first = databases[0][0]
    for by_size in report["calls"].values():
        for figures in by_size.values():
            base = by_size[first]["p50_ms"]
            figures["ratio"] = round(figures["p50_ms"] / base, 2) if base else None
    return report


def _print(report: dict[str, Any]) -> None:
    sizes = list(report["sizes"])
    print("events: " + ", ".join(f"{size} = {report['sizes'][size]['events']}" for size in sizes))
    print(
        "bytes per event (cases' tables with indexes): "
        + ", ".join(f"{size} = {report['sizes'][size]['storage']['bytes_per_event']:,}" for size in sizes)
    )
    header = f"{'call':44}" + "".join(f"{size + ' p50/p95 (ratio)':>30}" for size in sizes)
    print(header)
    for name, by_size in report["calls"].items():
        cells = ""
        for size in sizes:
            f = by_size[size]
            cell = "{:.1f}/{:.1f} ms ({:.2f})".format(f["p50_ms"], f["p95_ms"], f["ratio"] or 0)
            cells += f"{cell:>30}"
        print(f"{name:44}{cells}")


def size_of(size: str) -> int:
    """The number of cases a size names: 10000, 10k, 1M."""
    unit = UNITS.get(size[-1:].lower(), 1)
    return int(size[:-1] if unit > 1 else size) * unit


def prepare(url: str, size: str, grids: int) -> None:
    """Fill the database at ``url`` with ``size`` cases when it holds no gridloop schema yet; otherwise bring
    its schema up to date (a database generated by an earlier version, as a district's upgrade would)."""
    db = Database(url)
    try:
        empty = not inspect(db.engine).has_table("events")
        if not empty:
            migrate(db.engine)
    finally:
        db.dispose()
    if empty:
        generate(url, size_of(size), grids=grids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", default=[], help="SIZE=URL of a generated database")
    parser.add_argument("--events", help="sizes to generate into temporary SQLite files, e.g. 300,3000")
    parser.add_argument("--grids", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    databases = [tuple(item.split("=", 1)) for item in args.db]
    with tempfile.TemporaryDirectory() as folder:
        for n in [int(n) for n in args.events.split(",")] if args.events else []:
            url = f"sqlite:///{folder}/scale_{n}.db"
            generate(url, n, templates=min(300, max(40, n // 10)), grids=args.grids)
            databases.append((str(n), url))
        if not databases:
            parser.error("give --db SIZE=URL (one or more) or --events N,N")
        for size, url in databases:
            prepare(url, size, args.grids)
        report = bench([(str(size), str(url)) for size, url in databases], args.repeat)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
