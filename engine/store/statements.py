"""The instance store: the statements a command runs on its event, inbox, timer and history rows.

Commands on a running instance (report, complete, claim, fire a timer, migrate) are gridloop's hot path:
each reads one task and its event, runs the process, and writes the event, a few inbox rows and a history
record. Through the ORM's unit of work that bookkeeping cost several times the process step itself, so these
commands run a handful of fixed SQL statements straight on the database driver's connection — the same
connection, and so the same transaction, as the command's session. The statements are written once per
dialect from the table definitions in :mod:`engine.store.models`, and values are converted exactly as the models'
column types do (aware UTC datetimes, booleans, JSON), so the ORM reads what this module writes and back.
On PostgreSQL they join the transaction's batch (:mod:`engine.store.batch`): a write waits to be sent with the
next statement whose answer is needed, so a command's statements reach the server in a few round trips.

Rows come back as :class:`Row` objects with the models' attribute names, so the rules that read them (scope,
time limits, history) take either. The event's ``version`` column keeps its meaning: :func:`save_event`
writes only where the version is still the one read and raises :class:`~engine.errors.Conflict` otherwise,
so a concurrent change is never lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, cast

from sqlalchemy import Connection, Table

from engine.errors import changed_meanwhile
from engine.store import batch as batches
from engine.store.models import Event, HistoryEntry, Notice, Task, Timer

EVENTS = cast(Table, Event.__table__)
TASKS = cast(Table, Task.__table__)
HISTORY = cast(Table, HistoryEntry.__table__)
TIMERS = cast(Table, Timer.__table__)
NOTICES = cast(Table, Notice.__table__)
# the workflow state is read only when the live cache does not hold the instance (see load_state_text); the
# search terms only by the search
_EVENT_COLUMNS = tuple(c.name for c in EVENTS.c if c.name not in ("workflow_state", "search_terms"))
_TASK_COLUMNS = tuple(c.name for c in TASKS.c)
_EVENT_NAMES = frozenset(c.name for c in EVENTS.c)
_TASK_NAMES = frozenset(c.name for c in TASKS.c)
_TIMER_COLUMNS = tuple(c.name for c in TIMERS.c)
_NOTICE_COLUMNS = tuple(c.name for c in NOTICES.c)


class Row:
    """A row of ``events`` or ``tasks``: its columns as attributes, with the columns set since it was read
    remembered, so that saving it writes only those.

    A column whose type converts what the database returns (datetimes, JSON) is converted when it is first
    read: a command reads a handful of the row's columns, and parsing the others' timestamps would cost more
    than its statements. A row may also carry a fact read with it that is not a column (an event read with its
    task: whether it had open supervision sheets), which cannot be set.
    """

    __slots__ = ("_names", "_values", "_changed", "_stored")

    def __init__(
        self,
        names: frozenset[str],
        values: dict[str, Any],
        stored: dict[str, tuple[Convert, Any]] | None = None,
    ) -> None:
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_changed", set())
        object.__setattr__(
            self, "_stored", stored or {}
        )  # column → (conversion, value as stored), not yet read

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            pass
        try:
            convert, stored = self._stored.pop(name)
        except KeyError:
            raise AttributeError(name) from None
        value = self._values[name] = convert(stored)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._names:
            raise AttributeError(f"no column {name!r}")
        if name in self._stored:
            getattr(self, name)  # compare with the value, not with its stored form
        if name not in self._values or self._values[name] != value:
            self._values[name] = value
            self._changed.add(name)

    def changes(self) -> dict[str, Any]:
        """The columns set since the row was read or last saved, with their new values."""
        return {name: self._values[name] for name in self._changed}

    def _saved(self) -> None:
        self._changed.clear()

    def __repr__(self) -> str:
        return f"Row(id={self._values.get('id')!r})"


# ------------------------------------------------------------------ the driver's side of a statement

Convert = Callable[[Any], Any]


class _Dialect:
    """How statements are written for one driver (sqlite3 or psycopg), and the column types' own conversions."""

    def __init__(self, dialect: Any) -> None:
        self.name = dialect.name
        self.dialect = dialect
        self.quote = dialect.identifier_preparer.quote
        self._statements: dict[str, str] = {}
        self._converters: dict[tuple[str, bool], dict[str, Convert]] = {}
        self._aligned: dict[tuple[str, tuple[str, ...]], tuple[Convert | None, ...]] = {}

    def sql(self, key: str, build: Callable[[], str]) -> str:
        """A statement, written once: ``:name`` parameters become the driver's style."""
        text = self._statements.get(key)
        if text is None:
            text = build()
            if self.name == "postgresql":
                text = re.sub(r":(\w+)", r"%(\1)s", text)
            self._statements[key] = text
        return text

    def converters(self, table: Table, inbound: bool) -> dict[str, Convert]:
        """The columns of ``table`` whose values the column type converts on their way in (or out), with the
        conversion — SQLAlchemy's own bind and result processors, so values mean what they mean to the ORM."""
        key = (table.name, inbound)
        found = self._converters.get(key)
        if found is None:
            found = {}
            for column in table.c:
                kind = column.type.dialect_impl(self.dialect)  # the type as this driver binds and reads it
                if inbound:
                    convert = kind.bind_processor(self.dialect)
                else:
                    convert = kind.result_processor(self.dialect, None)
                if convert is not None:
                    found[column.name] = convert
            self._converters[key] = found
        return found

    def read_conversions(self, table: Table, names: tuple[str, ...]) -> tuple[Convert | None, ...]:
        """The conversion of each of ``names`` read from ``table`` (None where the value is taken as it is)."""
        key = (table.name, names)
        found = self._aligned.get(key)
        if found is None:
            converters = self.converters(table, False)
            found = self._aligned[key] = tuple(converters.get(name) for name in names)
        return found


