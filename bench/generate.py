"""Bulk generator: fill a database with many archived cases, for the benchmarks that need years of history.

A few hundred cases are first driven through the whole loop by the simulator (:mod:`engine.demo.simulate`: every
path in its realistic shares — rejected, handled on the spot, reassigned, reworked, extended, held, voided,
reported up, joint meetings, dissatisfied and reopened), each a real command through the pipeline. Those
finished cases are the templates: each generated case is a copy of one of them, moved to another grid of the
same town and to another week of the last ``--years`` years (whole weeks, so that working hours and the lights
they gave stay right; the copies in time order, as cases arrive), written in bulk — PostgreSQL's COPY, SQLite's executemany — ten thousand cases at a
time: the case, its inbox rows, its supervision sheets and its history, the history re-chained under the run's
audit key for its new event and task ids.

``--grids`` scales the demo district's twelve grids up (new communities of ten grids each in its two towns,
coded by the standard: community 3 digits, grid 3 digits). A copy's texts — its records' data, its sheets'
reasons, its finished instance's state — have their days moved with it and name its own sheet and inbox rows, and
its timer rows are copied too, so every generated case passes `gridloop audit verify` (replay included).

    python bench/generate.py --events 1000000 --db postgresql://postgres@127.0.0.1:5432/big

Prints ``events`` (all: the simulated ones and the copies), ``simulated``, ``templates`` (the simulated cases that
finished), ``grids``, ``seconds`` and the rows written per table (``--json``: as JSON).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Table, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import Connection  # noqa: E402

from engine.app import Gridloop  # noqa: E402
from engine.audit import history  # noqa: E402
from engine.audit.keys import audit_keys  # noqa: E402
from engine.demo.district import COMMUNITIES, TOWNS, create_demo_district  # noqa: E402
from engine.demo.simulate import simulate  # noqa: E402
from engine.org import tree  # noqa: E402
from engine.store.models import Event, HistoryEntry, OrgUnit, SupervisionSheet, Task, Timer  # noqa: E402
from engine.time.clock import ManualClock  # noqa: E402

BATCH = 10_000
WEEK = timedelta(days=7)
# the simulated month the templates come from (a Monday morning, Shanghai)
TEMPLATE_START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
EVENTS, TASKS, SHEETS, TIMERS, HISTORY = (
    Event.__table__,
    Task.__table__,
    SupervisionSheet.__table__,
    Timer.__table__,
    HistoryEntry.__table__,
)
TABLES = (EVENTS, TASKS, SHEETS, TIMERS, HISTORY)  # parents before children
TIMES = {
    EVENTS: (
        "reported_at",
        "updated_at",
        "opened_at",
        "due_at",
        "handling_started_at",
        "handled_at",
        "closed_at",
    ),
    TASKS: ("due_at", "created_at", "claimed_at", "completed_at", "follow_up_at"),
    SHEETS: ("issued_at", "due_reference", "escalated_at", "replied_at", "cleared_at"),
    TIMERS: ("due_at", "created_at", "fired_at"),
    HISTORY: ("at",),
}
# in the texts a case keeps (its records' data, its sheets' reasons, its workflow state): a day — of an ISO time,
# of a time as a reason prints it (2026-09-27 20:28), or alone — and the sheet or task a record names
_DAY = re.compile(r'(\d{4}-\d{2}-\d{2})(?=[T "])')
_ID = re.compile(r'"(sheet|task)":(\d+)')


@dataclass
class Template:
    """One finished case as the simulator left it: its row and its inbox, sheet and history rows."""

    event: dict[str, Any]
    town: str
    tasks: list[dict[str, Any]] = field(default_factory=list)
    sheets: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


def build_templates(gl: Gridloop, count: int, seed: int) -> list[Template]:
    """Drive ``count`` cases through the loop and keep the finished ones as templates."""
    # dated in the weeks before the templates' clock, with supervision scanning as the scheduler would (so the
    # late cases carry their sheets and cards); the few left under way are not templates
    simulate(gl, count, seed=seed, past=timedelta(days=count // 10 + 7), left_open=max(1, count // 20))
    with gl.db.engine.connect() as conn:
        units = {row.code: row.parent_code for row in conn.execute(select(OrgUnit.code, OrgUnit.parent_code))}
        found = {
            row["id"]: Template(dict(row), town=units[units[row["grid_code"]]])
            for row in conn.execute(select(EVENTS).where(EVENTS.c.completed.is_(True))).mappings()
        }
        for table, into in ((TASKS, "tasks"), (SHEETS, "sheets"), (TIMERS, "timers"), (HISTORY, "records")):
            for row in conn.execute(select(table).order_by(table.c.id)).mappings():
                if row["event_id"] in found:
                    getattr(found[row["event_id"]], into).append(dict(row))
    if not found:
        raise SystemExit(f"none of the {count} simulated cases finished: simulate more templates")
    return [t for _, t in sorted(found.items())]


def add_grids(gl: Gridloop, grids: int) -> dict[str, list[str]]:
    """Scale the district to ``grids`` grids (new communities of ten grids in each town, codes in the standard's
    order); return each town's grid codes."""
    with gl.db.unit_of_work() as session:
        have = {u.code: u for u in session.scalars(select(OrgUnit))}
        towns = [code for code, _name, _prefix in TOWNS]
        existing = sum(1 for u in have.values() if u.level == "grid")
        community_number = {town: 1 + sum(1 for c in COMMUNITIES if c[2] == town) for town in towns}
        turn = 0
        while existing < grids:
            town = towns[turn % len(towns)]
            turn += 1
            number = community_number[town]
            community_number[town] += 1
            code = f"{town}{number:03d}"
            tree.add_unit(session, code, f"{have[town].name}第{number}社区", "community", town)
            for n in range(1, 11):
                if existing >= grids:
                    break
                tree.add_unit(session, f"{code}{n:03d}", f"第{number}社区第{n}网格", "grid", code)
                existing += 1
        session.flush()
        by_town: dict[str, list[str]] = {town: [] for town in towns}
        for unit in session.scalars(select(OrgUnit).where(OrgUnit.level == "grid").order_by(OrgUnit.code)):
            by_town[unit.code[:9]].append(unit.code)
    return by_town


