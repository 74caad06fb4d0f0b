"""Retention: finished cases older than the district keeps them move out of the live database into archive
files that ``gridloop audit verify`` still checks (the ``retention_years`` setting says how old; null keeps
every case).

A case is *finished* when its process instance has run to its end (``events.completed``: closed and followed
up, rejected at intake, voided …); it is archived when it finished — its row last changed — before the
cut-off. The event with the highest id always stays: SQLite gives a new row the highest id plus one, and an
archived id must never be given to a new event (the admin log and the checkpoints name events by id).

**Batches.** A run archives the finished cases a batch at a time (:data:`BATCH` events, ``--batch``), each
batch one command of its own (:func:`archive`): one transaction, one archive file, one admin-log record — so
a run over 100,000 cases holds one batch in memory (and one event's rows, or one attachment, at a time while
it writes), and a run that stops half-way leaves whole batches archived and the rest live.

**The file** ``archive-<UTC time>Z-<first id>-<last id>.jsonl.gz`` in the archive folder (``--dir``, else
``GRIDLOOP_ARCHIVE_DIR``, else ``instance/archive``) is gzip-compressed JSON lines (two gzip members, read as
one stream)::

    {"format": "gridloop-archive/1", "created_at", "before", "events", "records", "tasks", "timers",
     "sheets", "attachments", "versions", "body_sha256"}            the header
    {"kind": "version", "id", "process_id", "content_hash", "files", "deployed_at", "deployed_by"}
    {"kind": "event", "event": {…every column…}, "history": [{…every column: hash, prev_hash, key_id, data…}],
     "tasks": [...], "timers": [...], "sheets": [...], "attachments": [ids]}          one line per event
    {"kind": "attachment", …its metadata…, "content": "<base64>", "removed": true|false}

Times are ISO 8601 strings, history records are as stored (their data is the JSON whose canonical text was
authenticated), ``body_sha256`` is the SHA-256 of every line after the header, and the process versions are
those the events ran on (every version their records name), so that the replay can be run from the file
alone. An attachment is written whole wherever an archived event used it; it is ``removed`` from the live
database when no remaining event uses it.

**Order of a batch.** Take the archive lock (PostgreSQL: a transaction-scoped advisory lock, refused with
:class:`~engine.errors.Conflict` ``archive.running`` while another run holds it; SQLite: the command's write
lock), select and lock the batch's events, write the file under a temporary name, fsync it, link it into
place (never over another file) and fsync the folder; only then delete the events' rows — history, inbox
rows, timers, sheets, attachment links, the staff's notices of them (and their outbox rows: mail, not the
case's record, so not archived), the events, the attachments nobody uses any more — and log
``archived`` with the file's name, its SHA-256 and each event's ``[id, history length, head]``. If anything
fails before the commit, the file is removed and the database keeps everything (:func:`archive_all`
removes it when the commit itself fails).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Select, Table, delete, func, select, text
from sqlalchemy.orm import Session

from engine.audit.verification import ARCHIVE_FORMAT, archived_value
from engine.commands.pipeline import Abandon, Step, system
from engine.errors import Conflict, GridloopError
from engine.store.models import (
    Attachment,
    AttachmentLink,
    Event,
    HistoryEntry,
    Notice,
    OutboxMessage,
    ProcessVersion,
    SupervisionSheet,
    Task,
    Timer,
)

if TYPE_CHECKING:
    from engine.app import Gridloop

BATCH = 500  # events per file and transaction
MAX_BATCH = 5000  # the ids of a batch are bound into IN lists
_CHUNK = 100  # events whose rows are read at once while a file is written
# the advisory lock an archive run takes on PostgreSQL (the bytes of "gl-archv")
ARCHIVE_LOCK = 0x676C2D6172636876

_EVENTS = cast(Table, Event.__table__)
_HISTORY = cast(Table, HistoryEntry.__table__)
_TASKS = cast(Table, Task.__table__)
_TIMERS = cast(Table, Timer.__table__)
_SHEETS = cast(Table, SupervisionSheet.__table__)
_LINKS = cast(Table, AttachmentLink.__table__)
_ATTACHMENTS = cast(Table, Attachment.__table__)
_VERSIONS = cast(Table, ProcessVersion.__table__)
_NOTICES = cast(Table, Notice.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)


@dataclass
class ArchiveResult:
    """What an archive run moved out of the live database (for a dry run: what it would move)."""

    before: datetime
    dry_run: bool = False
    events: int = 0
    records: int = 0  # history records
    attachments: int = 0  # attachments written into the files
    removed_attachments: int = 0  # of them, those removed from the live database
    files: list[Path] = field(default_factory=list)
    bytes: int = 0  # the files' size

    def add(self, part: ArchiveResult) -> None:
        """Count one batch's result into the run's."""
        self.events += part.events
        self.records += part.records
        self.attachments += part.attachments
        self.removed_attachments += part.removed_attachments
        self.files += part.files
        self.bytes += part.bytes


def cut_off(now: datetime, years: int) -> datetime:
    """``years`` calendar years before ``now`` (29 February falls back to the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def finished_before(before: datetime) -> Select[int]:
    """The ids of the events an archive run takes, oldest id first: finished, last changed before ``before``,
    and not the event with the highest id (see the module's documentation)."""
    newest = select(func.max(Event.id)).scalar_subquery()
    return (
        select(Event.id)
        .where(Event.completed.is_(True), Event.updated_at < before, Event.id < newest)
        .order_by(Event.id)
    )


def plan(session: Session, before: datetime) -> ArchiveResult:
    """What a run with the cut-off ``before`` would archive, counted in the database (a dry run: nothing is
    written)."""
    chosen = finished_before(before).order_by(None).subquery()
    events, records = session.execute(
        select(func.count(), func.coalesce(func.sum(Event.history_length), 0)).where(
            Event.id.in_(select(chosen))
        )
    ).one()
    used = select(AttachmentLink.attachment_id).distinct().where(AttachmentLink.event_id.in_(select(chosen)))
    attachments = session.scalar(select(func.count()).select_from(used.subquery())) or 0
    kept = select(AttachmentLink.attachment_id).where(AttachmentLink.event_id.not_in(select(chosen)))
    removed = session.scalar(
        select(func.count()).select_from(used.where(AttachmentLink.attachment_id.not_in(kept)).subquery())
    )
    return ArchiveResult(
        before,
        dry_run=True,
        events=events,
        records=int(records),
        attachments=attachments,
        removed_attachments=removed or 0,
    )


def _lock(step: Step) -> None:
    """Refuse the batch while another archive run holds the lock (PostgreSQL; on SQLite the command holds the
    database's write lock already)."""
    if step.parts.db.dialect != "postgresql":
        return
    if not step.session.scalar(text("SELECT pg_try_advisory_xact_lock(:lock)"), {"lock": ARCHIVE_LOCK}):
        raise Conflict(
            "another archive run is under way; nothing was archived — try again when it has finished",
            code="archive.running",
        )


def _values(row: Any) -> dict[str, Any]:
    return {name: archived_value(value) for name, value in row._mapping.items()}


def _rows(session: Session, table: Table, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The rows of ``table`` of the events ``ids``, by event, in id order."""
    found: dict[int, list[dict[str, Any]]] = {event_id: [] for event_id in ids}
    order = table.c.seq if table is _HISTORY else table.c.id
    for row in session.execute(
        select(table).where(table.c.event_id.in_(ids)).order_by(table.c.event_id, order)
    ):
        found[row.event_id].append(_values(row))
    return found


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass
class _Written:
    path: Path
    sha256: str
    size: int
    counts: dict[str, int]
    removed: list[str]  # the attachments no remaining event uses


def _write(session: Session, folder: Path, ids: list[int], before: datetime, now: datetime) -> _Written:
    """Write the archive file of the events ``ids``: body first (a gzip member of its own, hashed as it is
    written), then the header and the body behind it under a temporary name, fsynced and linked into place."""
    stem = f".archive-{os.getpid()}-{secrets.token_hex(4)}"
    body_file, whole_file = folder / f"{stem}.body.tmp", folder / f"{stem}.tmp"
    counts = dict.fromkeys(("events", "records", "tasks", "timers", "sheets", "attachments", "versions"), 0)
    digest = hashlib.sha256()
    used: dict[str, None] = {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with (
            open(body_file, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as out,
        ):

            def put(value: dict[str, Any]) -> None:
                line = (json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
                digest.update(line)
                out.write(line)

            version_ids = set(
                session.scalars(select(Event.process_version_id).distinct().where(Event.id.in_(ids)))
            )
            version_ids |= set(
                session.scalars(
                    select(HistoryEntry.process_version_id).distinct().where(HistoryEntry.event_id.in_(ids))
                )
            )
            for version in session.execute(select(_VERSIONS).where(_VERSIONS.c.id.in_(sorted(version_ids)))):
                put({"kind": "version", **_values(version)})
                counts["versions"] += 1
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                history, tasks = _rows(session, _HISTORY, chunk), _rows(session, _TASKS, chunk)
                timers, sheets = _rows(session, _TIMERS, chunk), _rows(session, _SHEETS, chunk)
                links: dict[int, list[str]] = {event_id: [] for event_id in chunk}
                for link in session.execute(
                    select(_LINKS).where(_LINKS.c.event_id.in_(chunk)).order_by(_LINKS.c.attachment_id)
                ):
                    links[link.event_id].append(link.attachment_id)
                    used[link.attachment_id] = None
                for event in session.execute(
                    select(_EVENTS).where(_EVENTS.c.id.in_(chunk)).order_by(_EVENTS.c.id)
                ):
                    put(
                        {
                            "kind": "event",
                            "event": _values(event),
                            "history": history[event.id],
                            "tasks": tasks[event.id],
                            "timers": timers[event.id],
                            "sheets": sheets[event.id],
                            "attachments": links[event.id],
                        }
                    )
                    counts["events"] += 1
                    counts["records"] += len(history[event.id])
                    counts["tasks"] += len(tasks[event.id])
                    counts["timers"] += len(timers[event.id])
                    counts["sheets"] += len(sheets[event.id])
            removed = _unused(session, list(used), ids)
            gone = set(removed)
            for attachment_id in used:  # one at a time: an attachment may be megabytes
                row = session.execute(select(_ATTACHMENTS).where(_ATTACHMENTS.c.id == attachment_id)).one()
                put({"kind": "attachment", **_values(row), "removed": attachment_id in gone})
                counts["attachments"] += 1
        header = {
            "format": ARCHIVE_FORMAT,
            "created_at": now.astimezone(UTC).isoformat(),
            "before": before.astimezone(UTC).isoformat(),
            **counts,
            "body_sha256": digest.hexdigest(),
        }
        with open(whole_file, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as out:
                out.write((json.dumps(header, separators=(",", ":")) + "\n").encode())
            with open(body_file, "rb") as body:
                shutil.copyfileobj(body, raw)
            raw.flush()
            os.fsync(raw.fileno())
        with open(whole_file, "rb") as written:
            sha256 = hashlib.file_digest(written, "sha256").hexdigest()
        path = folder / f"archive-{now.astimezone(UTC):%Y%m%dT%H%M%S}Z-{ids[0]}-{ids[-1]}.jsonl.gz"
        os.link(whole_file, path)  # into place atomically, and never over another file
        _fsync_folder(folder)
        return _Written(path, sha256, path.stat().st_size, counts, removed)
    except OSError as exc:
        raise GridloopError(
            "cannot write the archive into {folder}: {problem}; nothing was archived",
            code="archive.unwritable",
            folder=str(folder),
            problem=str(exc),
        ) from exc
    finally:
        for temporary in (body_file, whole_file):
            with contextlib.suppress(OSError):  # not made, or no folder to make it in
                temporary.unlink()


def _unused(session: Session, attachment_ids: list[str], leaving: Iterable[int]) -> list[str]:
    """Those of ``attachment_ids`` that no event but those ``leaving`` uses."""
    if not attachment_ids:
        return []
    kept = set(
        session.scalars(
            select(AttachmentLink.attachment_id).where(
                AttachmentLink.attachment_id.in_(attachment_ids),
                AttachmentLink.event_id.not_in(list(leaving)),
            )
        )
    )
    return [a for a in attachment_ids if a not in kept]


def archive(
    step: Step,
    before: datetime,
    folder: Path,
    *,
    limit: int = BATCH,
    written: list[Path] | None = None,
) -> ArchiveResult:
    """Archive one batch — up to ``limit`` of the finished events last changed before ``before`` — into one
    file in ``folder``, delete them (and the attachments nobody else uses) from the live database and log
    ``archived``; :class:`~engine.commands.pipeline.Abandon` (nothing written) when none is left. The file is
    appended to ``written`` once it is in place, so that the caller can remove it should the commit fail; a
    failure inside the command removes it here. See the module's documentation."""
    if not 1 <= limit <= MAX_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH} events, not {limit}")
    _lock(step)
    session = step.session
    ids = list(session.scalars(finished_before(before).limit(limit).with_for_update()))
    if not ids:
        raise Abandon(ArchiveResult(before))
    made = _write(session, folder, ids, before, step.now)
    if written is not None:
        written.append(made.path)
    try:
        heads = [list(row) for row in session.execute(_heads(ids))]
        removed = made.removed
        # the staff's notices of the cases are their mail, not the cases' record: they go, unarchived
        notices = select(_NOTICES.c.id).where(_NOTICES.c.event_id.in_(ids))
        session.execute(delete(_OUTBOX).where(_OUTBOX.c.notice_id.in_(notices)))
        for table in (_NOTICES, _SHEETS, _LINKS, _TIMERS, _TASKS, _HISTORY):
            session.execute(delete(table).where(table.c.event_id.in_(ids)))
        session.execute(delete(_EVENTS).where(_EVENTS.c.id.in_(ids)))
        if removed:
            session.execute(delete(_ATTACHMENTS).where(_ATTACHMENTS.c.id.in_(removed)))
        step.log(
            "archived",
            {
                "file": made.path.name,
                "sha256": made.sha256,
                "before": before.astimezone(UTC).isoformat(),
                "events": heads,
                "records": made.counts["records"],
                "attachments": made.counts["attachments"],
                "removed_attachments": len(removed),
            },
        )
    except BaseException:
        made.path.unlink(missing_ok=True)
        raise
    return ArchiveResult(
        before,
        events=len(ids),
        records=made.counts["records"],
        attachments=made.counts["attachments"],
        removed_attachments=len(removed),
        files=[made.path],
        bytes=made.size,
    )


def _heads(ids: list[int]) -> Select[int, int, str | None]:
    return (
        select(Event.id, Event.history_length, Event.history_head).where(Event.id.in_(ids)).order_by(Event.id)
    )


def archive_all(
    gl: Gridloop,
    by: str,
    before: datetime,
    folder: Path,
    *,
    batch: int = BATCH,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ArchiveResult:
    """Archive every finished event last changed before ``before`` into ``folder``, a batch per command (see
    :func:`archive`), as the system actor ``by``; with ``dry_run``, only count what would go.
    ``progress(done, total)`` is told after each batch."""
    folder = folder.resolve()  # the files' names in the results are absolute
    with gl.db.reading() as session:
        planned = plan(session, before)
    if dry_run:
        return planned
    result = ArchiveResult(before)
    while True:
        written: list[Path] = []
        try:
            part = gl.pipeline.run(system(by), archive, before, folder, limit=batch, written=written)
        except BaseException:
            for path in written:  # the commit failed: the database keeps the events, so the file goes
                path.unlink(missing_ok=True)
            raise
        result.add(part)
        if progress is not None and part.events:
            progress(min(result.events, planned.events), max(planned.events, result.events))
        if part.events < batch:
            return result
