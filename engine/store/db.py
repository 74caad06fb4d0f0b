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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine.errors import Conflict

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
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
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
        def _sqlite_begin(connection):  # noqa: ANN001
            # A command takes the write lock up front (other writers wait for it, up to the timeout), so all
            # it reads is current and stays so until it commits; a read-only session takes a snapshot.
            immediate = connection.get_execution_options().get(IMMEDIATE, False)
            connection.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, json_serializer=_json_text)


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
            "the database is busy with another change to this event; nothing was saved — retry"
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


class Database:
    """The engine's handle on one database: connections plus the unit of work."""

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
        :class:`~engine.errors.Conflict`; nothing of the block is kept.
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
            try:
                yield session
                session.flush()
                session.close()
                transaction.commit()
            except StaleDataError as exc:
                raise Conflict(
                    "the event was changed by someone else meanwhile; nothing was saved — reload and retry"
                ) from exc
            except (OperationalError, sqlite3.OperationalError) as exc:
                _raise_conflict_if_busy(exc)
                raise
            finally:
                session.close()
                if transaction.is_active:
                    transaction.rollback()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for queries only; nothing is committed."""
        session = self._sessions()
        try:
            yield session
        finally:
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection (and stop the log checkpointer)."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