_DIALECTS: dict[str, _Dialect] = {}


def _dialect(conn: Connection) -> _Dialect:
    dialect = _DIALECTS.get(conn.dialect.name)
    if dialect is None:
        if conn.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"gridloop runs on SQLite and PostgreSQL; {conn.dialect.name} is not supported")
        dialect = _DIALECTS.setdefault(conn.dialect.name, _Dialect(conn.dialect))
    return dialect


def _run(conn: Connection, sql: str, params: dict[str, Any], *, answer: bool = True) -> Any:
    """Run a statement on the driver's connection and return its cursor. On PostgreSQL the statement joins the
    transaction's batch (:mod:`engine.store.batch`), sent at once when ``answer`` (its answer is read next),
    else with the next statement whose answer is wanted, or before the commit."""
    batch = batches.of(conn)
    if batch is None:
        driver: Any = conn.connection.driver_connection
        if conn.dialect.name == "postgresql":  # prepared at first use: parsed once
            return driver.execute(sql, params, prepare=True)
        return driver.execute(sql, params)  # (SQLite's driver prepares every statement, keeping the last 100)
    cursor = batch.queue(sql, params)
    if answer:
        batch.send()
    return cursor


def _answered(conn: Connection, cursor: Any) -> Any:
    """A statement's cursor with its answer (a queued statement's batch sent first if it has not been)."""
    batch = batches.of(conn)
    if batch is not None and cursor.pgresult is None:
        batch.send()
    return cursor


def _answer(conn: Connection, cursor: Any) -> Any:
    """The first column of a statement's answer (a queued statement's batch sent first if it has not been)."""
    return _answered(conn, cursor).fetchone()[0]


def _params(dialect: _Dialect, table: Table, values: dict[str, Any]) -> dict[str, Any]:
    converters = dialect.converters(table, True)
    return {
        name: value if (convert := converters.get(name)) is None else convert(value)
        for name, value in values.items()
    }


