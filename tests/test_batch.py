"""A command's statements on PostgreSQL go to the server in batches (engine/store/batch.py).

The hot path's writes wait for the next statement whose answer is needed, for SQLAlchemy's next statement or for
the commit, and all that waits goes in one round trip. These tests hold the batch to what the statements meant
one at a time: a command reads its own writes (through the store and through the ORM), an inserted row's id is
there when asked for, a queued statement that fails fails the command and keeps nothing of it, and a command
makes few round trips. On SQLite there is no batch: every statement runs at once.
"""

from __future__ import annotations

import contextlib

import pytest
from psycopg import pq
from sqlalchemy import select

from bench.engine_bench import protocol_trace, round_trips
from engine.errors import Conflict
from engine.store import batch as batches
from engine.store import statements
from engine.store.models import Event, HistoryEntry, Task
from tests.test_store import first_record, new_event, open_task_row


def test_a_unit_of_work_batches_on_postgresql_only(gl):
    with gl.db.unit_of_work() as session:
        batch = batches.of(session.connection())
        assert (batch is not None) == (gl.db.dialect == "postgresql")
    with gl.db.reading() as session:
        assert batches.of(session.connection()) is None  # reads run at once


def test_a_command_reads_its_own_queued_writes_through_the_store_and_the_orm(gl):
    event_id = new_event(gl)
    with gl.db.unit_of_work() as session:
        conn = session.connection()
        first, second = (statements.insert_task(conn, open_task_row(event_id, n)) for n in (1, 2))
        first.status = "completed"
        statements.save_task(conn, first)
        event_row = statements.event(conn, event_id)
        event_row.state = "open"
        statements.save_event(conn, event_row)
        # the ORM's statement sends the batch first, so it finds the rows as the store left them
        query = select(Task.spiff_task_id, Task.status).where(Task.event_id == event_id)
        statuses = {spiff_id: status for spiff_id, status in session.execute(query)}
        assert statuses == {first.spiff_task_id: "completed", second.spiff_task_id: "open"}
        assert [t.spiff_task_id for t in statements.open_tasks(conn, event_id)] == [second.spiff_task_id]
        assert session.scalar(select(Event.state).where(Event.id == event_id)) == "open"
        assert isinstance(first.id, int) and isinstance(second.id, int) and first.id < second.id
    with gl.db.reading() as session:
        assert session.get(Task, second.id).status == "open"
        assert session.get(Event, event_id).version == 2


def test_an_inserted_rows_id_is_known_after_the_commit_without_being_asked_before(gl):
    event_id = new_event(gl)
    with gl.db.unit_of_work() as session:
        row = statements.insert_task(session.connection(), open_task_row(event_id, 3))
    with gl.db.reading() as session:  # the id was read before the commit; the transaction is gone now
        assert session.get(Task, row.id).spiff_task_id == row.spiff_task_id


def test_a_queued_statement_that_fails_fails_the_command_at_the_next_statement_and_keeps_nothing(gl):
    event_id = new_event(gl)
    record = first_record(event_id)
    with gl.db.unit_of_work() as session:
        statements.insert_history(session.connection(), record)
    with pytest.raises(Conflict), gl.db.unit_of_work() as session:
        conn = session.connection()
        statements.insert_task(conn, open_task_row(event_id, 4))
        statements.insert_history(conn, dict(record, hash="1" * 64))  # the number is taken
        session.execute(select(Task.id))  # SQLAlchemy's statement sends the batch: the failure is raised here
        pytest.fail("the failed record went unnoticed")
    with gl.db.reading() as session:
        assert session.scalars(select(Task).where(Task.event_id == event_id)).all() == []
        assert len(session.scalars(select(HistoryEntry).where(HistoryEntry.event_id == event_id)).all()) == 1


def test_a_step_of_the_loop_makes_few_round_trips_on_postgresql(gl, driver):
    if gl.db.dialect != "postgresql":
        with gl.db.unit_of_work() as session:  # SQLite is in the process: nothing to count, nothing batched
            assert batches.of(session.connection()) is None
        return
    dispatched = {"dispatch_action": "assign", "department": "DH-HW"}
    first, second = driver.report("gw_hb1"), driver.report("gw_hb1")
    for event_id in (first, second):
        driver.complete("intake", event_id, "accept", {"decision": "accept"})
    driver.complete("dispatcher", first, "dispatch", dispatched)  # the caches know the dispatcher now
    dispatch = driver.open_task(second, "dispatch")
    with protocol_trace(gl.db.engine) as trace:
        gl.complete("dispatcher", dispatch["id"], dispatched)
    # [BEGIN · the task and its event read · the event locked] · [the task closed · the next one opened · the
    # step's earlier completions asked · the history record] · [the notices · the event saved · COMMIT] — one
    # statement at a time, the same step made eleven
    assert round_trips(trace) == 3


@pytest.mark.parametrize("fails", [False, True], ids=["commits", "fails"])
def test_a_unit_of_work_gives_its_connection_back_as_the_pool_gave_it(gl, fails):
    event_id = new_event(gl)
    with contextlib.suppress(RuntimeError), gl.db.unit_of_work() as session:
        conn = session.connection()
        driver = conn.connection.driver_connection
        row = statements.event(conn, event_id)
        row.state = "open"
        statements.save_event(conn, row)
        if fails:
            raise RuntimeError("the command failed")
    if gl.db.dialect == "postgresql":  # its own transactions again (the batch's were in autocommit mode)
        assert (driver.autocommit, driver.info.transaction_status) == (False, pq.TransactionStatus.IDLE)
    else:
        assert not driver.in_transaction
    with gl.db.reading() as session:
        assert session.get(Event, event_id).state == ("reported" if fails else "open")
