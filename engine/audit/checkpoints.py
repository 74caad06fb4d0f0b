"""Signed checkpoints of the audit, kept outside the database, in the spirit of certificate transparency's
signed tree heads.

A MAC proves a record was written by someone holding the audit key; it cannot prove the record was not
rewritten later by someone who holds the key as well (an insider, a stolen backup of the instance folder). A
checkpoint can: it states, at a moment, how long each chain was and what its head was, signed with an Ed25519
key whose public half the auditor keeps. Whoever rewrites a history after a checkpoint must change the
record at the counted position (or delete it), and the checkpoint no longer holds — and without the private
key no new checkpoint can be made to match.

A checkpoint is a file ``checkpoint-<UTC time>Z.jsonl.gz`` in the checkpoint directory (``GRIDLOOP_CHECKPOINT_DIR``,
default ``instance/checkpoints/<digest of the database URL>``): gzip-compressed JSON lines, written atomically::

    {"format": "gridloop-audit-checkpoint/1", "at": "<ISO time>", "admin_log": [length, head], "events": n}
    [event id, history length, head]            one line per event, by id (about 40 bytes each, compressed)
    {"signature": "<hex>", "public_key": "<hex>"}

The signature is Ed25519 over ``b"gridloop-audit-checkpoint/1\\n"`` followed by the SHA-256 of every byte
before the signature line, so that any tool can check a file without re-encoding JSON, and a file is written
and read as a stream. ``gridloop audit verify`` reads every checkpoint of the directory (:func:`read`): a file
whose signature does not hold is named and its claims are not used; otherwise each event (and the admin log)
must still have at least the counted records and its record at that position must carry that head. Of an
event's claims only the longest is kept: a chain whose records are authentic and linked and whose record #n
still has the head of then cannot have had any record up to n changed (that would take a collision), so the
longest claim holds exactly when all of them do — while two checkpoints that name different heads at one
position are named at once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import secrets
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, make_url, select
from sqlalchemy.orm import Session

from engine.audit.keys import INSTANCE, checkpoint_key
from engine.store.models import AdminLogEntry, Event

FORMAT = "gridloop-audit-checkpoint/1"
DIRECTORY_ENV = "GRIDLOOP_CHECKPOINT_DIR"
FILE_GLOB = "checkpoint-*.jsonl.gz"
_BATCH = 10_000

Claim = tuple[int, str | None, str]
"""What a checkpoint says of one chain: (length, head, the checkpoint file's name)."""


def signed_message(digest: bytes, kind: str = FORMAT) -> bytes:
    """What a signed file's signature is over: its format's name and the SHA-256 of the file's lines before it."""
    return kind.encode() + b"\n" + digest


def default_directory(instance: Path = INSTANCE, database_url: str | None = None) -> Path:
    """``GRIDLOOP_CHECKPOINT_DIR``, else ``<instance>/checkpoints`` — in a folder of the database's own (named by
    a digest of its URL, password left out) when the URL is given, so that the checkpoints of one database are
    never held against another that happens to run from the same directory (a demo beside the tests, say)."""
    configured = os.environ.get(DIRECTORY_ENV)
    if configured:
        return Path(configured)
    if database_url is None:
        return instance / "checkpoints"
    named = make_url(database_url).render_as_string(hide_password=True)
    return instance / "checkpoints" / hashlib.sha256(named.encode()).hexdigest()[:16]


class Checkpoints:
    """Where an engine writes its checkpoints and what signs them (the private key is read, or made, when the
    first checkpoint is written)."""

    def __init__(
        self,
        directory: Path | None = None,
        key: Ed25519PrivateKey | None = None,
        instance: Path = INSTANCE,
        database_url: str | None = None,
    ) -> None:
        # fixed now: a process that changes its working directory later still writes where it began
        chosen = directory if directory is not None else default_directory(instance, database_url)
        self.directory = chosen.resolve()
        self.instance = instance.resolve()
        self._key = key

    def signing_key(self) -> Ed25519PrivateKey:
        """The private key (from the environment or the instance folder, made there on first use)."""
        if self._key is None:
            self._key = checkpoint_key(self.instance)
        assert self._key is not None
        return self._key

    def public_key(self) -> Ed25519PublicKey | None:
        """The public key of the signing key, when there is one already (none is made for asking)."""
        key = self._key or checkpoint_key(self.instance, create=False)
        return None if key is None else key.public_key()

    def write(self, session: Session, now: datetime) -> Path:
        """Write a checkpoint of everything ``session`` sees (one snapshot); return its file."""
        return write(session, self.directory, self.signing_key(), now)

    def newest(self) -> datetime | None:
        """When the newest checkpoint in the directory was taken (None when there is none)."""
        return newest(self.directory)


def _raw_public(key: Ed25519PublicKey) -> str:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def write_signed(
    directory: Path, prefix: str, header: dict[str, Any], lines: Iterable[str], key: Ed25519PrivateKey
) -> Path:
    """Write a signed file ``<prefix>-<UTC time>Z.jsonl.gz`` into ``directory`` and return it: ``header`` (with
    its ``format`` and ISO ``at``), the JSON ``lines`` (each ending in a newline), and the trailer signing them.
    It is written under a temporary name and linked into place, so a reader never sees half a file and two
    writers at one moment never overwrite each other."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    temporary = directory / f".{prefix}-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        with open(temporary, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as out:

                def put(chunk: bytes) -> None:
                    digest.update(chunk)
                    out.write(chunk)

                put((json.dumps(header, separators=(",", ":")) + "\n").encode())
                batch: list[str] = []
                for line in lines:
                    batch.append(line)
                    if len(batch) == _BATCH:
                        put("".join(batch).encode())
                        batch.clear()
                put("".join(batch).encode())
                signature = key.sign(signed_message(digest.digest(), header["format"]))
                trailer = {"signature": signature.hex(), "public_key": _raw_public(key.public_key())}
                out.write((json.dumps(trailer, separators=(",", ":")) + "\n").encode())
            raw.flush()
            os.fsync(raw.fileno())
        stem = f"{prefix}-{datetime.fromisoformat(header['at']):%Y%m%dT%H%M%S}Z"
        for attempt in range(1, 1000):
            path = directory / (f"{stem}.jsonl.gz" if attempt == 1 else f"{stem}-{attempt}.jsonl.gz")
            try:
                os.link(temporary, path)
                return path
            except FileExistsError:
                continue
        raise FileExistsError(f"{directory} holds a thousand {prefix} files of {header['at']} already")
    finally:
        temporary.unlink(missing_ok=True)


def write(session: Session, directory: Path, key: Ed25519PrivateKey, now: datetime) -> Path:
    """Write a checkpoint of the admin log and of every event's history as ``session`` sees them, signed with
    ``key``, into ``directory``; return the file (:func:`write_signed`)."""
    length = session.scalar(select(func.count()).select_from(AdminLogEntry)) or 0
    head = session.scalar(select(AdminLogEntry.hash).order_by(AdminLogEntry.id.desc()).limit(1))
    count = session.scalar(select(func.count()).select_from(Event)) or 0
    at = now.astimezone(UTC)
    header = {"format": FORMAT, "at": at.isoformat(), "admin_log": [length, head], "events": count}
    rows = session.execute(
        select(Event.id, Event.history_length, Event.history_head)
        .order_by(Event.id)
        .execution_options(yield_per=_BATCH)
    )
    lines = (
        f"[{event_id},{length},{'null' if head is None else json.dumps(head)}]\n"
        for event_id, length, head in rows
    )
    return write_signed(directory, "checkpoint", header, lines, key)


def stamped(path: Path, prefix: str) -> datetime | None:
    """When a signed file was written, read from its name (None when the name holds no time)."""
    stamp = path.name.removeprefix(f"{prefix}-")[:16]  # 20261123T010000Z
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def newest(directory: Path) -> datetime | None:
    """When the newest checkpoint in ``directory`` was taken, read from its name (None when there is none)."""
    names = sorted(directory.glob(FILE_GLOB)) if directory.is_dir() else []
    for path in reversed(names):
        stamp = stamped(path, "checkpoint")
        if stamp is not None:
            return stamp
    return None


@dataclass
class Claims:
    """What the checkpoints of a directory say: per event and of the admin log the longest claim, and what is
    wrong with the files themselves (each problem names its file)."""

    events: dict[int, Claim] = field(default_factory=dict)
    admin_log: Claim | None = None
    problems: list[str] = field(default_factory=list)
    files: int = 0

    def _keep(self, current: Claim | None, claim: Claim, what: str) -> Claim:
        if current is None or claim[0] > current[0]:
            return claim
        if claim[0] == current[0] and claim[1] != current[1]:
            self.problems.append(
                f"checkpoints {current[2]} and {claim[2]} hold different heads for record #{claim[0]} of"
                f" {what}: one of them was not made from this database's history"
            )
        return current

    def take(self, header: dict[str, Any], events: list[tuple[int, int, str | None]], name: str) -> None:
        """Add the claims of one checkpoint whose signature holds."""
        length, head = header["admin_log"]
        if length:
            self.admin_log = self._keep(self.admin_log, (int(length), head, name), "the admin log")
        for event_id, history_length, event_head in events:
            self.hold(event_id, history_length, event_head, name)
        self.files += 1

    def hold(self, event_id: int, length: int, head: str | None, name: str) -> None:
        """Add one signed file's claim on an event's chain (a checkpoint's, or an anchor's)."""
        if length:
            self.events[event_id] = self._keep(
                self.events.get(event_id), (length, head, name), f"event {event_id}"
            )


class Unreadable(Exception):
    """A signed file that cannot be read or whose signature does not hold (the message says why)."""


def read_signed(path: Path, public_key: Ed25519PublicKey, kind: str) -> tuple[dict[str, Any], list[Any]]:
    """The header and the lines of a signed file of format ``kind`` (:func:`write_signed`) whose signature
    holds under ``public_key``; :class:`Unreadable` naming what is wrong otherwise."""
    digest = hashlib.sha256()
    header: dict[str, Any] | None = None
    lines: list[Any] = []
    pending: bytes | None = None
    try:
        with gzip.open(path, "rb") as handle:
            for line in handle:
                if pending is not None:
                    digest.update(pending)
                    parsed = orjson.loads(pending)  # (its errors are ValueErrors)
                    if header is None:
                        if not isinstance(parsed, dict) or parsed.get("format") != kind:
                            raise Unreadable(f"it is not a {kind} file")
                        header = parsed
                    else:
                        lines.append(parsed)
                pending = line
        if header is None or pending is None:
            raise Unreadable("it is cut short")
        trailer = orjson.loads(pending)
        signature = bytes.fromhex(trailer["signature"])
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError) as exc:
        raise Unreadable(f"cannot be read: {exc}") from exc
    except Unreadable as exc:
        raise Unreadable(f"cannot be read: {exc}") from exc
    try:
        public_key.verify(signature, signed_message(digest.digest(), kind))
    except InvalidSignature:
        raise Unreadable(
            "its signature does not hold — the file was changed after it was signed, or it was signed with"
            " another key than the public key it is checked with"
        ) from None
    return header, lines


def _read_one(path: Path, public_key: Ed25519PublicKey, claims: Claims) -> None:
    """Check one checkpoint file and add its claims; name what is wrong with it in ``claims.problems``."""
    name = path.name
    try:
        header, lines = read_signed(path, public_key, FORMAT)
        length, head = header["admin_log"]
        events = [(int(event_id), int(length), head) for event_id, length, head in lines]
    except Unreadable as exc:
        claims.problems.append(f"checkpoint {name}{'' if str(exc).startswith('cannot') else ':'} {exc}")
        return
    except (ValueError, KeyError, TypeError) as exc:
        claims.problems.append(f"checkpoint {name} cannot be read: {exc}")
        return
    if header.get("events") != len(events):
        claims.problems.append(
            f"checkpoint {name} says it holds {header.get('events')} events but holds {len(events)}"
        )
    claims.take(header, events, name)


def read(directory: Path, public_key: Ed25519PublicKey | None) -> Claims:
    """Check every checkpoint in ``directory`` (none when it does not exist) with ``public_key`` and gather
    what those whose signature holds claim."""
    claims = Claims()
    files = sorted(directory.glob(FILE_GLOB)) if directory.is_dir() else []
    if files and public_key is None:
        claims.problems.append(
            f"the {len(files)} checkpoint(s) in {directory} cannot be checked: there is no public key"
            " (give --public-key FILE, as `gridloop audit public-key` printed it)"
        )
        return claims
    for path in files:
        assert public_key is not None
        _read_one(path, public_key, claims)
    return claims


def claim_problems(claim: Claim | None, macs: dict[int, str], stored: int, records: str) -> list[str]:
    """What is wrong with a chain against a checkpoint's claim on it: ``macs`` the stored MACs by position
    (1-based), ``stored`` how many records are stored, ``records`` what they are called ("history records")."""
    if claim is None:
        return []
    length, head, checkpoint = claim
    if stored < length or length not in macs:
        return [f"checkpoint {checkpoint} counted {length} {records}, but only {stored} are stored"]
    if macs[length] != head:
        return [
            f"{records[:-1]} #{length} is not the one checkpoint {checkpoint} holds"
            f" (its MAC was {short(head)}, it is {short(macs[length])})"
        ]
    return []


def short(digest: str | None) -> str:
    """The start of a MAC, to name it by."""
    return "none" if digest is None else f"{digest[:12]}…"
