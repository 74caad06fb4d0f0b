"""The instance store (engine/statements.py): its driver statements and the ORM read and write the same values.

Commands on a running instance write events, inbox rows, timers and history with fixed statements on the
driver's connection; everything else (queries, pages, audit, supervision) reads them through the ORM. These
tests hold the two to one meaning on SQLite and PostgreSQL: aware UTC datetimes, booleans, JSON (null
included), the version check, and a history record number taken twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from engine.errors import Conflict
from engine.store import statements
from engine.store.models import Event, HistoryEntry, Task, Timer

SHANGHAI = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=SHANGHAI)


def new_event(gl: Any, **values: Any) -> int:
    base = {
        "process_version_id": 1,
        "category": "0101",
        "grid_code": "330199001001001",
        "channel": "grid",
        "description": "路边有一堆暴露垃圾",
        "reporter": "gw_hb1",
        "reported_at": AT,
        "updated_at": AT,
        "state": "reported",
        "workflow_state": '{"format": 1}',
        "state_format": 1,
        "history_length": 0,
        "rework_count": 0,
        "reassign_count": 0,
        "reopen_count": 0,
        "completed": False,
    }
    base.update(values)
    with gl.db.unit_of_work() as session:
        return statements.insert_event(session.connection(), base).id


def open_task_row(event_id: int, n: int) -> dict[str, Any]:
    """The columns of an open inbox row of an event, its task in the instance numbered ``n`` (< 10)."""
    return {
        "event_id": event_id,
        "spiff_task_id": f"00000000-0000-4000-8000-00000000000{n}",
        "bpmn_id": "accept",
        "name": "受理",
        "role": "intake",
        "scope_code": "330199",
        "status": "open",
        "created_at": AT,
    }


def test_what_the_store_writes_the_orm_reads_as_the_same_values(gl):
    event_id = new_event(gl, location={"lat": 30.25, "lng": 120.17}, closed_on_time=True, completed=True)
    with gl.db.reading() as session:
        event = session.get(Event, event_id)
        assert event.reported_at == AT and event.reported_at.tzinfo is not None
        assert event.reported_at.utcoffset() == timedelta(0)  # stored and read back in UTC
        assert (event.location, event.closed_on_time, event.completed, event.version) == (
            {"lat": 30.25, "lng": 120.17},
            True,
            True,
            1,
        )
        assert event.workflow_state == '{"format": 1}'
        # a query that compares datetimes in SQL sees the store's datetimes in order
        assert (
            session.scalar(select(Event.id).where(Event.reported_at < AT + timedelta(microseconds=1)))
            == event_id
        )
        assert session.scalar(select(Event.id).where(Event.reported_at > AT)) is None


def test_what_the_orm_writes_the_store_reads_as_the_same_values(gl):
    event_id = new_event(gl)
    with gl.db.unit_of_work() as session:
        event = session.get(Event, event_id)
        event.location = None
        event.due_at = AT + timedelta(days=2)
        event.closed_on_time = False
        task = Task(
            event_id=event_id,
            spiff_task_id="00000000-0000-4000-8000-000000000001",
            bpmn_id="accept",
            name="受理",
            role="intake",
            scope_code="330199",
            status="open",
            created_at=AT,
            due_at=AT + timedelta(hours=4),
        )
        session.add(task)
        session.flush()
        task_id = task.id
    with gl.db.reading() as session:
        row, event_row = statements.task_and_event(session.connection(), task_id)
    assert (row.id, row.event_id, row.status, row.assignee) == (task_id, event_id, "open", None)
    assert row.due_at == AT + timedelta(hours=4) and row.created_at.tzinfo == UTC
    assert (event_row.due_at, event_row.closed_on_time, event_row.location) == (
        AT + timedelta(days=2),
        False,
        None,
    )
    assert event_row.version == 2 and not hasattr(event_row, "workflow_state")


def test_saving_writes_only_the_changed_columns_and_moves_the_version(gl):
    event_id = new_event(gl)
    with gl.db.unit_of_work() as session:
        row = statements.event(session.connection(), event_id)
        row.state = "open"
        row.state = "open"
        assert row.changes() == {"state": "open"}
        statements.save_event(session.connection(), row, '{"format": 1, "x": 1}')
        assert (row.version, row.changes()) == (2, {})
    with gl.db.reading() as session:
        event = session.get(Event, event_id)
        assert (event.state, event.version, event.workflow_state) == ("open", 2, '{"format": 1, "x": 1}')
        assert event.description == "路边有一堆暴露垃圾"


def test_a_stale_event_row_is_a_conflict_and_nothing_of_the_command_is_kept(gl):
    event_id = new_event(gl)
    with gl.db.reading() as session:
        stale = statements.event(session.connection(), event_id)
    with gl.db.unit_of_work() as session:
        fresh = statements.event(session.connection(), event_id)
        fresh.state = "open"
        statements.save_event(session.connection(), fresh)
    with pytest.raises(Conflict), gl.db.unit_of_work() as session:
        statements.insert_task(session.connection(), open_task_row(event_id, 2))
        stale.state = "rejected"
        statements.save_event(session.connection(), stale)
    with gl.db.reading() as session:
        assert session.get(Event, event_id).state == "open"
        assert session.scalars(select(Task).where(Task.event_id == event_id)).all() == []


def first_record(event_id: int) -> dict[str, Any]:
    """The columns of an event's first history record (its report)."""
    return {
        "event_id": event_id,
        "seq": 1,
        "at": AT,
        "actor": "gw_hb1",
        "action": "report",
        "process_version_id": 1,
        "data": {"report": {"description": "路边有一堆暴露垃圾"}, "none": None},
        "hash": "0" * 64,
    }