def _row(
    dialect: _Dialect, table: Table, names: tuple[str, ...], raw: Iterable[Any], allowed: frozenset[str]
) -> Row:
    """A row read from ``table``: plain columns as they are, converted columns left to convert when read."""
    values: dict[str, Any] = {}
    stored: dict[str, tuple[Convert, Any]] = {}
    for name, convert, value in zip(names, dialect.read_conversions(table, names), raw, strict=True):
        if convert is None or value is None:
            values[name] = value
        else:
            stored[name] = (convert, value)
    return Row(allowed, values, stored)


def _columns(dialect: _Dialect, alias: str, names: Iterable[str]) -> str:
    return ", ".join(f"{alias}.{dialect.quote(n)}" for n in names)


# ------------------------------------------------------------------------------ reads


# a fact an event row read with its task carries besides its columns (read-only: see open_sheets_at_read)
_OPEN_SHEETS = "open_sheets_at_read"


def task_and_event(conn: Connection, task_id: int, *, lock: bool = False) -> tuple[Row, Row] | None:
    """An inbox row and its event, read in one statement (so the event's version is that of the same moment),
    with whether the event has open supervision sheets (:func:`open_sheets_at_read`); with ``lock``, the event is
    also locked (:func:`_lock`) in the same round trip (PostgreSQL)."""
    dialect = _dialect(conn)
    sql = dialect.sql(
        "task_and_event",
        lambda: (
            f"SELECT {_columns(dialect, 't', _TASK_COLUMNS)}, {_columns(dialect, 'e', _EVENT_COLUMNS)}, "
            f"EXISTS ({_OPEN_SHEETS_OF.format(event='e.id')}) "
            "FROM tasks AS t JOIN events AS e ON e.id = t.event_id WHERE t.id = :task"
        ),
    )
    lock = lock and dialect.name == "postgresql"
    read = _run(conn, sql, {"task": task_id}, answer=not lock)
    locked = (
        _lock(conn, "id = (SELECT event_id FROM tasks WHERE id = :task)", {"task": task_id}) if lock else None
    )
    raw = read.fetchone()
    if raw is None:
        return None
    split = len(_TASK_COLUMNS)
    task = _row(dialect, TASKS, _TASK_COLUMNS, raw[:split], _TASK_NAMES)
    event = _row(dialect, EVENTS, _EVENT_COLUMNS, raw[split:-1], _EVENT_NAMES)
    event._values[_OPEN_SHEETS] = bool(raw[-1])
    if lock:
        _locked_at(locked, event)
    return task, event


def event(conn: Connection, event_id: int, *, lock: bool = False) -> Row | None:
    """An event row (without its workflow state); with ``lock``, locked (:func:`_lock`) in the same round trip
    (PostgreSQL)."""
    dialect = _dialect(conn)
    sql = dialect.sql(
        "event",
        lambda: f"SELECT {_columns(dialect, 'e', _EVENT_COLUMNS)} FROM events AS e WHERE e.id = :event",
    )
    lock = lock and dialect.name == "postgresql"
    read = _run(conn, sql, {"event": event_id}, answer=not lock)
    locked = _lock(conn, "id = :event", {"event": event_id}) if lock else None
    raw = read.fetchone()
    if raw is None:
        return None
    found = _row(dialect, EVENTS, _EVENT_COLUMNS, raw, _EVENT_NAMES)
    if lock:
        _locked_at(locked, found)
    return found


def _lock(conn: Connection, where: str, params: dict[str, Any]) -> Any:
    """Lock the event ``WHERE {where}`` finds for the rest of the transaction (the statement sent, with all
    queued before it) and return the row of its id and version as the lock found them (None: no such event).

    A command that read the event at some version locks it before it writes anything: a command racing it on
    the same event waits here until the first commits, then finds the version moved and is a conflict —
    before any of its writes could collide with the winner's (an inbox row's unique key, say)."""
    dialect = _dialect(conn)
    sql = dialect.sql(
        f"lock event {where}", lambda: f"SELECT id, version FROM events WHERE {where} FOR UPDATE"
    )
    return _run(conn, sql, params).fetchone()


