"""The staff pages and API lists that must stay flat over years of history are served by indexes: every
statement they run is explained by the database, and none may read a big table (events, tasks, history,
supervision sheets) from end to end.

On PostgreSQL each statement is explained with sequential scans switched off (``enable_seqscan = off``): the
planner then takes an index wherever one can serve, so a ``Seq Scan`` left in the plan is a query no index
serves, whatever the table's size. On SQLite a plain ``SCAN`` of a big table (not through an index) is one.
The pages and their searches are those ``bench/scale_bench.py`` times.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKENDS, GRID_HB1
from sqlalchemy import event, select
from web_support import PASSWORD, app_with_staff, complete, open_task, report, staff

from engine.reads.queries import cursor
from engine.store import search
from engine.store.models import Event, Task, code_prefix

BIG = ("events", "tasks", "history", "supervision_sheets")
STAFF = ("gw_hb1", "dispatcher", "intake")
VIEWS = ("mine", "claimable", "done")


@pytest.fixture(params=BACKENDS)
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield from app_with_staff(tmp_path, STAFF, request.param)


def _statements(app: Any, calls: list[tuple[str, str]]) -> list[tuple[str, str, Any]]:
    """The SELECT statements the pages run, with their parameters, by page."""
    engine = app.extensions["gridloop"].db.engine
    clients = {username: staff(app, username) for username in {who for who, _ in calls}}
    seen: list[tuple[str, str, Any]] = []
    current = [""]

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((current[0], statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        for who, path in calls:
            current[0] = f"{who} {path}"
            headers = {}
            if path.startswith("/api/"):
                answer = clients[who].post("/api/v1/auth/token", json={"username": who, "password": PASSWORD})
                headers = {"Authorization": f"Bearer {answer.get_json()['token']}"}
            assert clients[who].get(path, headers=headers).status_code == 200, path
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return seen


def _plan(app: Any, statement: str, parameters: Any, *, vacuumed: bool = False) -> list[str]:
    """The statement's plan, a line per node: on PostgreSQL with sequential scans switched off (``vacuumed``: the
    events vacuumed first, as autovacuum leaves a big table — its rows marked visible to all, so that an index
    that holds every column a query asks for is read alone)."""
    engine = app.extensions["gridloop"].db.engine
    if vacuumed and engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM (ANALYZE) events")
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = [r[0] for r in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
        else:
            plan = [r[3] for r in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
        connection.rollback()
    return plan


def _full_scans(plan: list[str]) -> list[str]:
    """The plan's reads of a big table from end to end."""
    tables = "|".join(BIG)
    return [
        line
        for line in plan
        if re.search(rf"Seq Scan on ({tables})\b", line) or re.fullmatch(rf"SCAN ({tables})( AS \w+)?", line)
    ]


def _served(plan: list[str], column: str) -> bool:
    """Whether the plan finds the rows by ``column`` through an index (its condition on the index, or the
    description search's own index)."""
    if column == "search_terms":
        return any(
            "array_to_tsvector" in line and "Cond" in line or "event_search VIRTUAL TABLE" in line
            for line in plan
        )
    return any(
        re.search(rf"(Index Cond|Recheck Cond): .*\b{column}\b", line)
        or re.search(rf"^SEARCH \w+.* USING .*INDEX .*\(.*\b{column}\b", line)
        for line in plan
    )


def test_the_pages_that_must_stay_flat_read_the_big_tables_through_indexes(app: Any) -> None:
    gl = app.extensions["gridloop"]
    events = [report(gl, description=f"第 {n} 处井盖松动，需要更换") for n in range(3)]
    complete(gl, "intake", events[0]["id"], "accept", {"decision": "accept"})
    first = events[0]
    day = first["code"][:9]
    month = "from=2026-11-01&to=2026-11-30"
    calls = [(who, f"/inbox?view={view}") for who in ("gw_hb1", "dispatcher") for view in VIEWS]
    calls += [("dispatcher", "/api/v1/tasks?view=done"), ("dispatcher", "/api/v1/events?text=井盖")]
    newest = cursor(
        gl.list_events("dispatcher", per_page=1)[0][0]
    )  # the list read on from a row, by either order
    calls += [
        ("dispatcher", f"/api/v1/events?after={newest}"),
        ("dispatcher", "/api/v1/events?after=c.E9&code=E"),
    ]
    for who in ("dispatcher", "gw_hb1"):
        calls += [
            (who, "/events"),
            (who, f"/events?code={first['code']}"),
            (who, f"/events?code={day}"),
            (who, f"/events?category=0101&{month}"),
            (who, "/events?text=井盖"),
            (who, f"/events?grid={GRID_HB1}&text=松动+更换"),
        ]
    calls += [("dispatcher", f"/events/{first['id']}"), ("dispatcher", f"/audit/events/{first['id']}")]
    statements = _statements(app, calls)
    assert len({page for page, _, _ in statements}) == len(calls)
    problems = []
    for page, statement, parameters in statements:
        found = _full_scans(_plan(app, statement, parameters))
        if found:
            problems.append(f"{page}: reads a big table whole: {found} in {statement[:300]}")
    assert problems == [], "\n".join(problems)
    assert open_task(gl, first["id"])["step"] == "dispatch"