class Ids:
    """The next free id of each table (the generated rows take ids after every existing one)."""

    def __init__(self, conn: Connection) -> None:
        self.next = {table.name: (conn.scalar(select(func.max(table.c.id))) or 0) + 1 for table in TABLES}

    def take(self, table: Table) -> int:
        value = self.next[table.name]
        self.next[table.name] = value + 1
        return value


def copies(
    templates: list[Template],
    grids: dict[str, list[str]],
    events: int,
    years: int,
    ids: Ids,
    rng: random.Random,
) -> Iterator[dict[Table, list[dict[str, Any]]]]:
    """The generated rows, a batch of :data:`BATCH` cases at a time, by table."""
    keys = audit_keys()
    key_id = keys.signing_id
    secret = keys.secret(key_id)
    assert secret is not None
    weeks = max(1, years * 52)
    # the weeks back of each copy, oldest first: the cases arrive in time order, as a district's do (a month's
    # cases lie together in the tables, ids rising with time)
    weeks_back = sorted((rng.randrange(weeks) for _ in range(events)), reverse=True)
    batch: dict[Table, list[dict[str, Any]]] = {table: [] for table in TABLES}
    # a template's texts with their days moved, for the week being copied to (the copies come week by week)
    moved_texts: dict[int, str] = {}
    for n in range(events):
        template = templates[rng.randrange(len(templates))]
        shift = -WEEK * weeks_back[n]
        if n and weeks_back[n] != weeks_back[n - 1]:
            moved_texts.clear()
        event_id = ids.take(EVENTS)
        event = _moved(EVENTS, template.event, shift)
        event["id"] = event_id
        event["grid_code"] = rng.choice(grids[template.town])
        # the copy's grid and community in place of the template's, wherever the case names them
        moves = tuple(
            (old, new)
            for old, new in (
                (template.event["grid_code"], event["grid_code"]),
                (template.event["grid_code"][:12], event["grid_code"][:12]),
            )
            if old != new
        )
        renamed = Renamed(shift, moved_texts)
        if event["workflow_state"] is not None:
            event["workflow_state"] = _relocate(renamed.days(event["workflow_state"]), moves)
        if event["code"] is not None:
            event["code"] = f"E{event['reported_at'] + timedelta(hours=8):%Y%m%d}{event_id:07d}"
        for task in template.tasks:
            row = _moved(TASKS, task, shift)
            row["id"] = renamed.ids["task"][str(task["id"])] = ids.take(TASKS)
            row["event_id"] = event_id
            row["scope_code"] = dict(moves).get(row["scope_code"], row["scope_code"])
            batch[TASKS].append(row)
        for sheet in template.sheets:
            row = _moved(SHEETS, sheet, shift)
            row["id"], row["event_id"] = ids.take(SHEETS), event_id
            renamed.ids["sheet"][str(sheet["id"])] = row["id"]
            if sheet["task_id"] is not None:
                row["task_id"] = renamed.ids["task"].get(str(sheet["task_id"]))
            row["reason"] = renamed(row["reason"])
            batch[SHEETS].append(row)
        for timer in template.timers:
            row = _moved(TIMERS, timer, shift)
            row["id"], row["event_id"] = ids.take(TIMERS), event_id
            batch[TIMERS].append(row)
        head = None
        for record in template.records:
            row = _moved(HISTORY, record, shift)
            row["id"], row["event_id"], row["prev_hash"], row["key_id"] = (
                ids.take(HISTORY),
                event_id,
                head,
                key_id,
            )
            if row["task_id"] is not None:
                row["task_id"] = renamed.ids["task"].get(str(row["task_id"]), row["task_id"])
            row["data"] = data_text = Relocated(_relocate(renamed(_json_text(row["data"])), moves))
            row["hash"] = head = history.record_hash(
                event_id,
                row["seq"],
                row["at"],
                row["actor"],
                row["action"],
                row["process_version_id"],
                row["bpmn_id"],
                row["task_id"],
                {},  # (the data's canonical text is given)
                head,
                data_text,
                key=secret,
            )
            batch[HISTORY].append(row)
        event["history_head"] = head
        batch[EVENTS].append(event)
        if len(batch[EVENTS]) == BATCH or n == events - 1:
            yield batch
            batch = {table: [] for table in TABLES}