def _locked_at(locked: Any, event: Row) -> None:
    """Refuse an event read just before its lock was taken when the version moved in between."""
    if locked is None or locked[1] != event.version:
        raise changed_meanwhile()


def load_state_text(conn: Connection, event_id: int) -> str:
    """An event's stored workflow state."""
    dialect = _dialect(conn)
    sql = dialect.sql("state", lambda: "SELECT workflow_state FROM events WHERE id = :event")
    return _run(conn, sql, {"event": event_id}).fetchone()[0]


_RECORD_COLUMNS = ("seq", "at", "actor", "action", "process_version_id", "bpmn_id", "data")


def history_since(conn: Connection, event_id: int, after_seq: int) -> list[Row]:
    """An event's history records numbered above ``after_seq``, in order (what a replay needs of them)."""
    dialect = _dialect(conn)
    sql = dialect.sql(
        "history since",
        lambda: (
            f"SELECT {_columns(dialect, 'h', _RECORD_COLUMNS)} FROM history AS h "
            "WHERE h.event_id = :event AND h.seq > :after ORDER BY h.seq"
        ),
    )
    names = frozenset(_RECORD_COLUMNS)
    return [
        _row(dialect, HISTORY, _RECORD_COLUMNS, raw, names)
        for raw in _run(conn, sql, {"event": event_id, "after": after_seq}).fetchall()
    ]


_OPEN_SHEETS_OF = "SELECT 1 FROM supervision_sheets WHERE event_id = {event} AND status = 'open'"


def has_open_sheets(conn: Connection, event_id: int) -> bool:
    """Whether an event has supervision sheets that are still open."""
    dialect = _dialect(conn)
    sql = dialect.sql("open sheets", lambda: _OPEN_SHEETS_OF.format(event=":event") + " LIMIT 1")
    return _run(conn, sql, {"event": event_id}).fetchone() is not None


def open_sheets_at_read(event: Any) -> bool | None:
    """Whether an event row read with its task (:func:`task_and_event`) had open supervision sheets then (None
    for a row read otherwise). A command that has issued or cleared none since may take it for
    :func:`has_open_sheets`: whatever changed the sheets meanwhile moved the event's version too."""
    return getattr(event, _OPEN_SHEETS, None) if isinstance(event, Row) else None


def completed_before(conn: Connection, row: Any) -> Callable[[], bool]:
    """Whether the case had inbox row ``row``'s step completed already, by the same role in the same scope (or
    for the same department): asked now, answered when the returned function is called (on PostgreSQL the
    question waits in the batch until then, or until the batch is sent for another reason)."""
    dialect = _dialect(conn)
    department = row.department_code is not None
    sql = dialect.sql(
        f"completed before {department}",
        lambda: (
            "SELECT 1 FROM tasks WHERE event_id = :event AND bpmn_id = :step AND role = :role "
            "AND status = 'completed' AND spiff_task_id <> :spiff AND "
            + (
                "department_code = :department"
                if department
                else "department_code IS NULL AND scope_code = :scope"
            )
            + " LIMIT 1"
        ),
    )
    # (the row itself told by its task in the instance, unique in the case: its id may not be known yet)
    asked = {"event": row.event_id, "step": row.bpmn_id, "role": row.role, "spiff": row.spiff_task_id}
    asked |= {"department": row.department_code} if department else {"scope": row.scope_code}
    cursor = _run(conn, sql, asked, answer=False)
    if batches.of(conn) is None:
        found = cursor.fetchone() is not None
        return lambda: found
    return lambda: _answered(conn, cursor).fetchone() is not None


def active_version_id(conn: Connection, process_id: str) -> int | None:
    """The active version of a process: the one new instances start on (None when none is active)."""
    dialect = _dialect(conn)
    sql = dialect.sql(
        "active version",
        lambda: "SELECT id FROM process_versions WHERE process_id = :process AND status = 'active'",
    )
    found = _run(conn, sql, {"process": process_id}).fetchone()
    return None if found is None else found[0]


