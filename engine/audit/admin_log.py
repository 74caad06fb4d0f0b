"""The admin log: one append-only chain of the administrative changes that are not about one event — settings,
the holiday calendar, deployments, staff and their roles — each record authenticated like a history record
(HMAC-SHA256 under an audit key kept outside the database, :mod:`engine.audit.keys`) and chained to the one
before.

The log is one chain however many processes write it: an append reads the last record and links to it, so two
appends must not both read the same last record. SQLite's writers are serialised already (a command takes
the write lock at ``BEGIN IMMEDIATE``); on PostgreSQL an append first takes a transaction-scoped advisory lock,
held until its command commits, so the next append reads the record this one wrote.
:meth:`~engine.commands.pipeline.Step.log` is the only writer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from engine.audit.checkpoints import Claim, claim_problems
from engine.audit.history import canonical
from engine.audit.keys import AuditKeys
from engine.store.db import connection_of
from engine.store.models import AdminLogEntry

# the advisory lock the appends of the admin log take on PostgreSQL (any number the product uses for nothing
# else: these are the bytes of "gl-admin")
APPEND_LOCK = 0x676C2D61646D696E


def content(at: datetime, actor: str, action: str, data: Any, prev_hash: str | None) -> str:
    """The canonical text an admin-log record's MAC is computed over."""
    return canonical(
        {"at": at.isoformat(), "actor": actor, "action": action, "data": data, "prev": prev_hash}
    )


def entry_content(entry: Any) -> str:
    """The canonical content of a stored admin-log record (a model, or any object with its attributes)."""
    return content(entry.at, entry.actor, entry.action, entry.data, entry.prev_hash)


def append(
    session: Session, keys: AuditKeys, at: datetime, actor: str, action: str, data: dict[str, Any]
) -> AdminLogEntry:
    """Append a record of an administrative change, signed with the signing key of ``keys``, after the last
    one (see the module's documentation for why two appends never link to the same record)."""
    if connection_of(session).dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": APPEND_LOCK})
    last = session.scalar(select(AdminLogEntry).order_by(AdminLogEntry.id.desc()).limit(1))
    prev_hash = last.hash if last is not None else None
    data = json.loads(canonical(data))
    key_id, digest = keys.sign(content(at, actor, action, data, prev_hash))
    entry = AdminLogEntry(
        at=at, actor=actor, action=action, data=data, prev_hash=prev_hash, hash=digest, key_id=key_id
    )
    session.add(entry)
    session.flush()
    return entry


def entries(session: Session) -> Iterable[AdminLogEntry]:
    """The admin log in order."""
    return session.scalars(select(AdminLogEntry).order_by(AdminLogEntry.id))


def chain_problems(records: Iterable[Any], keys: AuditKeys, claim: Claim | None = None) -> list[str]:
    """What is wrong with the admin log (empty when intact): each record authentic under its key and linked to
    the one before, and the checkpoints' longest claim on it still true (see :mod:`engine.audit.checkpoints`)."""
    problems = []
    previous = None
    macs: dict[int, str] = {}
    for position, entry in enumerate(records, start=1):
        if entry.prev_hash != previous:
            problems.append(f"admin log record {entry.id} does not link to the record before it")
        problem = keys.problem(getattr(entry, "key_id", None), entry_content(entry), entry.hash)
        if problem is not None:
            problems.append(f"admin log record {entry.id} ({entry.action}) {problem}")
        previous = entry.hash
        macs[position] = entry.hash
    return problems + claim_problems(claim, macs, len(macs), "admin log records")


def problems(session: Session, keys: AuditKeys, claim: Claim | None = None) -> list[str]:
    """What is wrong with the stored admin log (see :func:`chain_problems`)."""
    return chain_problems(entries(session), keys, claim)