class Renamed:
    """A copy's texts as its template's, with every day moved by the copy's shift (whole weeks: the time of day,
    the weekday and the offset stay) and the sheets and tasks its records name by the copy's ids."""

    _days: dict[tuple[str, int], str] = {}  # (day, shift in days) → the moved day, for the whole run

    def __init__(self, shift: timedelta, moved: dict[int, str]) -> None:
        self.shift = shift.days
        self.ids: dict[str, dict[str, int]] = {"sheet": {}, "task": {}}
        self.moved = moved  # the texts with their days moved by this shift, by the text's identity

    def _day(self, found: re.Match[str]) -> str:
        key = (found.group(1), self.shift)
        moved = self._days.get(key)
        if moved is None:
            moved = self._days[key] = (
                (datetime.fromisoformat(key[0]) + timedelta(days=self.shift)).date().isoformat()
            )
        return moved

    def _id(self, found: re.Match[str]) -> str:
        kind, number = found.group(1), found.group(2)
        return f'"{kind}":{self.ids[kind].get(number, number)}'

    def __call__(self, text: str | None) -> Any:
        """The days moved and the sheets and inbox rows named by the copy's ids."""
        if text is None:
            return None
        moved = self.days(text)
        return _ID.sub(self._id, moved) if '":' in moved else moved

    def days(self, text: str | None) -> Any:
        """Only the days moved (a workflow state's data names no sheet or inbox row): once per text and shift,
        as every copy of a template in the same week shares them."""
        if text is None:
            return None
        moved = self.moved.get(id(text))
        if moved is None:
            moved = self.moved[id(text)] = _DAY.sub(self._day, text)
        return moved


class Relocated(str):
    """A record's data as canonical JSON text, rewritten for the copy's grid (written as it is)."""


def _relocate(text: str, moves: tuple[tuple[str, str], ...]) -> str:
    for old, new in moves:
        text = text.replace(old, new)
    return text


# the canonical JSON text of the templates' JSON values, by the value's identity: every copy of a template shares
# its template's values (a row is copied shallowly), so each is encoded once for the whole run
_JSON_TEXT: dict[int, str] = {}


def _json_text(value: Any) -> str:
    found = _JSON_TEXT.get(id(value))
    if found is None:
        found = _JSON_TEXT[id(value)] = history.canonical(value)
    return found


def _moved(table: Table, row: dict[str, Any], shift: timedelta) -> dict[str, Any]:
    moved = dict(row)
    for column in TIMES[table]:
        if moved.get(column) is not None:
            moved[column] = moved[column] + shift
    return moved


def write(conn: Connection, batch: dict[Table, list[dict[str, Any]]]) -> None:
    """One batch into the database: COPY on PostgreSQL, executemany elsewhere (parents before children)."""
    for table in TABLES:
        rows = batch[table]
        if not rows:
            continue
        if conn.dialect.name != "postgresql":
            conn.execute(
                insert(table),
                [
                    {k: json.loads(v) if isinstance(v, Relocated) else v for k, v in row.items()}
                    for row in rows
                ],
            )
            continue
        columns = [c.name for c in table.columns]
        json_columns = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [
                        _json_text(row[c])
                        if c in json_columns and row[c] is not None and not isinstance(row[c], Relocated)
                        else row[c]
                        for c in columns
                    ]
                )