def shown_version_id(conn: Connection, process_id: str) -> int | None:
    """The version of a process the pages read its names, categories and states from: the active one, else
    the newest (a process whose versions are all drafts or retired still has instances to show)."""
    dialect = _dialect(conn)
    sql = dialect.sql(
        "shown version",
        lambda: (
            "SELECT id FROM process_versions WHERE process_id = :process "
            "ORDER BY CASE WHEN status = 'active' THEN 0 ELSE 1 END, id DESC LIMIT 1"
        ),
    )
    found = _run(conn, sql, {"process": process_id}).fetchone()
    return None if found is None else found[0]


def _rows_of_event(
    conn: Connection, table: Table, columns: tuple[str, ...], status: str, event_id: int
) -> list[Row]:
    dialect = _dialect(conn)
    sql = dialect.sql(
        f"{table.name} {status}",
        lambda: (
            f"SELECT {_columns(dialect, 'r', columns)} FROM {table.name} AS r "
            f"WHERE r.event_id = :event AND r.status = '{status}' ORDER BY r.id"
        ),
    )
    names = frozenset(columns)
    return [
        _row(dialect, table, columns, raw, names) for raw in _run(conn, sql, {"event": event_id}).fetchall()
    ]


def open_tasks(conn: Connection, event_id: int) -> list[Row]:
    """An event's open inbox rows, oldest first."""
    return _rows_of_event(conn, TASKS, _TASK_COLUMNS, "open", event_id)


def pending_timers(conn: Connection, event_id: int) -> list[Row]:
    """An event's pending timer rows, oldest first."""
    return _rows_of_event(conn, TIMERS, _TIMER_COLUMNS, "pending", event_id)


# ----------------------------------------------------------------------------- writes


def _insert(conn: Connection, table: Table, values: dict[str, Any]) -> Any:
    """Insert a row with exactly these columns; return the statement's cursor, whose answer is the row's id
    (see :func:`_answer`)."""
    dialect = _dialect(conn)
    names = tuple(values)
    sql = dialect.sql(
        f"insert {table.name} {names}",
        lambda: (
            f"INSERT INTO {table.name} ({', '.join(dialect.quote(n) for n in names)}) "
            f"VALUES ({', '.join(':' + n for n in names)}) RETURNING id"
        ),
    )
    return _run(conn, sql, _params(dialect, table, values), answer=False)


def _update(
    conn: Connection, table: Table, row_id: int, values: dict[str, Any], version: int | None = None
) -> Any:
    """Update these columns of one row (only at ``version`` when given); return the statement's cursor, whose
    ``rowcount`` is the number of rows changed once the statement is answered.

    On PostgreSQL an update at a version is refused by the server itself when it changes no row — its answer is
    one divided by the rows it changed — so that a batch's ``COMMIT`` queued behind it is never run (the batch
    makes it :class:`Conflict`: :mod:`engine.store.batch`)."""
    dialect = _dialect(conn)
    names = tuple(values)

    def build() -> str:
        update = (
            f"UPDATE {table.name} SET {', '.join(f'{dialect.quote(n)} = :{n}' for n in names)} "
            "WHERE id = :b_id" + (" AND version = :b_version" if version is not None else "")
        )
        if version is None or dialect.name != "postgresql":
            return update
        return f"WITH saved AS ({update} RETURNING 1) SELECT 1 / count(*) FROM saved"

    sql = dialect.sql(f"update {table.name} {names} {version is not None}", build)
    params = _params(dialect, table, values)
    params["b_id"] = row_id
    if version is not None:
        params["b_version"] = version
    return _run(conn, sql, params, answer=False)


def _default(column: Any) -> Any:
    default = column.default
    return default.arg if default is not None and default.is_scalar else None


