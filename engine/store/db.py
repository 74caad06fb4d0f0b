"""Database connection, schema migrations and the unit of work.

SQLite is the embedded default (WAL journal, a busy timeout, foreign keys on); PostgreSQL runs the same code
for production. The schema is created and upgraded only through the Alembic migrations in
``engine/store/migrations``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine.errors import Conflict, changed_meanwhile
from engine.store import batch as batches

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DEFAULT_SQLITE_PATH = Path("instance") / "gridloop.sqlite3"
IMMEDIATE = "gridloop_immediate"
# SQLite's own automatic checkpoint runs inside the commit that takes the log past 1,000 pages: that one
# commit copies the log into the database file and syncs both, which costs tens of milliseconds once in about
# seventy commands. gridloop checkpoints from a background thread every CHECKPOINT_SECONDS instead (copying
# what has been committed since, without blocking anyone). The log file starts over only when a writer finds it
# wholly copied; under a steady stream of commands that moment may not come, so SQLite's own checkpoint stays
# on for a log that has grown past FALLBACK_CHECKPOINT_PAGES (40 MB), and finds little left to copy by then.
CHECKPOINT_SECONDS = 0.2
FALLBACK_CHECKPOINT_PAGES = 10000

T = TypeVar("T")


def default_url() -> str:
    """The embedded default database: a SQLite file under ``instance/`` in the working directory."""
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


class JsonText(str):
    """Text that is JSON already (a history record's canonical data): a JSON column stores it as it is."""


def _json_text(value: object) -> str:
    # JSON columns keep Chinese text as it is (three bytes a character, not a six-byte escape)
    if isinstance(value, JsonText):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def make_engine(url: str) -> Engine:
    """Create a SQLAlchemy engine for ``url`` with gridloop's connection settings."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # LIFO: a command gets the connection that wrote last, whose page cache is still valid (SQLite drops a
        # connection's cached pages whenever another connection has written since its last transaction)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            json_serializer=_json_text,
            pool_use_lifo=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # the log is copied into the database file by the Database's background checkpointer (below); a
            # commit does it itself only if the log has grown this long regardless
            cursor.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_CHECKPOINT_PAGES}")
            cursor.close()
            # SQLAlchemy's pysqlite default begins a transaction only at the first write, so the reads a
            # command makes before it would see different moments; gridloop begins it itself (below).
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            # A command takes the write lock up front (other writers wait for it, up to the timeout), so all
            # it reads is current and stays so until it commits; a read-only session takes a snapshot.
            immediate = connection.get_execution_options().get(IMMEDIATE, False)
            connection.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, json_serializer=_json_text)
    batches.install(engine)

    @event.listens_for(engine, "connect")
    def _planning(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            # gridloop's statements are short: compiling them (PostgreSQL's JIT, on for costly plans) costs more
            # than it saves — 188 ms of a month's 898 ms step aggregate at a million cases
            cursor.execute("SET jit = off")
            # a statement psycopg has prepared is planned for its parameters each time: the evaluation's ranges
            # differ by orders of magnitude (a month, a year), and a generic plan made for a month's took a
            # year's steps from 4.6 s to 15 s (bench/evaluation_bench.py); and a foreign key's check, planned
            # once while a table was small, kept reading the table whole as a bulk load filled it
            cursor.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_connection.commit()

    return engine


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to ``engine`` (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema up to the newest migration."""
    command.upgrade(alembic_config(engine), "head")


def is_initialized(engine: Engine) -> bool:
    """True when the schema exists (the migrations have run)."""
    return inspect(engine).has_table("events")


def _raise_conflict_if_busy(exc: Exception) -> None:
    """A lock timeout is a conflict: raise it as one (any other operational error is left to the caller)."""
    if "locked" in str(exc).lower() or "busy" in str(exc).lower():
        raise Conflict(
            "the database is busy with another change to this event; nothing was saved — retry",
            code="event.busy",
        ) from exc


def connection_of(session: Session) -> Connection:
    """The connection ``session`` works on: a unit of work's session is bound to its transaction's connection,
    which is returned as is (asking the session costs more than many of the statements run on it)."""
    bind = session.bind
    return bind if isinstance(bind, Connection) else session.connection()


def _sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return path if path and path != ":memory:" else None


class LogCheckpointer:
    """Copies a SQLite database's write-ahead log into the database file from a background thread.

    Each pass is a PASSIVE checkpoint on a connection of its own: it copies what no reader still needs and
    never waits for, or blocks, a command. The thread ends when :meth:`stop` is called or when the Database
    that started it is gone.
    """

    def __init__(self, path: str, owner: object, interval: float = CHECKPOINT_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self.passes = 0
        self._owner = weakref.ref(owner)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gridloop-log-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        connection = None
        try:
            while not self._stopped.wait(self.interval) and self._owner() is not None:
                try:
                    if connection is None:
                        # mode=rw: wait for the database to be created, never create it
                        connection = sqlite3.connect(
                            f"file:{self.path}?mode=rw", uri=True, timeout=0, check_same_thread=False
                        )
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.passes += 1
                except sqlite3.Error:
                    continue  # not created yet, busy, or failing now: the next pass tries again
        finally:
            if connection is not None:
                connection.close()

    def stop(self) -> None:
        """End the thread (after its current pass)."""
        self._stopped.set()
        self._thread.join(timeout=5)


class ReadScope:
    """One read of the database — a web request, say: one session on one pooled connection, one snapshot.

    The connection is checked out when the scope is first read through and held until the scope ends, so that
    everything the scope reads comes from one connection. Its transaction is the snapshot: on PostgreSQL
    ``REPEATABLE READ READ ONLY`` (every statement sees the moment of the first); on SQLite the deferred
    ``BEGIN`` already reads one snapshot of the log. :meth:`Database.unit_of_work` ends the snapshot when a
    command run inside the scope ends (:meth:`new_snapshot`), so what the scope reads next includes what it
    committed — or the change it lost to, when it failed with a conflict.
    ``once`` keeps what a scope loads a single time (the request's actor).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: Connection | None = None
        self._session: Session | None = None
        self._loaded: dict[Hashable, Any] = {}

    @property
    def session(self) -> Session:
        """The scope's session (its connection is checked out on first use)."""
        if self._session is None:
            connection = self.db.engine.connect()
            if self.db.dialect == "postgresql":
                connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            self._connection = connection
            self._session = self.db._sessions(bind=connection)
        return self._session

    def once(self, key: Hashable, load: Callable[[], T]) -> T:
        """What ``load`` returns, called only the first time ``key`` is asked for in this scope."""
        if key not in self._loaded:
            self._loaded[key] = load()
        return self._loaded[key]

    def new_snapshot(self) -> None:
        """End the read transaction (keeping the connection): the next statement reads a new snapshot."""
        if self._session is not None:
            self._session.rollback()

    def close(self) -> None:
        """End the transaction and give the connection back to the pool."""
        if self._session is not None:
            self._session.close()
        if self._connection is not None:
            self._connection.close()
        self._session = self._connection = None


# What the current context (thread, request) reads through and writes in: the innermost read scope and unit of
# work, each with the Database it belongs to, so that every read of that database inside them reuses them.
_READ_SCOPE: ContextVar[ReadScope | None] = ContextVar("gridloop_read_scope", default=None)
_UNIT_OF_WORK: ContextVar[tuple[Database, Session] | None] = ContextVar("gridloop_unit_of_work", default=None)


class Database:
    """The engine's handle on one database: connections, the unit of work and the read scope."""

    def __init__(self, url: str, checkpoint_seconds: float = CHECKPOINT_SECONDS) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        path = _sqlite_file(url)
        self.checkpointer = LogCheckpointer(path, self, checkpoint_seconds) if path is not None else None

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: commit when the block succeeds, roll everything back when it raises.

        The transaction belongs to a connection of the pool, and the block's session works inside it (a command
        may also run statements straight on that connection, as :mod:`engine.store.statements` does). Autoflush is off: a
        command flushes where it needs database-generated values, and once at the end. A write that lost a
        race (the event's ``version`` moved, or SQLite stayed locked past its timeout) is reported as
        :class:`~engine.errors.Conflict`; nothing of the block is kept. Inside the block, :meth:`reading` reads
        through the block's own session; when it ends, the read scope it ran in (a request's) starts a new
        snapshot on its connection.
        """
        with self.engine.connect() as connection:
            if self.dialect == "sqlite":
                connection.execution_options(**{IMMEDIATE: True})
            try:
                transaction = connection.begin()
            except (OperationalError, sqlite3.OperationalError) as exc:
                _raise_conflict_if_busy(exc)
                raise
            session = self._sessions(bind=connection, join_transaction_mode="rollback_only")
            token = _UNIT_OF_WORK.set((self, session))
            try:
                batches.begin_on(connection)  # PostgreSQL: its BEGIN queued with the first statements
                yield session
                session.flush()
                session.close()
                batches.commit_on(connection)  # PostgreSQL: with the writes still queued, in one round trip
                transaction.commit()
            except StaleDataError as exc:
                raise changed_meanwhile() from exc
            except (OperationalError, sqlite3.OperationalError) as exc:
                _raise_conflict_if_busy(exc)
                raise
            finally:
                batches.end_on(connection)
                _UNIT_OF_WORK.reset(token)
                session.close()
                try:
                    if transaction.is_active:
                        transaction.rollback()
                finally:
                    batches.restore_on(connection)
                # whatever the command did — or found (a conflict is someone else's commit) — what is read next
                # in this context reads it: the read scope's snapshot ends here
                scope = self.current_scope()
                if scope is not None:
                    scope.new_snapshot()

    @contextmanager
    def read_scope(self) -> Iterator[ReadScope]:
        """One read scope for the block (a web request opens one for its whole life: see :class:`ReadScope`);
        every :meth:`reading` inside it reads through the scope's session. Inside another scope of this
        database, that scope is used."""
        current = _READ_SCOPE.get()
        if current is not None and current.db is self:
            yield current
            return
        scope = ReadScope(self)
        token = _READ_SCOPE.set(scope)
        try:
            yield scope
        finally:
            _READ_SCOPE.reset(token)
            scope.close()

    def current_scope(self) -> ReadScope | None:
        """The read scope the current context reads this database through, if any."""
        scope = _READ_SCOPE.get()
        return scope if scope is not None and scope.db is self else None

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for queries only; nothing is committed.

        Inside a unit of work it is the command's own session (what a command reads, it reads in its
        transaction); inside a read scope, the scope's session (one connection, one snapshot); otherwise a read
        scope of its own for the block.
        """
        work = _UNIT_OF_WORK.get()
        if work is not None and work[0] is self:
            yield work[1]
            return
        with self.read_scope() as scope:
            yield scope.session

    def dispose(self) -> None:
        """Close every pooled connection (and stop the log checkpointer)."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
