"""Engine benchmark: gridloop's durable steps against raw SpiffWorkflow, measured in the same run.

The loop is the grid event's main path (report → 受理 → 派遣 → 处置 → 核查 → 结案 → 回访: six user tasks),
run three ways:

a. raw SpiffWorkflow in memory (the ceiling);
b. raw SpiffWorkflow, serialized and deserialized with its own serializer after every step;
c. gridloop: every step a full service call (scope, form validation, history, inbox) committed to a SQLite file,
   or to the empty database ``--db`` names (PostgreSQL, say).

A step is one user-task completion; starting the instances is included in each timing. The three run in
alternating rounds (a, b, c, a, b, c, …), so that a machine that speeds up or slows down during the run (a
shared virtual machine does) weighs on all three alike; each rate is its steps over its summed time. Prints
``raw_steps_per_s``, ``roundtrip_steps_per_s``, ``gridloop_steps_per_s`` and ``ratio_vs_raw`` (c / a), the
database's ``dialect``, ``statements_per_command``: the statements gridloop sends the database through SQLAlchemy
for a command (a report or a step), the transaction's begin and commit included, and on PostgreSQL
``round_trips_per_command``: every wait for the server's answer, as the protocol trace counts them — the hot
path's statements on the driver's own connection and the pool's ping too.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from psycopg import pq  # noqa: E402
from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment  # noqa: E402
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.spiff.serializer import DEFAULT_CONFIG  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import event  # noqa: E402

from engine.app import Gridloop  # noqa: E402
from engine.bpmn import runtime  # noqa: E402
from engine.bpmn.folders import load_bundle  # noqa: E402
from engine.demo.district import create_demo_district  # noqa: E402
from engine.org.tree import OrgDirectory  # noqa: E402
from engine.store.db import Database  # noqa: E402
from engine.time import clock as clockmod  # noqa: E402
from engine.time.calendar import BusinessCalendar  # noqa: E402
from engine.time.clock import ManualClock  # noqa: E402

START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
REPORT = {
    "category": "0101",
    "description": "路边有暴露垃圾一堆",
    "grid": "330199001001001",
    "channel": "grid",
}
ANSWERS = {
    "accept": {"decision": "accept"},
    "dispatch": {"dispatch_action": "assign", "department": "DH-HW"},
    "handle": {"action": "done", "result": "已清理"},
    "verify": {"passed": True, "rework_departments": []},
    "close": {"opinion": "同意"},
    "follow_up": {"satisfaction": "satisfied"},
}
USERS = {
    "accept": "intake",
    "dispatch": "dispatcher",
    "handle": "h_dh_hw",
    "verify": "gw_hb1",
    "close": "leader",
    "follow_up": "intake",
}
STEPS_PER_EVENT = len(ANSWERS)


def _raw_start(bundle: Any, engine: PythonScriptEngine) -> BpmnWorkflow:
    workflow = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=engine)
    # what gridloop's report gives every instance besides the form: the district's choice of stages (case_stages)
    data = dict(
        REPORT,
        self_handle=False,
        reporter="gw_hb1",
        separate_registration=False,
        platform_dispatches_checks=False,
    )
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(data)
    workflow.do_engine_steps()
    return workflow


def _raw_step(workflow: BpmnWorkflow) -> None:
    task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
    task.data.update(ANSWERS[task.task_spec.bpmn_id])
    task.run()
    workflow.do_engine_steps()


def _directory(db_url: str) -> OrgDirectory:
    db = Database(db_url)
    with db.reading() as session:
        return OrgDirectory.load(session)


def bench_raw(bundle: Any, engine: PythonScriptEngine, events: int) -> float:
    """(a) seconds for ``events`` events, in memory."""
    started = time.perf_counter()
    for _ in range(events):
        workflow = _raw_start(bundle, engine)
        for _ in range(STEPS_PER_EVENT):
            _raw_step(workflow)
        assert workflow.is_completed()
    return time.perf_counter() - started


def bench_roundtrip(bundle: Any, engine: PythonScriptEngine, events: int) -> float:
    """(b) seconds for ``events`` events with a full serialize + deserialize after every step."""
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(DEFAULT_CONFIG))
    started = time.perf_counter()
    for _ in range(events):
        stored = serializer.serialize_json(_raw_start(bundle, engine))
        for _ in range(STEPS_PER_EVENT):
            workflow = serializer.deserialize_json(stored)
            workflow.script_engine = engine
            _raw_step(workflow)
            stored = serializer.serialize_json(workflow)
    return time.perf_counter() - started


def bench_gridloop(gl: Gridloop, events: int) -> float:
    """(c) seconds for ``events`` events through gridloop's services, each step committed to the SQLite file."""
    started = time.perf_counter()
    for _ in range(events):
        (task_id,) = gl.report("gw_hb1", REPORT)["next"]
        for step in ANSWERS:
            result = gl.complete(USERS[step], task_id, ANSWERS[step])
            task_id = result["next"][0] if result["next"] else None
            gl.clock.advance(timedelta(minutes=5))
        assert task_id is None
    return time.perf_counter() - started