def insert_event(conn: Connection, values: dict[str, Any]) -> Row:
    """Insert a new event at version 1 and return it with its id (a column not given takes the model's
    default, as an ORM insert would)."""
    values = {c.name: values.get(c.name, _default(c)) for c in EVENTS.c if c.name != "id"}
    values["version"] = 1
    values["id"] = _answer(conn, _insert(conn, EVENTS, values))
    del values["workflow_state"], values["search_terms"]
    return Row(_EVENT_NAMES, values)


def save_event(conn: Connection, row: Row, workflow_state: str | None = None) -> None:
    """Write the event's changed columns (and its workflow state) and move its version on.

    Written only where the version is still the one read: otherwise somebody changed the event meanwhile,
    and the command fails with :class:`Conflict` (its transaction is rolled back).
    """
    values = row.changes()
    if workflow_state is not None:
        values["workflow_state"] = workflow_state
    values["version"] = row.version + 1
    dbapi = conn.dialect.dbapi
    assert dbapi is not None
    try:  # (in a batch, PostgreSQL's refusal is raised where the batch is sent)
        saved = _update(conn, EVENTS, row.id, values, version=row.version)
    except dbapi.DataError as exc:
        if getattr(exc, "sqlstate", None) != "22012":
            raise
        raise changed_meanwhile() from exc  # PostgreSQL's refusal, without a batch: one divided by no row
    if conn.dialect.name != "postgresql" and saved.rowcount != 1:
        raise changed_meanwhile()
    row.version = values["version"]
    row._saved()


def _insert_row(conn: Connection, table: Table, columns: tuple[str, ...], values: dict[str, Any]) -> Row:
    """Insert a row; its id is read when first asked for (on PostgreSQL the batch is sent then, if it was not
    before: it is, at the latest, before the commit)."""
    values = {name: values.get(name) for name in columns if name != "id"}
    inserted = _insert(conn, table, values)
    row = Row(frozenset(columns), values, {"id": (lambda cursor: _answer(conn, cursor), inserted)})
    batch = batches.of(conn)
    if batch is None:
        row.id  # noqa: B018 - read at once: nothing to wait for
    else:
        batch.check(lambda: row._stored and row.id)  # (unless asked for meanwhile)
    return row


def _save_row(conn: Connection, table: Table, row: Row) -> None:
    values = row.changes()
    if values:
        _update(conn, table, row.id, values)
        row._saved()


def insert_task(conn: Connection, values: dict[str, Any]) -> Row:
    """Insert an inbox row and return it with its id."""
    return _insert_row(conn, TASKS, _TASK_COLUMNS, values)


def save_task(conn: Connection, row: Row) -> None:
    """Write an inbox row's changed columns."""
    _save_row(conn, TASKS, row)


def insert_timer(conn: Connection, values: dict[str, Any]) -> Row:
    """Insert a timer row and return it with its id."""
    return _insert_row(conn, TIMERS, _TIMER_COLUMNS, values)


def save_timer(conn: Connection, row: Row) -> None:
    """Write a timer row's changed columns."""
    _save_row(conn, TIMERS, row)


def insert_notice(conn: Connection, values: dict[str, Any]) -> Row:
    """Insert a notice row and return it (its id read when first asked for, as an inbox row's)."""
    return _insert_row(conn, NOTICES, _NOTICE_COLUMNS, values)


def insert_history(conn: Connection, values: dict[str, Any]) -> None:
    """Append a history record (see :func:`engine.audit.history.append`).

    Two commands that raced on one event both append the record after the same head; the one that loses
    (its record's number is taken) fails with :class:`Conflict`, as it would at the event's version check.
    """
    dbapi = conn.dialect.dbapi
    assert dbapi is not None
    try:
        _insert(conn, HISTORY, values)  # a batch's statement raises when the batch is sent (see its _RACED)
    except dbapi.IntegrityError as exc:
        raise changed_meanwhile() from exc
