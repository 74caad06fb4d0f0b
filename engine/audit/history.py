"""The append-only, chained history of each event, every record authenticated with a key the database does not hold.

Every command appends records here in the same transaction as the state change it describes. Each record
carries the MAC of the previous record of the same event and the MAC (HMAC-SHA256 under an audit key, see
:mod:`engine.audit.keys`) of its own canonical content, chained to the previous one, and the id of the key; the
event row keeps the chain head, so an edited, deleted or inserted row breaks the chain visibly — and as the key
is not in the database, whoever rewrites records there cannot recompute the chain. (The columns keep their
names ``hash`` and ``prev_hash``.)
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from engine.audit.keys import AuditKeys, audit_keys, mac
from engine.store import statements
from engine.store.db import JsonText
from engine.store.models import HistoryEntry


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, non-ASCII kept, datetimes as ISO strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot put {type(value).__name__} into history")


def record_content(
    event_id: int,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    process_version_id: int,
    bpmn_id: str | None,
    task_id: int | None,
    data: dict[str, Any],
    prev_hash: str | None,
    data_text: str | None = None,
) -> str:
    """The canonical text a record's MAC is computed over, chained to ``prev_hash`` (``data_text``: the data's
    canonical text, when the caller has it already)."""
    # the canonical encoding of the record's object, with the data's own canonical text put in the place of a
    # stand-in: keys are sorted, so "data" sits between "bpmn_id" and "event", and a JSON string cannot hold
    # an unescaped quote, so the stand-in's text occurs once (``tests/test_audit.py`` holds it equal to
    # encoding the whole object)
    frame = canonical(
        {
            "event": event_id,
            "seq": seq,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "version": process_version_id,
            "bpmn_id": bpmn_id,
            "task": task_id,
            "data": 0,
            "prev": prev_hash,
        }
    )
    if data_text is None:
        data_text = canonical(data)
    return frame.replace(',"data":0,"event":', f',"data":{data_text},"event":', 1)


def record_hash(
    event_id: int,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    process_version_id: int,
    bpmn_id: str | None,
    task_id: int | None,
    data: dict[str, Any],
    prev_hash: str | None,
    data_text: str | None = None,
    *,
    key: bytes,
) -> str:
    """The HMAC-SHA256 under ``key`` of a record's canonical content (:func:`record_content`), in hex."""
    content = record_content(
        event_id, seq, at, actor, action, process_version_id, bpmn_id, task_id, data, prev_hash, data_text
    )
    return mac(key, content)


def entry_content(entry: Any) -> str:
    """The canonical content of a stored record (a model, or any object with its attributes)."""
    return record_content(
        entry.event_id,
        entry.seq,
        entry.at,
        entry.actor,
        entry.action,
        entry.process_version_id,
        entry.bpmn_id,
        entry.task_id,
        entry.data,
        entry.prev_hash,
    )


def entry_hash(entry: Any, keys: AuditKeys | None = None) -> str | None:
    """The MAC a stored record should carry, recomputed from its content under the key it names (the audit
    compares the two); None when ``keys`` (default: the process's) do not hold that key."""
    secret = (keys or audit_keys()).secret(getattr(entry, "key_id", None))
    return None if secret is None else mac(secret, entry_content(entry))


def append(
    conn: Connection,
    keys: AuditKeys,
    event: Any,
    at: datetime,
    actor: str,
    action: str,
    data: dict[str, Any],
    bpmn_id: str | None = None,
    task_id: int | None = None,
) -> str:
    """Append one record to ``event``'s history, signed with the signing key of ``keys``, and move the chain
    head on ``event``; return the record's MAC.

    The record is inserted at once, on the command's connection (in its transaction); ``event`` (a model or a
    :class:`~engine.store.statements.Row`) is saved by the command with its other changes.
    """
    seq = event.history_length + 1
    data_text = canonical(data)  # stored as it is: what is stored is what was authenticated
    content = record_content(
        event.id,
        seq,
        at,
        actor,
        action,
        event.process_version_id,
        bpmn_id,
        task_id,
        data,
        event.history_head,
        data_text,
    )
    key_id, digest = keys.sign(content)
    statements.insert_history(
        conn,
        {
            "event_id": event.id,
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "process_version_id": event.process_version_id,
            "bpmn_id": bpmn_id,
            "task_id": task_id,
            "data": JsonText(data_text),
            "prev_hash": event.history_head,
            "hash": digest,
            "key_id": key_id,
        },
    )
    event.history_length = seq
    event.history_head = digest
    return digest


def entries(session: Session, event_id: int) -> list[HistoryEntry]:
    """An event's history in order."""
    return list(
        session.scalars(
            select(HistoryEntry).where(HistoryEntry.event_id == event_id).order_by(HistoryEntry.seq)
        )
    )


def data_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Top-level variables that differ: ``{name: [old, new]}`` (``None`` for absent)."""
    changes: dict[str, list[Any]] = {}
    for key, new in after.items():
        old = before.get(key)
        if old != new:
            changes[key] = [old, new]
    for key, old in before.items():
        if key not in after and old is not None:
            changes[key] = [old, None]
    return dict(sorted(changes.items()))
