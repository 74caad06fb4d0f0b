"""Attachments: photos and documents stored beside the events, referenced from form data by id.

Task data carries only attachment ids (large payloads in task data grow the workflow state quadratically, see
shared/SPIFFWORKFLOW_NOTES.md). The content is checked on the way in — by its size and by its leading bytes,
never by the name or the type the client claims — and kept in the database so that every web worker sees it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, undefer

from engine.errors import FieldError, NotFound, ValidationFailed
from engine.store.models import Attachment, AttachmentLink, Event

MAX_BYTES = 10 * 1024 * 1024

# leading bytes → content type; the only types accepted
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)


@dataclass(frozen=True)
class StoredAttachment:
    """What callers learn about a stored attachment."""

    id: str
    filename: str
    content_type: str
    size: int
    sha256: str


def sniff(content: bytes) -> str | None:
    """The content type recognised from the leading bytes, or None when it is not an accepted type."""
    for signature, content_type in SIGNATURES:
        if content.startswith(signature):
            return content_type
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def store(
    session: Session,
    filename: str,
    content: bytes,
    uploaded_by: str,
    now: datetime,
    max_bytes: int = MAX_BYTES,
) -> StoredAttachment:
    """Check and store one upload; :class:`ValidationFailed` (field ``file``) when it is empty, too big or of a wrong type."""
    if not content:
        raise ValidationFailed("the file is empty", {"file": [FieldError("file.empty")]})
    if len(content) > max_bytes:
        limit_mb = max_bytes // (1024 * 1024)
        raise ValidationFailed(
            "the file is larger than {limit} MB",
            {"file": [FieldError("file.too_large", {"limit": limit_mb})]},
            limit=limit_mb,
        )
    content_type = sniff(content)
    if content_type is None:
        raise ValidationFailed(
            "only JPEG, PNG, GIF, WebP images and PDF documents are accepted",
            {"file": [FieldError("file.unaccepted_type")]},
        )
    safe_name = (filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:200] or "upload"
    row = Attachment(
        id=str(uuid.uuid4()),
        sha256=hashlib.sha256(content).hexdigest(),
        filename=safe_name,
        content_type=content_type,
        size=len(content),
        content=content,
        uploaded_by=uploaded_by,
        uploaded_at=now,
    )
    session.add(row)
    session.flush()
    return StoredAttachment(row.id, row.filename, row.content_type, row.size, row.sha256)


def describe(session: Session, attachment_id: str) -> StoredAttachment:
    """The metadata of an attachment; :class:`NotFound` when there is none with that id."""
    row = session.get(Attachment, attachment_id)
    if row is None:
        raise NotFound("no attachment {attachment}", code="attachment.not_found", attachment=attachment_id)
    return StoredAttachment(row.id, row.filename, row.content_type, row.size, row.sha256)


def content(session: Session, attachment_id: str) -> tuple[StoredAttachment, bytes]:
    """An attachment's metadata and bytes."""
    row = session.scalar(
        select(Attachment).options(undefer(Attachment.content)).where(Attachment.id == attachment_id)
    )
    if row is None:
        raise NotFound("no attachment {attachment}", code="attachment.not_found", attachment=attachment_id)
    return StoredAttachment(row.id, row.filename, row.content_type, row.size, row.sha256), row.content


def missing(
    session: Session, attachment_ids: list[str], username: str, event_id: int | None = None
) -> list[str]:
    """Those of ``attachment_ids`` that ``username`` may not use in a form: not stored, or neither uploaded by
    them nor used by the event already (so nobody gains access to a file by naming its id in their own case)."""
    if not attachment_ids:
        return []
    mine = or_(Attachment.uploaded_by == username)
    if event_id is not None:
        used_here = select(AttachmentLink.attachment_id).where(AttachmentLink.event_id == event_id)
        mine = or_(mine, Attachment.id.in_(used_here))
    found = set(session.scalars(select(Attachment.id).where(Attachment.id.in_(attachment_ids), mine)))
    return [a for a in attachment_ids if a not in found]


def link(session: Session, attachment_ids: list[str], event_id: int) -> None:
    """Record that the event uses these attachments (each once)."""
    wanted = set(attachment_ids)
    if not wanted:
        return
    known = set(
        session.scalars(
            select(AttachmentLink.attachment_id).where(
                AttachmentLink.event_id == event_id, AttachmentLink.attachment_id.in_(sorted(wanted))
            )
        )
    )
    session.add_all(AttachmentLink(attachment_id=a, event_id=event_id) for a in sorted(wanted - known))


def readable(session: Session, attachment_id: str, username: str, visible: ColumnElement[bool]) -> bool:
    """Whether ``username`` may read the attachment: they uploaded it, or an event it is used by satisfies
    ``visible`` (the reader's scope condition on events)."""
    uploaded_by = session.scalar(select(Attachment.uploaded_by).where(Attachment.id == attachment_id))
    if uploaded_by is None:
        return False
    if uploaded_by == username:
        return True
    used_by = (
        select(Event.id)
        .join(AttachmentLink, AttachmentLink.event_id == Event.id)
        .where(AttachmentLink.attachment_id == attachment_id, visible)
        .limit(1)
    )
    return session.scalar(used_by) is not None
