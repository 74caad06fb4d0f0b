"""The overview (the start page and the health check): what is deployed and how many events stand in each state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.store.models import Event, ProcessVersion, User


def summary(session: Session) -> dict[str, Any]:
    """Event counts by state, the deployed versions (newest first, hash shortened) and the number of staff."""
    counts = dict(session.execute(select(Event.state, func.count()).group_by(Event.state)).all())
    versions = [
        {
            "id": v.id,
            "process": v.process_id,
            "hash": v.content_hash[:12],
            "deployed_at": v.deployed_at.isoformat(),
        }
        for v in session.scalars(select(ProcessVersion).order_by(ProcessVersion.id.desc()))
    ]
    users = session.scalar(select(func.count()).select_from(User)) or 0
    return {"events": counts, "versions": versions, "users": users}