@contextmanager
def _bulk_load(gl: Gridloop) -> Iterator[None]:
    """On PostgreSQL, the big tables' secondary indexes and foreign keys are set aside while the copies are
    written, and made again once they are in: an index built over all the rows at once (and a key checked in one
    pass) costs a fraction of keeping it row by row. Their definitions are the database's own (``pg_indexes``,
    ``pg_get_constraintdef``), so they come back as they were; the primary keys and unique constraints stay.
    A run killed in the copying leaves the tables without them: start again on an empty database."""
    if gl.db.engine.dialect.name != "postgresql":
        yield
        return
    names = [table.name for table in TABLES]
    with gl.db.engine.begin() as conn:
        indexes = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = current_schema() "
                "AND tablename = ANY(:tables) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
            ),
            {"tables": names},
        ).all()
        keys = conn.execute(
            text(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = 'f' AND conrelid::regclass::text = ANY(:tables)"
            ),
            {"tables": names},
        ).all()
        for table, name, _definition in keys:
            conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
        for name, _definition in indexes:
            conn.execute(text(f"DROP INDEX {name}"))
    try:
        yield
    finally:
        started = time.perf_counter()
        with gl.db.engine.begin() as conn:
            conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
            for _name, definition in indexes:
                conn.execute(text(definition))
            for table, name, definition in keys:
                conn.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"))
        print(
            f"{len(indexes)} indexes and {len(keys)} foreign keys made again in "
            f"{time.perf_counter() - started:,.0f} s",
            file=sys.stderr,
        )


def _advance_sequences(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        for table in TABLES:
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), (SELECT max(id) FROM {table.name}))"
                )
            )


def _vacuum(gl: Gridloop) -> None:
    """Leave the tables as a database that has been running is left by its autovacuum: the visibility map set
    and the hint bits written (the first reads after a bulk load would otherwise write them), the statistics
    current."""
    if gl.db.engine.dialect.name != "postgresql":
        return
    with gl.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in TABLES:
            conn.execute(text(f"VACUUM (ANALYZE) {table.name}"))


def _progress(done: int, total: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    rate = done / elapsed if elapsed else 0
    left = (total - done) / rate if rate else 0
    width = 30
    bar = "#" * (width * done // max(total, 1))
    print(
        f"\r[{bar:<{width}}] {done:>9,}/{total:,} cases  {rate:,.0f}/s  {left:,.0f} s left",
        end="",
        file=sys.stderr,
        flush=True,
    )


def generate(
    url: str, events: int, templates: int = 300, grids: int = 1000, years: int = 2, seed: int = 1
) -> dict[str, Any]:
    """Fill the empty database at ``url`` with the demo district scaled to ``grids`` grids and ``events``
    archived cases; return what was written."""
    started = time.perf_counter()
    gl = Gridloop(url, clock=ManualClock(TEMPLATE_START))
    gl.init_schema()
    with gl.db.unit_of_work() as session:
        create_demo_district(session, password=None)
    gl.deploy(ROOT, activate=True)
    found = build_templates(gl, templates, seed)
    by_town = add_grids(gl, grids)
    rng = random.Random(seed)
    written = {table.name: 0 for table in TABLES}
    copying = time.perf_counter()
    with gl.db.engine.begin() as conn:
        ids = Ids(conn)
        simulated = conn.scalar(select(func.count()).select_from(EVENTS))
    done = 0

    def store(batch: dict[Table, list[dict[str, Any]]]) -> dict[Table, list[dict[str, Any]]]:
        with gl.db.engine.begin() as conn:
            write(conn, batch)
        return batch

    def stored(batch: dict[Table, list[dict[str, Any]]]) -> None:
        nonlocal done
        for table, rows in batch.items():
            written[table.name] += len(rows)
        done += len(batch[EVENTS])
        _progress(done, events, copying)

    # the next batch is made while the server takes this one in (most of a batch's time is the server's: its
    # indexes, its log), so the two sides work at once
    with _bulk_load(gl), ThreadPoolExecutor(max_workers=1) as writer:
        pending: Future[dict[Table, list[dict[str, Any]]]] | None = None
        for batch in copies(found, by_town, events, years, ids, rng):
            if pending is not None:
                stored(pending.result())
            pending = writer.submit(store, batch)
        if pending is not None:
            stored(pending.result())
        print(file=sys.stderr)
    with gl.db.engine.begin() as conn:
        _advance_sequences(conn)
        total = conn.scalar(select(func.count()).select_from(EVENTS))
    _vacuum(gl)
    gl.db.dispose()
    return {
        "events": total,
        "generated": events,
        "simulated": simulated,
        "templates": len(found),
        "grids": sum(len(g) for g in by_town.values()),
        "rows": written,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, required=True, help="archived cases to generate")
    parser.add_argument("--db", required=True, help="database URL (an empty database)")
    parser.add_argument("--templates", type=int, default=300, help="cases simulated as templates")
    parser.add_argument("--grids", type=int, default=1000)
    parser.add_argument("--years", type=int, default=2, help="the copies spread over this many years back")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = generate(args.db, args.events, args.templates, args.grids, args.years, args.seed)
    print(json.dumps(report) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
