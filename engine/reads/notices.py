"""The notice centre (通知): the actor's own notices, newest first, and how many are unread (for the bell).

Only ever the actor's own: a notice is addressed to one user, and nobody reads another's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from engine.reads.listing import Listing
from engine.reads.reader import Reader
from engine.store.models import Notice


def notice_row(notice: Notice) -> dict[str, Any]:
    """A notice as the notice centre and the API show it."""
    return {
        "id": notice.id,
        "kind": notice.kind,
        "event_id": notice.event_id,
        "task_id": notice.task_id,
        "data": notice.data,
        "created_at": notice.created_at,
        "read_at": notice.read_at,
        "unread": notice.read_at is None,
    }


def unread_count(reader: Reader) -> int:
    """How many of the actor's notices are unread."""
    query = select(func.count(Notice.id)).where(
        Notice.username == reader.actor.username, Notice.read_at.is_(None)
    )
    return reader.session.scalar(query) or 0


def notice_page(reader: Reader, page: int = 1, per_page: int = 20, unread_only: bool = False) -> Listing:
    """One page of the actor's notices, newest first; ``counts`` holds ``unread`` (all of them, not the page's)."""
    mine = Notice.username == reader.actor.username
    query = select(Notice).where(mine)
    if unread_only:
        query = query.where(Notice.read_at.is_(None))
    total = reader.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = reader.session.scalars(
        query.order_by(Notice.created_at.desc(), Notice.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return Listing([notice_row(n) for n in rows], total, page, per_page, {"unread": unread_count(reader)})
