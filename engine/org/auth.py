"""Signing in: password check with a lock-out after repeated failures.

The engine decides whether a username and password are good and keeps the failure count; sessions, cookies and
tokens belong to the web layer. A locked account answers exactly like a wrong password plus the time it unlocks,
so that guessing cannot tell a locked account from a wrong password of an open one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import GridloopError
from engine.org import people
from engine.store.models import User

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)


class AuthenticationFailed(GridloopError):
    """Wrong username or password (``auth.wrong_password``), or the account is locked for a while
    (``auth.locked``; ``locked_until`` says until when)."""

    code = "auth.wrong_password"

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message, code=code, **params)
        self.locked_until: datetime | None = params.get("until")


def _wrong_password() -> AuthenticationFailed:
    return AuthenticationFailed("wrong username or password", code="auth.wrong_password")


def _locked(until: datetime) -> AuthenticationFailed:
    return AuthenticationFailed(
        "too many failed sign-ins; the account is locked until {until:%Y-%m-%d %H:%M} UTC",
        code="auth.locked",
        until=until,
    )


def authenticate(session: Session, username: str, password: str, now: datetime) -> people.Actor:
    """Check a sign-in; return the actor, or raise :class:`AuthenticationFailed` and count the failure."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise _wrong_password()
    if user.locked_until is not None and user.locked_until > now:
        raise _locked(user.locked_until)
    if not people.check_password(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            raise _locked(user.locked_until)
        raise _wrong_password()
    user.failed_logins = 0
    user.locked_until = None
    return people.actor_from_user(user)