def test_a_history_record_number_taken_twice_is_a_conflict(gl):
    event_id = new_event(gl)
    record = first_record(event_id)
    with gl.db.unit_of_work() as session:
        statements.insert_history(session.connection(), record)
    with pytest.raises(Conflict), gl.db.unit_of_work() as session:
        statements.insert_history(session.connection(), dict(record, hash="1" * 64))
    with gl.db.reading() as session:
        (entry,) = session.scalars(select(HistoryEntry).where(HistoryEntry.event_id == event_id)).all()
        assert (entry.hash, entry.data, entry.at) == ("0" * 64, record["data"], AT)


def test_timers_round_trip_and_rows_refuse_unknown_columns_and_naive_times(gl):
    event_id = new_event(gl)
    with gl.db.unit_of_work() as session:
        timer = statements.insert_timer(
            session.connection(),
            {
                "event_id": event_id,
                "spiff_task_id": "00000000-0000-4000-8000-000000000003",
                "bpmn_id": "deadline",
                "due_at": AT,
                "status": "pending",
                "created_at": AT,
            },
        )
        timer.status, timer.fired_at = "fired", AT + timedelta(seconds=1)
        statements.save_timer(session.connection(), timer)
        with pytest.raises(AttributeError):
            timer.colour = "red"
    with gl.db.reading() as session:
        stored = session.get(Timer, timer.id)
        assert (stored.status, stored.fired_at, stored.due_at) == ("fired", AT + timedelta(seconds=1), AT)
        assert statements.pending_timers(session.connection(), event_id) == []
    with pytest.raises(ValueError, match="timezone-aware"), gl.db.unit_of_work() as session:
        row = statements.event(session.connection(), event_id)
        row.updated_at = datetime(2026, 11, 23, 9, 0)
        statements.save_event(session.connection(), row)


def test_a_read_row_converts_a_column_when_it_is_read_and_setting_its_value_again_changes_nothing(gl):
    event_id = new_event(gl, location={"lat": 30.25, "lng": 120.17})
    with gl.db.unit_of_work() as session:
        event = statements.event(session.connection(), event_id)
        event.reported_at = AT  # the same moment, not yet read: compared as a moment, not as stored text
        event.location = {"lat": 30.25, "lng": 120.17}
        assert event.changes() == {}
        assert event.reported_at == AT and event.reported_at.tzinfo is not None
        assert event.location == {"lat": 30.25, "lng": 120.17}
        event.reported_at = AT + timedelta(minutes=1)
        assert event.changes() == {"reported_at": AT + timedelta(minutes=1)}
        assert event.closed_at is None and event.state_seq == 0