def test_each_search_and_inbox_view_finds_its_rows_through_an_index(app: Any) -> None:
    """The selective condition of each list, alone: the planner of a small database may rightly prefer
    another index for a whole page, but an index must be there that serves it."""
    gl = app.extensions["gridloop"]
    report(gl, description="路口井盖松动，车辆经过有响声")
    dialect = gl.db.engine.dialect.name
    done = select(Task.id).where(Task.status == "completed", Task.completed_by == "dispatcher")
    conditions = {
        "search_terms": select(Event.id).where(search.matches(dialect, Event, "井盖 松动")),
        "code": select(Event.id).where(code_prefix(Event.code, "E20261123")),
        "category": select(Event.id).where(code_prefix(Event.category, "01")),
        "completed_by": done.order_by(Task.completed_at.desc()).limit(20),
        "assignee": select(Task.id).where(Task.status == "open", Task.assignee == "gw_hb1"),
    }
    problems = []
    for column, query in conditions.items():
        compiled = query.compile(gl.db.engine)
        names = compiled.positiontup
        parameters = compiled.params if names is None else tuple(compiled.params[n] for n in names)
        plan = _plan(app, str(compiled), parameters)
        if not _served(plan, column):
            problems.append(f"{column}: {plan}")
    assert problems == [], "\n".join(problems)


def test_the_done_views_bounded_count_reads_the_index_of_completed_tasks_alone(app: Any) -> None:
    """A grid worker's done view holds years of finished steps: its count (up to the lists' bound) must not
    read a task row, nor an event, for each of them."""
    statements = _statements(app, [("dispatcher", "/api/v1/tasks?view=done")])
    counts = [(s, p) for _, s, p in statements if "count(" in s and "completed_by" in s]
    assert len(counts) == 1, [s for _, s, _ in statements]
    plan = _plan(app, *counts[0])
    assert not any("events" in line for line in plan), plan
    if app.extensions["gridloop"].db.engine.dialect.name == "postgresql":
        assert any("Index Only Scan using ix_tasks_completed_by_completed_at" in line for line in plan), plan
    else:
        assert any("USING COVERING INDEX ix_tasks_completed_by_completed_at" in line for line in plan), plan


def test_a_search_by_a_codes_beginning_takes_its_page_in_the_codes_order_from_the_codes_index(
    app: Any,
) -> None:
    """A month's codes are tens of thousands of cases in years of history: listed in the code's order, the index
    that finds them also gives the page, with nothing to sort (in report-time order, the planner walked the
    report times back past half a million cases to find a month of them)."""
    gl = app.extensions["gridloop"]
    first = report(gl)
    statements = _statements(app, [("dispatcher", f"/api/v1/events?code={first['code'][:7]}")])
    (page,) = [(s, p) for _, s, p in statements if "ORDER BY" in s and "events.code" in s]
    plan = _plan(app, *page)
    assert not any("Sort" in line or "TEMP B-TREE" in line for line in plan), plan
    assert _served(plan, "code"), plan


def test_a_search_by_sub_category_and_period_takes_its_page_in_report_order_from_the_category_index(
    app: Any,
) -> None:
    """A sub-category's cases of a year are tens of thousands in years of history: the index on (category,
    reported_at) gives them newest first, so the page is read with nothing to sort, and holds their grid, so the
    count is the index's. A class (the beginning of several sub-categories' codes) is still a range of codes."""
    gl = app.extensions["gridloop"]
    report(gl)
    year = "from=2026-01-01&to=2026-12-31"
    statements = _statements(app, [("dispatcher", f"/api/v1/events?category=0101&{year}")])
    (page,) = [(s, p) for _, s, p in statements if "FROM events" in s and "ORDER BY events.reported_at" in s]
    plan = _plan(app, *page)
    assert not any("Sort" in line or "TEMP B-TREE" in line for line in plan), plan
    assert any("ix_events_category_reported_at" in line for line in plan), plan
    # and the list's bounded count, in the reader's scope, from the index alone
    (count,) = [(s, p) for _, s, p in statements if "count(" in s and "events.category" in s]
    plan = _plan(app, *count, vacuumed=True)
    if gl.db.engine.dialect.name == "postgresql":
        assert any("Index Only Scan using ix_events_category_reported_at" in line for line in plan), plan
    else:
        assert any("USING COVERING INDEX ix_events_category_reported_at" in line for line in plan), plan
    statements = _statements(app, [("dispatcher", f"/api/v1/events?category=01&{year}")])
    (page,) = [(s, p) for _, s, p in statements if "FROM events" in s and "ORDER BY events.reported_at" in s]
    assert "events.category >=" in page[0] and "events.category =" not in page[0], page[0]
