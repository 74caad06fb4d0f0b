"""The audit's keys, kept outside the database: the HMAC keys that authenticate every history and admin-log
record, and the Ed25519 key that signs the audit checkpoints (:mod:`engine.audit.checkpoints`).

A chain of plain hashes whose head lives in the same database proves nothing against someone who can write
that database: they change a record and recompute the chain. A record's MAC can only be made with a key the
database does not hold, so a changed record fails :func:`AuditKeys.problem` unless its writer had the key.

**HMAC keys** come from ``GRIDLOOP_AUDIT_KEYS`` (``k2:hex,k1:hex``) or, without it, from the file
``instance/audit_keys``, made on first use (atomically, mode 0600, so that concurrent workers agree on one):
one ``id:hex`` a line, ``#`` comments. The first key signs; the others only verify, so :func:`rotate` puts a
new key first and keeps the old ones. Every record carries the id of the key it was signed with
(``key_id``). A process notices a rotation made by another at its next record (the file's modification time
is looked at then).

**The checkpoint key** comes from ``GRIDLOOP_CHECKPOINT_KEY`` (the 32-byte Ed25519 private key in hex) or
from ``instance/checkpoint_key`` (PEM, made on first use like the HMAC keys). Its public key is what an
auditor keeps to check the checkpoints with (``gridloop audit public-key``).

The instance folder is ``instance/`` in the working directory, as for the embedded database and the web
app's secret key: every process of a deployment runs there (or is given the keys in its environment).
"""

from __future__ import annotations

import fcntl
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.errors import GridloopError

INSTANCE = Path("instance")
KEYS_ENV = "GRIDLOOP_AUDIT_KEYS"
KEYS_FILE = "audit_keys"
CHECKPOINT_KEY_ENV = "GRIDLOOP_CHECKPOINT_KEY"
CHECKPOINT_KEY_FILE = "checkpoint_key"
KEY_BYTES = 32
MIN_KEY_BYTES = 16
KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")  # fits the records' key_id column
FILE_HEADER = (
    "# gridloop audit keys: one id:hex a line; the first signs; the others verify older records.\n"
    "# Keep this file secret and backed up: records signed with a lost key can no longer be verified.\n"
)


class AuditKeyError(GridloopError):
    """The audit keys (or the checkpoint key) cannot be read or changed as asked."""

    code = "audit.keys"


def mac(secret: bytes, content: str) -> str:
    """The HMAC-SHA256 of ``content`` (UTF-8) under ``secret``, in hex."""
    return hmac.digest(secret, content.encode(), "sha256").hex()


def _parse(text: str, source: str) -> dict[str, bytes]:
    """``id:hex`` entries (separated by newlines or commas; ``#`` starts a comment line), in order."""
    found: dict[str, bytes] = {}
    lines = [line for line in text.splitlines() if not line.strip().startswith("#")]
    for raw in ",".join(lines).split(","):
        entry = raw.strip()
        if not entry:
            continue
        key_id, _, value = entry.partition(":")
        key_id = key_id.strip()
        problem = None
        if not KEY_ID.fullmatch(key_id):
            problem = f"{key_id!r} is no key id (letters, digits, '.', '_' or '-', at most 32)"
        elif key_id in found:
            problem = f"key id {key_id!r} is given twice"
        else:
            try:
                secret = bytes.fromhex(value.strip())
            except ValueError:
                secret = b""
            if len(secret) < MIN_KEY_BYTES:
                problem = f"key {key_id!r} is not id:hex of at least {MIN_KEY_BYTES} random bytes"
        if problem is not None:
            raise AuditKeyError(
                "{source}: {problem}", code="audit.keys_malformed", source=source, problem=problem
            )
        found[key_id] = secret
    if not found:
        raise AuditKeyError(
            "{source}: {problem}", code="audit.keys_malformed", source=source, problem="it holds no key"
        )
    return found


