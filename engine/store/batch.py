"""A command's statements on PostgreSQL, sent together: fewer round trips to the server.

Every statement a client sends PostgreSQL waits for the server's answer before the next is sent: a round trip
(~70 µs over loopback on this machine, several times that across a network). A command's writes (an inbox row
closed, another opened, a history record, its notices, the event's columns) need no answer until the command
commits, so on PostgreSQL the unit of work (:meth:`engine.store.db.Database.unit_of_work`) gives its transaction
a :class:`Batch`: the transaction's ``BEGIN``, the hot path's statements (:mod:`engine.store.statements`) and its
``COMMIT`` are queued in psycopg's pipeline mode, and all that is queued goes to the server, and comes back
answered, in one round trip when

- a statement's answer is needed (a read; an inbox row's id the first time it is asked for), or
- SQLAlchemy is about to send a statement of its own (it reads its answers at once, which pipeline mode does not
  allow), or
- the unit of work commits: the ``COMMIT`` goes with the writes still queued.

Statements run in the order they were queued, whatever their answers, so a command reads its own writes. A
statement that fails makes the server skip the rest of the batch, the ``COMMIT`` included; the error is raised
where the batch is sent (a record's number taken by a racing command, or an event saved at a version that moved,
become :class:`~engine.errors.Conflict` there, as they would have been at the statement), and the unit of work
rolls everything back. A check that needs the answers (an inserted row's id) runs once the batch is answered.

The transaction is the batch's own: the driver's connection is in autocommit mode while the batch lasts, so that
psycopg does not begin a transaction of its own (which it would send, and wait for, alone), and the batch's
``BEGIN`` opens it. SQLite runs in-process, with no round trips to save: there is no batch and every statement
runs at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from psycopg import errors as pg_errors
from psycopg import pq
from sqlalchemy import Connection, Engine, event

from engine.errors import changed_meanwhile

_KEY = "gridloop.batch"  # the batch of the transaction open on a pooled connection, in the connection's info
_RESTORE = "gridloop.batch.restore"  # the driver connection whose autocommit mode a batch set, likewise
# the unique constraint that two commands appending to one event's history at once both meet
_RACED = {"uq_history_event_id"}
# gridloop's commands rely on each statement seeing what was committed before it (a lock, then a fresh read)
BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED"


class Batch:
    """The statements queued on one PostgreSQL connection and not yet answered (see the module)."""

    __slots__ = ("driver", "_pipeline", "_checks")

    def __init__(self, driver: Any) -> None:
        self.driver = driver  # psycopg's connection
        self._pipeline: Any = None  # psycopg's pipeline, open while statements wait for their answers
        self._checks: list[Callable[[], None]] = []

    def queue(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        """Queue a statement and return its cursor (its answer is there once the batch is sent). The answers
        that have come back meanwhile are taken in as it is sent: an earlier statement's failure may be raised
        here."""
        if self._pipeline is None:
            self._pipeline = self.driver.pipeline()
            self._pipeline.__enter__()
        with self._failures():
            return self.driver.execute(sql, params, prepare=params is not None)

    def check(self, check: Callable[[], None]) -> None:
        """Run ``check`` once the batch is next answered (it raises to refuse the command)."""
        self._checks.append(check)

    def send(self) -> None:
        """Send what is queued and wait until all of it is answered (one round trip); then run the checks."""
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            with self._failures():
                pipeline.__exit__(None, None, None)
        checks, self._checks = self._checks, []
        for check in checks:
            check()

    @contextlib.contextmanager
    def _failures(self) -> Iterator[None]:
        """A queued statement's failure as the command's: a lost race is :class:`Conflict`; the checks that
        waited for the answers are dropped (the command is over)."""
        try:
            yield
        except pg_errors.IntegrityError as exc:
            self._checks.clear()
            if exc.diag.constraint_name in _RACED:
                raise changed_meanwhile() from exc
            raise
        except pg_errors.DivisionByZero as exc:  # (statements.save_event's check: see there)
            self._checks.clear()
            raise changed_meanwhile() from exc
        except pg_errors.Error:
            self._checks.clear()
            raise

    def abandon(self) -> None:
        """Leave pipeline mode without caring for the answers: the transaction is being rolled back."""
        pipeline, self._pipeline = self._pipeline, None
        self._checks.clear()
        if pipeline is not None:
            # the command failed already, or fails now: the rollback that follows undoes it all
            with contextlib.suppress(pg_errors.Error):
                pipeline.__exit__(None, None, None)


def of(conn: Connection) -> Batch | None:
    """The batch of the transaction on ``conn`` (None on SQLite, and outside a unit of work)."""
    return conn.info.get(_KEY)


def begin_on(conn: Connection) -> Batch | None:
    """Begin a unit of work's transaction on ``conn`` as a batch (PostgreSQL only): its ``BEGIN`` is queued."""
    if conn.dialect.name != "postgresql":
        return None
    driver: Any = conn.connection.driver_connection
    if driver.info.transaction_status != pq.TransactionStatus.IDLE or driver.autocommit:
        return None  # (not a connection as the pool gives it: left to the driver's own transaction)
    driver.autocommit = True
    conn.info[_RESTORE] = driver
    batch = conn.info[_KEY] = Batch(driver)
    batch.queue(BEGIN)
    return batch


def commit_on(conn: Connection) -> None:
    """Commit the batch's transaction: its ``COMMIT`` sent with whatever is still queued, in one round trip."""
    batch = conn.info.get(_KEY)
    if batch is not None:
        batch.queue("COMMIT")
        batch.send()


def end_on(conn: Connection) -> None:
    """Forget the batch, after its transaction was committed or rolled back, or before it is rolled back (it is
    left to the rollback: see :func:`restore_on`)."""
    batch = conn.info.pop(_KEY, None)
    if batch is not None:
        batch.abandon()


def restore_on(conn: Connection) -> None:
    """Give the driver's connection back its own transactions, once the unit of work's transaction is over."""
    driver = conn.info.pop(_RESTORE, None)
    if driver is None:
        return
    with contextlib.suppress(pg_errors.Error):
        if driver.info.transaction_status != pq.TransactionStatus.IDLE:
            driver.rollback()  # (the rollback SQLAlchemy sent found the driver's transaction idle)
        driver.autocommit = False


def install(engine: Engine) -> None:
    """Send a connection's batch before SQLAlchemy sends a statement of its own on it."""

    @event.listens_for(engine, "before_cursor_execute")
    def _send_first(conn: Connection, *_: Any) -> None:
        batch = conn.info.get(_KEY)
        if batch is not None:
            batch.send()