@contextmanager
def protocol_trace(engine: Any) -> Iterator[list[str]]:
    """The protocol trace (libpq's) of every connection the block checks out of ``engine``'s pool (PostgreSQL),
    as its lines once the block is over."""
    lines: list[str] = []
    with tempfile.TemporaryFile("w+") as trace:

        def traced(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.pgconn.trace(trace.fileno())
            dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

        def untraced(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.pgconn.untrace()

        engine.pool.dispose()  # every connection of the block is a new one, traced from its first checkout
        listeners = (("checkout", traced), ("checkin", untraced))
        for name, listener in listeners:
            event.listen(engine.pool, name, listener)
        try:
            yield lines
        finally:
            for name, listener in listeners:
                event.remove(engine.pool, name, listener)
        trace.seek(0)
        lines.extend(trace.read().splitlines())


def round_trips(trace: list[str]) -> int:
    """The round trips in a protocol trace: every answer the server gave before the client went on (its
    ``ReadyForQuery`` messages)."""
    return sum(1 for line in trace if line.startswith("B\t") and "\tReadyForQuery" in line)


def round_trips_per_command(gl: Gridloop, events: int) -> float | None:
    """The round trips to a PostgreSQL server per command (the report and each step) of ``events`` events' main
    path — every answer the server gives before the client goes on, whatever sent it: the pool's ping at
    checkout, the transaction's begin and commit, the ORM's statements and the hot path's own on the driver's
    connection. None on SQLite (in-process)."""
    if gl.db.engine.dialect.name != "postgresql":
        return None
    with protocol_trace(gl.db.engine) as trace:
        bench_gridloop(gl, events)
    return round(round_trips(trace) / (events * (STEPS_PER_EVENT + 1)), 1)


def statements_per_command(gl: Gridloop, events: int) -> float:
    """The statements sent to the database per command (the report and each step) of ``events`` events' main
    path, the begin and the commit of each command's transaction counted as one each."""
    sent = [0]

    def statement(*_: Any) -> None:
        sent[0] += 1

    engine = gl.db.engine
    listeners = (("before_cursor_execute", statement), ("begin", statement), ("commit", statement))
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        bench_gridloop(gl, events)
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
    return round(sent[0] / (events * (STEPS_PER_EVENT + 1)), 1)


class _Parts:
    """Time spent in named parts of a run, each part counted without the parts it calls (exclusive time)."""

    def __init__(self) -> None:
        self.spent: Counter[str] = Counter()
        self._stack: list[list[Any]] = []

    @contextmanager
    def part(self, label: str) -> Iterator[None]:
        self._stack.append([label, time.perf_counter(), 0.0])
        try:
            yield
        finally:
            label, started, inner = self._stack.pop()
            elapsed = time.perf_counter() - started
            self.spent[label] += elapsed - inner
            if self._stack:
                self._stack[-1][2] += elapsed

    def timed(self, label: str, func: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.part(label):
                return func(*args, **kwargs)

        return wrapper


def time_shares(gl: Gridloop, events: int) -> dict[str, float]:
    """Where (c)'s time goes, as shares of a run: SpiffWorkflow running the process; recording history
    (hash-chained records, data diffs, journaling the engine calls that make replays exact); the state dump;
    form validation; the store's statements; opening and committing the transaction; and the rest (scope,
    inbox and timer logic, event columns, caches). Measured by timing those functions in a run; history counts
    the statement that stores its records."""
    from engine.audit import history
    from engine.bpmn import forms, instances, runtime
    from engine.store import db
    from engine.store import statements as store

    parts = _Parts()
    store_functions = [
        "task_and_event", "event", "load_state_text", "open_tasks", "pending_timers", "insert_event",
        "save_event", "insert_task", "save_task", "insert_timer", "save_timer", "history_since",
        "has_open_sheets", "active_version_id",
    ]  # fmt: skip
    targets = [
        *((runtime, name, "spiffworkflow") for name in ("start", "complete", "fire_timers")),
        (history, "append", "history"),
        (history, "data_changes", "history"),
        (store, "insert_history", "history"),  # storing the record is part of recording history
        (instances, "dump_state", "state_dump"),
        (forms, "validate", "form_validation"),
        (forms, "apply_defaults", "form_validation"),
        *((store, name, "store_statements") for name in store_functions),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _label in targets]
    unit_of_work = db.Database.unit_of_work

    @contextmanager
    def timed_unit_of_work(self: Any) -> Iterator[Any]:
        manager = unit_of_work(self)
        with parts.part("transaction"):
            session = manager.__enter__()
        try:
            yield session
        except BaseException:
            with parts.part("transaction"):
                if not manager.__exit__(*sys.exc_info()):
                    raise
        else:
            with parts.part("transaction"):
                manager.__exit__(None, None, None)

    journal_call = runtime.Journal.call

    def timed_journal_call(self: Any, name: str, args: list[Any], compute: Any) -> Any:
        # journaling is history's; the engine function it journals (a deadline, a department) runs the process
        with parts.part("history"):
            return journal_call(self, name, args, parts.timed("spiffworkflow", compute))

    for owner, name, label in targets:
        setattr(owner, name, parts.timed(label, getattr(owner, name)))
    db.Database.unit_of_work = timed_unit_of_work
    runtime.Journal.call = timed_journal_call
    try:
        started = time.perf_counter()
        bench_gridloop(gl, events)
        total = time.perf_counter() - started
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
        db.Database.unit_of_work = unit_of_work
        runtime.Journal.call = journal_call
    shares = {label: round(spent / total, 3) for label, spent in sorted(parts.spent.items())}
    shares["other"] = round(1 - sum(parts.spent.values()) / total, 3)
    return shares


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="events per measurement (default 300)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternating rounds the events are split into (default 5)"
    )
    parser.add_argument(
        "--db", help="an empty database for gridloop's steps (default: a temporary SQLite file)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.sqlite3"
        gl = Gridloop(url, clock=ManualClock(START))
        gl.init_schema()
        with gl.db.unit_of_work() as session:
            create_demo_district(session, password=None)
        gl.deploy(ROOT, activate=True)
        bundle = load_bundle(ROOT, "grid_event")
        functions = runtime.script_functions(BusinessCalendar(), _directory(url))
        engine = PythonScriptEngine(environment=TaskDataEnvironment(functions))
        with clockmod.using(ManualClock(START)):
            bench_raw(bundle, engine, 20)
        bench_gridloop(gl, 10)
        rounds = max(min(args.rounds, args.events), 1)
        counts = {"raw": 0, "roundtrip": 0, "gridloop": 0}
        seconds = dict.fromkeys(counts, 0.0)
        for index in range(rounds):
            events = args.events // rounds + (1 if index < args.events % rounds else 0)
            with clockmod.using(ManualClock(START)):
                seconds["raw"] += bench_raw(bundle, engine, events)
                seconds["roundtrip"] += bench_roundtrip(bundle, engine, max(events // 2, 1))
            seconds["gridloop"] += bench_gridloop(gl, events)
            counts["raw"] += events
            counts["roundtrip"] += max(events // 2, 1)
            counts["gridloop"] += events
        raw, roundtrip, durable = (
            counts[k] * STEPS_PER_EVENT / seconds[k] for k in ("raw", "roundtrip", "gridloop")
        )
        per_step = statements_per_command(gl, 5)
        round_trips = round_trips_per_command(gl, 5)
        shares = time_shares(gl, max(args.events // 3, 1))
        dialect = gl.db.engine.dialect.name
        gl.db.dispose()

    result = {
        "events": args.events,
        "rounds": rounds,
        "steps_per_event": STEPS_PER_EVENT,
        "raw_steps_per_s": round(raw, 1),
        "roundtrip_steps_per_s": round(roundtrip, 1),
        "gridloop_steps_per_s": round(durable, 1),
        "ratio_vs_raw": round(durable / raw, 3),
        "dialect": dialect,
        "statements_per_command": per_step,
        "round_trips_per_command": round_trips,
        "roundtrip_ratio_vs_raw": round(roundtrip / raw, 3),
        "history_share_of_gridloop_time": shares["history"],
        "time_shares": shares,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
