"""The demo's seeded history (``simulate --past``, what ``make demo`` runs once): everything in it is dated in
the past, supervision ran along the way, and a few cases are left open for the demo staff to pick up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.app import Gridloop
from engine.demo.simulate import simulate
from engine.store.models import Attachment, Event, HistoryEntry, SupervisionSheet, Task, Timer
from tests.conftest import START

PAST = timedelta(days=7)
# every column that says when something happened (not when it falls due)
HAPPENED = {
    Event: ("reported_at", "updated_at", "opened_at", "closed_at"),
    Task: ("created_at", "claimed_at", "completed_at"),
    HistoryEntry: ("at",),
    SupervisionSheet: ("issued_at", "escalated_at", "replied_at", "cleared_at"),
    Attachment: ("uploaded_at",),
    Timer: ("created_at", "fired_at"),
}


def test_simulate_past_dates_the_whole_history_before_now_and_leaves_open_tasks(gl: Gridloop) -> None:
    summary = simulate(gl, 40, seed=3, past=PAST, left_open=5)

    assert gl.now() == START, "the engine gets its own clock back"
    assert summary["events"] == 40
    with gl.db.reading() as session:
        for model, columns in HAPPENED.items():
            for column in columns:
                moments = [m for m in session.scalars(select(getattr(model, column))) if m is not None]
                if model in (Event, Task, HistoryEntry) and column == columns[0]:
                    assert moments, f"{model.__name__}.{column} is never set"
                # the walkthrough's cases are reported as of now (START); nothing later
                late = [m for m in moments if not START - PAST <= m <= START]
                assert not late, f"{model.__name__}.{column} outside the last {PAST}: {late[:3]}"
        open_tasks = list(session.scalars(select(Task).where(Task.status == "open")))
        sheets = session.scalar(select(SupervisionSheet.id).limit(1))
        replies = list(
            session.scalars(select(SupervisionSheet.replied_at).where(SupervisionSheet.reply.is_not(None)))
        )
    assert open_tasks, "the demo staff find tasks in their inboxes"
    assert summary["open_tasks"] == len(open_tasks)
    assert summary["by_outcome"]["closed"] > 0
    assert sheets is not None, "supervision issued sheets along the way"
    assert summary["supervision"]["issued"] > 0
    assert summary["supervision"]["replied"] == len(replies) > 0, "departments answered some sheets"
    assert all(START - PAST <= r < START for r in replies)


README_WALK = {
    "accept": "intake",
    "dispatch": "dispatcher_hb",
    "handle": "h_dh_hw",
    "verify": "gw_hb1",
    "close": "leader",
    "follow_up": "intake",
}


def test_simulate_past_leaves_a_case_for_each_account_of_the_readmes_walk(gl: Gridloop) -> None:
    summary = simulate(gl, 10, seed=5, past=PAST, left_open=2)
    assert list(summary["walkthrough"]) == list(README_WALK)
    # the month's notices read; the bell counts the walkthrough's (intake: six cases offered, one follow-up)
    assert 0 < gl.notices("intake", unread_only=True).counts["unread"] <= len(README_WALK) + 1
    for step, username in README_WALK.items():
        code = summary["walkthrough"][step]
        rows, _total = gl.inbox(username, "claimable")
        assert any(r["event_code"] == code and r["step"] == step for r in rows), (step, username)


def test_simulate_past_refuses_a_length_that_is_not_positive(gl: Gridloop) -> None:
    with pytest.raises(ValueError, match="past must be a positive length of time"):
        simulate(gl, 5, past=timedelta())
    assert gl.now() == START
