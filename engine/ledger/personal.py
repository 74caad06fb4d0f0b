"""Personal numbers at rest: identity and phone numbers of the ledger's people are kept encrypted (AES-256-GCM)
under a key the database does not hold, so a database dump alone does not reveal them, with a keyed index
(HMAC-SHA256) to find a person by number and the last four characters to show them masked without decrypting.

The key comes from ``GRIDLOOP_PERSONAL_KEY`` (64 hex characters) or from the file ``instance/personal_key``,
made on first use like the audit keys (atomically, mode 0600). Keep it with the audit keys, backed up: numbers
encrypted under a lost key cannot be read again.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.audit.keys import INSTANCE, create_once
from engine.errors import GridloopError

KEY_ENV = "GRIDLOOP_PERSONAL_KEY"
KEY_FILE = "personal_key"
NONCE_BYTES = 12


class PersonalKeyError(GridloopError):
    """The personal-data key cannot be read, or a number does not decrypt under it."""

    code = "ledger.key"


@dataclass(frozen=True)
class Sealed:
    """A number as it is stored: its ciphertext (nonce first), its keyed index and its last four characters."""

    cipher: bytes
    index: str
    tail: str


class PersonalKey:
    """The key that seals and opens the ledger's personal numbers."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise PersonalKeyError("the personal-data key must be 32 bytes", code="ledger.key")
        self._aead = AESGCM(secret)
        self._index_key = hmac.new(secret, b"gridloop personal index", hashlib.sha256).digest()

    def index(self, number: str) -> str:
        """The keyed index of a number (the same number, the same index; useless without the key)."""
        return hmac.new(self._index_key, number.upper().encode(), hashlib.sha256).hexdigest()

    def seal(self, number: str, what: str) -> Sealed:
        """Encrypt ``number`` (``what``: ``id_number`` or ``phone``, bound into the ciphertext)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        cipher = nonce + self._aead.encrypt(nonce, number.encode(), what.encode())
        return Sealed(cipher, self.index(number), number[-4:])

    def open(self, cipher: bytes, what: str) -> str:
        """The number a ciphertext holds."""
        try:
            return self._aead.decrypt(cipher[:NONCE_BYTES], cipher[NONCE_BYTES:], what.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise PersonalKeyError(
                "a personal number does not decrypt under this key", code="ledger.key_mismatch"
            ) from exc


def personal_key(instance: Path = INSTANCE) -> PersonalKey:
    """The process's personal-data key: from ``GRIDLOOP_PERSONAL_KEY``, else ``<instance>/personal_key`` (made
    on first use)."""
    text = os.environ.get(KEY_ENV)
    if text:
        try:
            return PersonalKey(bytes.fromhex(text.strip()))
        except ValueError as exc:
            raise PersonalKeyError(f"{KEY_ENV} is not 64 hex characters", code="ledger.key") from exc
    path = instance / KEY_FILE
    create_once(path, (secrets.token_hex(32) + "\n").encode())
    return PersonalKey(bytes.fromhex(path.read_text(encoding="utf-8").strip()))
