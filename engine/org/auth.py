"""Signing in: the password check, the throttles on failed sign-ins, and the credentials a sign-in issues.

The engine decides whether a username and password are good; the web layer keeps what it is given (a session
cookie, an API bearer token) and shows the answer.

**Throttles**, counted in the database (``sign_in_throttle``) inside the sign-in's transaction — the rows of
the attempt's keys are locked first (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serialises writers), so
parallel attempts are judged one after another and none is lost:

- an account from one address: :data:`PAIR_LIMIT` failures lock that account *for that address* for
  :data:`PAIR_LOCKOUT` — a stranger who guesses wrong locks only themself out;
- one address, whatever accounts it tries: :data:`ADDRESS_LIMIT` failures block the address for
  :data:`ADDRESS_LOCKOUT` (answered 429);
- one account from every address: :data:`ACCOUNT_LIMIT` failures (a guessing attack spread over many
  addresses) lock the account for a short :data:`ACCOUNT_LOCKOUT` only, so nobody can keep it locked for long.

Counts restart after :data:`WINDOW`; a good sign-in clears the account's counts. An unknown or disabled
account is judged exactly like a known one — a password hash is checked (a stand-in's) and the failure is
counted and locked the same way — so neither the answer nor its time tells whether an account exists.

**Credentials.** A good sign-in issues an access token (``access_tokens``): a web session or an API token,
with its expiry and the user's credential version. Every request checks its token: revoked, expired, or
issued under an older credential version (the password, the roles changed; the user was signed out
everywhere or disabled) is refused. Every sign-in, failure and lock-out goes to the admin log.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine.errors import GridloopError
from engine.org import people
from engine.store.models import AccessToken, SignInThrottle, User

PAIR_LIMIT = 5
PAIR_LOCKOUT = timedelta(minutes=15)
ADDRESS_LIMIT = 20
ADDRESS_LOCKOUT = timedelta(minutes=15)
ACCOUNT_LIMIT = 50
ACCOUNT_LOCKOUT = timedelta(minutes=5)
WINDOW = timedelta(minutes=15)
KINDS = ("session", "api")
LOCAL = "local"  # the address of a sign-in that did not come over the network (the CLI)


class AuthenticationFailed(GridloopError):
    """Wrong username or password (``auth.wrong_password``), the account is locked for a while
    (``auth.locked``; ``locked_until`` says until when), or a token or session is no longer valid."""

    code = "auth.wrong_password"

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message, code=code, **params)
        self.locked_until: datetime | None = params.get("until")


class TooManyAttempts(AuthenticationFailed):
    """Too many failed sign-ins from one address: it may try again after ``locked_until``."""

    code = "auth.too_many_attempts"


def _wrong_password() -> AuthenticationFailed:
    return AuthenticationFailed("wrong username or password", code="auth.wrong_password")


def _locked(until: datetime) -> AuthenticationFailed:
    return AuthenticationFailed(
        "too many failed sign-ins; the account is locked until {until:%Y-%m-%d %H:%M} UTC",
        code="auth.locked",
        until=until,
    )


def _address_blocked(until: datetime) -> TooManyAttempts:
    return TooManyAttempts(
        "too many failed sign-ins from this address; try again after {until:%Y-%m-%d %H:%M} UTC",
        code="auth.too_many_attempts",
        until=until,
    )


@dataclass(frozen=True)
class SignedIn:
    """A good sign-in: who, and the id of the access token issued to them."""

    actor: people.Actor
    token_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Attempt:
    """What a sign-in attempt came to, for the admin log: the outcome and the locks it set."""

    outcome: str
    locks: tuple[tuple[str, datetime], ...] = ()


# ------------------------------------------------------------------ throttles


def _keys(username: str, address: str) -> dict[str, str]:
    return {
        "pair": f"account:{username}|address:{address}",
        "address": f"address:{address}",
        "account": f"account:{username}",
    }


def _held_counters(session: Session, keys: list[str], now: datetime) -> dict[str, SignInThrottle]:
    """The throttle rows of ``keys``, created when missing and locked for this transaction (in key order, so
    that two attempts never wait for each other crosswise)."""
    bind = session.get_bind()
    insert = postgresql_insert if bind.dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(SignInThrottle)
        .values([{"key": key, "failures": 0, "window_started_at": now, "lockouts": 0} for key in keys])
        .on_conflict_do_nothing(index_elements=["key"])
    )
    rows = session.scalars(
        select(SignInThrottle)
        .where(SignInThrottle.key.in_(keys))
        .order_by(SignInThrottle.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.key: row for row in rows}


def _count_failure(row: SignInThrottle, now: datetime, limit: int, lockout: timedelta) -> datetime | None:
    """Count one failure on ``row``; when it reaches ``limit``, lock the key and return until when."""
    if now - row.window_started_at > WINDOW:
        row.failures = 0
        row.window_started_at = now
    row.failures += 1
    if row.failures >= limit:
        row.failures = 0
        row.window_started_at = now
        row.lockouts += 1
        row.locked_until = now + lockout
        return row.locked_until
    return None


def _locked_until(row: SignInThrottle, now: datetime) -> datetime | None:
    return row.locked_until if row.locked_until is not None and row.locked_until > now else None


# ------------------------------------------------------------------ signing in


def authenticate(
    session: Session, username: str, password: str, address: str, now: datetime
) -> tuple[people.Actor | AuthenticationFailed, Attempt]:
    """Judge a sign-in from ``address``: the actor, or the failure to answer with — counted, and possibly locking
    a key — and what the attempt came to (for the admin log). The caller commits either way."""
    keys = _keys(username, address)
    rows = _held_counters(session, list(keys.values()), now)
    pair, by_address, account = (rows[keys[name]] for name in ("pair", "address", "account"))
    blocked = _locked_until(by_address, now)
    if blocked is not None:
        return _address_blocked(blocked), Attempt("address_blocked")
    locked = max(filter(None, (_locked_until(pair, now), _locked_until(account, now))), default=None)
    if locked is not None:
        return _locked(locked), Attempt("locked")
    user = session.scalar(select(User).where(User.username == username))
    usable = user is not None and user.active
    good = people.check_password(user.password_hash if usable and user else None, password)
    if good and user is not None:
        if people.needs_rehash(user.password_hash):
            user.password_hash = people.hash_password(password)
        pair.failures = account.failures = 0
        return people.actor_from_user(user), Attempt("signed_in")
    locks = []
    for name, row, limit, lockout in (
        ("pair", pair, PAIR_LIMIT, PAIR_LOCKOUT),
        ("address", by_address, ADDRESS_LIMIT, ADDRESS_LOCKOUT),
        ("account", account, ACCOUNT_LIMIT, ACCOUNT_LOCKOUT),
    ):
        until = _count_failure(row, now, limit, lockout)
        if until is not None:
            locks.append((name, until))
    attempt = Attempt("wrong_password", tuple(locks))
    for name, until in locks:
        if name == "address":
            return _address_blocked(until), attempt
    if locks:
        return _locked(max(until for _name, until in locks)), attempt
    return _wrong_password(), attempt


# ------------------------------------------------------------------ access tokens


def issue(
    session: Session, user: User, kind: str, address: str, now: datetime, lifetime: timedelta
) -> AccessToken:
    """Issue an access token of ``kind`` (a web session or an API token) to ``user``."""
    if kind not in KINDS:
        raise ValueError(f"unknown access token kind {kind!r}")
    token = AccessToken(
        id=secrets.token_urlsafe(18),
        kind=kind,
        username=user.username,
        issued_at=now,
        expires_at=now + lifetime,
        credential_version=user.credential_version,
        address=address[:64],
    )
    session.add(token)
    return token


def _no_longer_valid(reason: str) -> AuthenticationFailed:
    return AuthenticationFailed(
        "the session or token is no longer valid ({reason}); sign in again",
        code="auth.revoked",
        reason=reason,
    )


def check_token(session: Session, token_id: str, username: str, now: datetime) -> people.Actor:
    """The actor of a live access token; :class:`AuthenticationFailed` (``auth.revoked``) when the token does not
    exist, is not the user's, was revoked, has expired, or was issued under an older credential version."""
    found = session.execute(
        select(AccessToken, User)
        .join(User, User.username == AccessToken.username)
        .where(AccessToken.id == token_id)
    ).first()
    if found is None:
        raise _no_longer_valid("unknown")
    token, user = found
    if token.username != username or not user.active:
        raise _no_longer_valid("user")
    if token.revoked_at is not None:
        raise _no_longer_valid("revoked")
    if token.expires_at <= now:
        raise _no_longer_valid("expired")
    if token.credential_version != user.credential_version:
        raise _no_longer_valid("credentials changed")
    return people.actor_from_user(user)


def revoke(session: Session, token: AccessToken, by: str, now: datetime) -> bool:
    """Revoke one token; False when it was revoked already."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    token.revoked_by = by
    return True


def live_tokens(session: Session, now: datetime, username: str | None = None) -> list[AccessToken]:
    """Tokens neither revoked nor expired, newest first (of one user, or of everyone)."""
    query = select(AccessToken).where(AccessToken.revoked_at.is_(None), AccessToken.expires_at > now)
    if username is not None:
        query = query.where(AccessToken.username == username)
    return list(session.scalars(query.order_by(AccessToken.issued_at.desc())))


def bump_credentials(user: User) -> None:
    """Move the user's credential version on: every session and token issued before is refused from now."""
    user.credential_version = (user.credential_version or 1) + 1
