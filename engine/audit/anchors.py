"""Verified anchors: what the last clean ``audit verify`` saw, so that the next one verifies only what changed.

Replaying every case is what makes a full verification slow (a few milliseconds per case, years of cases). An
anchor is a signed file ``anchor-<UTC time>Z.jsonl.gz`` beside the checkpoints (same directory, same key, the
same file layout as :func:`engine.audit.checkpoints.write_signed`), written by a verification that passed, one
line per event it found sound::

    {"format": "gridloop-audit-anchor/1", "at": "<ISO time>", "events": n, "full": true|false}
    [event id, history length, head, digest]

The ``digest`` (:func:`digests`) is the SHA-256 of the event's row (every column but the stored workflow state
and the search terms), of its inbox, timer and supervision rows, and of the MAC of its last history record.
An incremental verification (:func:`engine.audit.verification.verify_all` with ``incremental``) takes the newest
anchor whose signature holds and verifies fully — chain, checkpoints, replay, facts, mirrors — every event that
is new, whose chain grew, or whose digest changed; an event whose length, head and digest are the anchor's is
held by the anchor. So a change to a case's counted facts or to its inbox, timer and sheet rows is found at
once; what only the full verification finds is a record rewritten *inside* an unchanged chain, or a changed
stored workflow state — reading every record and state is what costs, and ``audit verify --full`` (monthly, or
after any doubt) does it. An anchor also counts as a checkpoint for the records it saw: its claims are held
like a checkpoint's (:meth:`engine.audit.checkpoints.Claims.hold`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Table, text
from sqlalchemy.orm import Session

from engine.audit.checkpoints import Unreadable, read_signed, stamped, write_signed
from engine.store.models import Event, SupervisionSheet, Task, Timer

FORMAT = "gridloop-audit-anchor/1"
PREFIX = "anchor"
FILE_GLOB = "anchor-*.jsonl.gz"
BATCH = 2000  # events whose rows are read in one query per table

Seen = tuple[int, str | None, str]
"""What an anchor says of one event: (history length, head, digest)."""

_UNDIGESTED = ("workflow_state", "search_terms")  # read only by the full verification (and never evaluated)


@dataclass
class Anchor:
    """The newest anchor whose signature holds (``name`` None: there is none), and what was wrong with newer
    ones (each problem names its file)."""

    name: str | None = None
    at: datetime | None = None
    full: bool = False
    events: dict[int, Seen] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def newest(directory: Path, public_key: Ed25519PublicKey | None) -> Anchor:
    """The newest anchor in ``directory`` that ``public_key`` verifies; a newer file that does not hold is named
    in the problems (and the one before it used)."""
    anchor = Anchor()
    files = sorted(directory.glob(FILE_GLOB), key=written_order) if directory.is_dir() else []
    if not files or public_key is None:
        return anchor
    for path in reversed(files):
        try:
            header, lines = read_signed(path, public_key, FORMAT)
            seen = {int(e): (int(n), head, str(digest)) for e, n, head, digest in lines}
        except Unreadable as exc:
            anchor.problems.append(f"anchor {path.name}{'' if str(exc).startswith('cannot') else ':'} {exc}")
            continue
        except (ValueError, TypeError) as exc:
            anchor.problems.append(f"anchor {path.name} cannot be read: {exc}")
            continue
        anchor.name, anchor.full, anchor.events = path.name, bool(header.get("full")), seen
        anchor.at = stamped(path, PREFIX)
        return anchor
    return anchor


def written_order(path: Path) -> tuple[str, int]:
    """The order anchors were written in: by the time in the name, then by the number a second file of the same
    second takes (``anchor-<time>Z-2.jsonl.gz`` after ``anchor-<time>Z.jsonl.gz``)."""
    stem = path.name.removeprefix(f"{PREFIX}-").removesuffix(".jsonl.gz")
    stamp, _, number = stem.partition("-")
    return stamp, int(number) if number.isdigit() else 1


def write(
    directory: Path, key: Ed25519PrivateKey, now: datetime, events: dict[int, Seen], full: bool
) -> Path:
    """Write an anchor of ``events`` (those a verification found sound, as it saw them); return its file."""
    at = now.astimezone(UTC)
    header = {"format": FORMAT, "at": at.isoformat(), "events": len(events), "full": full}
    lines = (
        f"[{event_id},{length},{json.dumps(head)},{json.dumps(digest)}]\n"
        for event_id, (length, head, digest) in sorted(events.items())
    )
    return write_signed(directory, PREFIX, header, lines, key)


def _canonical(row: Any) -> bytes:
    """A row's values as the driver gave them, as JSON: a digest of what the database holds, not of what a
    column type makes of it (which costs a conversion per value, a million rows a run)."""
    return orjson.dumps(tuple(row), default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def _ranges(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), BATCH):
        yield list(ids[start : start + BATCH])


def digests(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """The digest of each of ``ids`` (sorted), as the module describes it: the rows of a batch of events read in
    one query per table, by id range, as the driver gives them."""
    events = cast(Table, Event.__table__)
    columns = ", ".join(f"e.{c.name}" for c in events.c if c.name not in _UNDIGESTED)
    last = text(
        "SELECT e.id, h.hash FROM events AS e LEFT JOIN history AS h"
        " ON h.event_id = e.id AND h.seq = e.history_length WHERE e.id BETWEEN :low AND :high"
    )
    rows = text(f"SELECT {columns} FROM events AS e WHERE e.id BETWEEN :low AND :high")
    mirrors = [
        (
            name.encode(),
            text(
                f"SELECT r.event_id, r.* FROM {name} AS r WHERE r.event_id BETWEEN :low AND :high ORDER BY r.id"
            ),
        )
        for name in (cast(Table, model.__table__).name for model in (Task, Timer, SupervisionSheet))
    ]
    found: dict[int, str] = {}
    for batch in _ranges(ids):
        span = {"low": batch[0], "high": batch[-1]}
        hashers = {event_id: hashlib.sha256() for event_id in batch}
        for event_id, mac in session.execute(last, span).all():
            if (hasher := hashers.get(event_id)) is not None:
                hasher.update(f"last:{mac}\n".encode())
        for row in session.execute(rows, span).all():
            if (hasher := hashers.get(row[0])) is not None:
                hasher.update(b"event:" + _canonical(row) + b"\n")
        for name, query in mirrors:
            for row in session.execute(query, span).all():
                if (hasher := hashers.get(row[0])) is not None:
                    hasher.update(name + b":" + _canonical(row) + b"\n")
        found.update((event_id, hasher.hexdigest()) for event_id, hasher in hashers.items())
    return found
