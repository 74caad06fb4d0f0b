"""Database connection, schema migrations and the unit of work.

SQLite is the embedded default (WAL journal, a busy timeout, foreign keys on); PostgreSQL runs the same code
for production. The schema is created and upgraded only through the Alembic migrations in
``engine/migrations``.
"""

from __future__ import annotations

import json
import sqlite3
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
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, json_serializer=_json_text
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
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


class Database:
    """The engine's handle on one database: connections plus the unit of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: commit when the block succeeds, roll everything back when it raises.

        The transaction belongs to a connection of the pool, and the block's session works inside it (a command
        may also run statements straight on that connection, as :mod:`engine.store` does). Autoflush is off: a
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
        """Close every pooled connection."""
        self.engine.dispose()