class AuditKeys:
    """The HMAC keys of the audit, by id, the first the one that signs.

    Built from a file, it re-reads the file when it has changed (a rotation by another process): before
    signing, and when asked for a key it does not know.
    """

    def __init__(self, keys: Mapping[str, bytes] | Iterable[tuple[str, bytes]], path: Path | None = None):
        self._keys = dict(keys)
        if not self._keys:
            raise AuditKeyError(
                "{source}: {problem}", code="audit.keys_malformed", source="keys", problem="it holds no key"
            )
        self.path = path
        self._stamp = self._modified()

    @classmethod
    def parse(cls, text: str, source: str = KEYS_ENV) -> AuditKeys:
        """Keys written ``k2:hex,k1:hex`` (or one a line), the first signing."""
        return cls(_parse(text, source))

    @classmethod
    def from_file(cls, path: Path) -> AuditKeys:
        """The keys of a key file (see the module's documentation)."""
        return cls(_parse(path.read_text(), str(path)), path)

    def _modified(self) -> int | None:
        if self.path is None:
            return None
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def _refresh(self) -> None:
        if self.path is None:
            return
        stamp = self._modified()
        if stamp is not None and stamp != self._stamp:
            self._keys = _parse(self.path.read_text(), str(self.path))
            self._stamp = stamp

    @property
    def ids(self) -> list[str]:
        """The key ids, the signing one first."""
        return list(self._keys)

    @property
    def signing_id(self) -> str:
        """The id of the key new records are signed with."""
        self._refresh()
        return next(iter(self._keys))

    def secret(self, key_id: str | None) -> bytes | None:
        """The key ``key_id`` (None when it is not among the keys)."""
        if key_id is None:
            return None
        found = self._keys.get(key_id)
        if found is None:
            self._refresh()
            found = self._keys.get(key_id)
        return found

    def sign(self, content: str) -> tuple[str, str]:
        """``(key id, MAC)`` of ``content`` under the signing key."""
        key_id = self.signing_id
        return key_id, mac(self._keys[key_id], content)

    def problem(self, key_id: str | None, content: str, stored: str | None) -> str | None:
        """Why a record whose content is ``content`` is not authentic with the MAC ``stored`` under ``key_id``
        (None when it is): said after "history record 3 (complete)" or "admin log record 5 (setting)"."""
        if not key_id:
            return "carries no audit key id: it was not written by gridloop's pipeline"
        secret = self.secret(key_id)
        if secret is None:
            return f"names the audit key {key_id!r}, which is not among the audit keys"
        if stored is None or not hmac.compare_digest(mac(secret, content), stored):
            return "was altered: its content no longer matches its MAC"
        return None

    def __getstate__(self) -> dict[str, object]:
        # to a worker process as the keys known here and the file they came from (read again there when it
        # is asked for a key it does not know)
        return {"keys": self._keys, "path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._keys = dict(state["keys"])
        self.path = state["path"]
        self._stamp = None


def _new_key_line(taken: Iterable[str]) -> str:
    """A fresh key as a line of the key file: id ``k<n>-<random>``, n one above the highest in use."""
    numbers = [int(m.group(1)) for k in taken if (m := re.match(r"k(\d+)-", k))]
    return f"k{max(numbers, default=0) + 1}-{secrets.token_hex(3)}:{secrets.token_hex(KEY_BYTES)}"


def create_once(path: Path, make: bytes) -> None:
    """Write ``make`` to ``path`` unless the file exists: mode 0600, atomically (a concurrent process that
    loses the race keeps the winner's file)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(make)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(candidate, path)
    except FileExistsError:
        pass
    finally:
        candidate.unlink()


_LOADED: dict[tuple[str | None, str], AuditKeys] = {}


def audit_keys(instance: Path = INSTANCE) -> AuditKeys:
    """The process's audit keys: from ``GRIDLOOP_AUDIT_KEYS``, else from ``<instance>/audit_keys`` (made on
    first use). Loaded once per process and source."""
    text = os.environ.get(KEYS_ENV) or None
    path = (instance / KEYS_FILE).resolve()
    cache = (text, str(path))
    found = _LOADED.get(cache)
    if found is None:
        if text is not None:
            found = AuditKeys.parse(text, KEYS_ENV)
        else:
            create_once(path, (FILE_HEADER + _new_key_line(()) + "\n").encode())
            found = AuditKeys.from_file(path)
        found = _LOADED.setdefault(cache, found)
    return found


def rotate(instance: Path = INSTANCE) -> str:
    """Put a new signing key first in ``<instance>/audit_keys``, keeping the old ones for verifying; return its
    id. Refused when the keys come from ``GRIDLOOP_AUDIT_KEYS`` (the environment is changed where it is set)."""
    if os.environ.get(KEYS_ENV):
        raise AuditKeyError(
            "the audit keys come from {variable}: put a new id:hex key first there, keep the old ones after it,"
            " and restart the processes",
            code="audit.keys_from_environment",
            variable=KEYS_ENV,
        )
    path = instance / KEYS_FILE
    audit_keys(instance)  # made first when there is none yet
    lock = path.with_name(f"{path.name}.lock")
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # two rotations at once would each drop the other's key
        current = _parse(path.read_text(), str(path))
        line = _new_key_line(current)
        lines = [line] + [f"{key_id}:{secret.hex()}" for key_id, secret in current.items()]
        candidate = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(FILE_HEADER + "\n".join(lines) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(candidate, path)
    for keys in _LOADED.values():
        keys._refresh()
    return line.partition(":")[0]


# ------------------------------------------------------------------ the checkpoint key (Ed25519)


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def checkpoint_key(instance: Path = INSTANCE, create: bool = True) -> Ed25519PrivateKey | None:
    """The key checkpoints are signed with: from ``GRIDLOOP_CHECKPOINT_KEY`` (hex), else from
    ``<instance>/checkpoint_key`` (made on first use unless ``create`` is False; None then, when absent)."""
    text = os.environ.get(CHECKPOINT_KEY_ENV)
    if text:
        try:
            return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text.strip()))
        except ValueError:
            raise AuditKeyError(
                "{source} holds no Ed25519 private key (32 bytes in hex)",
                code="audit.checkpoint_key_malformed",
                source=CHECKPOINT_KEY_ENV,
            ) from None
    path = instance / CHECKPOINT_KEY_FILE
    if not path.exists():
        if not create:
            return None
        create_once(path, _private_pem(Ed25519PrivateKey.generate()))
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(
            "{source} holds no Ed25519 private key (32 bytes in hex)",
            code="audit.checkpoint_key_malformed",
            source=str(path),
        )
    return key


def public_key_pem(key: Ed25519PublicKey) -> str:
    """A public key as PEM text (what ``gridloop audit public-key`` prints and ``--public-key`` reads)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def read_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in a PEM file."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(
            "{path} holds no Ed25519 public key in PEM (as `gridloop audit public-key` prints it)",
            code="audit.public_key_malformed",
            path=str(path),
        )
    return key
