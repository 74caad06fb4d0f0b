"""The notice centre's writes: marking one's own notices read.

Each is a command like any other (one transaction through the pipeline); neither writes history, since a
notice is the reader's own mail, not the case's. A notice of someone else answers exactly like one that does
not exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from engine.commands.pipeline import Step
from engine.errors import NotFound
from engine.reads.notices import notice_row
from engine.store.models import Notice


def mark_read(step: Step, notice_id: int) -> dict[str, Any]:
    """Mark one of the actor's notices read (a notice read already keeps the time it was first read)."""
    notice = step.session.scalar(
        select(Notice).where(Notice.id == notice_id, Notice.username == step.actor.username)
    )
    if notice is None:
        raise NotFound("no notice {notice}", code="notice.not_found", notice=notice_id)
    if notice.read_at is None:
        notice.read_at = step.now
    step.session.flush()
    return notice_row(notice)


def mark_all_read(step: Step) -> int:
    """Mark every unread notice of the actor read; return how many were unread."""
    moved = step.session.execute(
        update(Notice)
        .where(Notice.username == step.actor.username, Notice.read_at.is_(None))
        .values(read_at=step.now)
        .execution_options(synchronize_session=False)
    )
    return int(moved.rowcount)  # type: ignore[attr-defined]
