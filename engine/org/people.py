"""Staff: users, their roles within scopes (an org unit and, for department staff, a department), passwords.

An :class:`Actor` is who acts in a command or a read: a user with their assignments, or the system itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.org.roles import ROLE_KEYS
from engine.org.tree import OrgError
from engine.store.models import Department, OrgUnit, RoleAssignment, User


@dataclass(frozen=True)
class Assignment:
    """One role of a user within a scope (and possibly a department)."""

    role: str
    scope_code: str
    department_code: str | None = None


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user with their assignments, or the system itself (timers, simulations' set-up)."""

    username: str
    display_name: str
    assignments: tuple[Assignment, ...] = field(default_factory=tuple)
    # the user's credential version when loaded (see :mod:`engine.org.auth`): 0 for the system
    credential_version: int = 0

    def has_role(self, role: str) -> bool:
        """True when the actor holds ``role`` in any scope."""
        return any(a.role == role for a in self.assignments)

    @property
    def is_system(self) -> bool:
        """True for the system (a scheduler, the CLI, set-up): an actor not loaded from a user."""
        return self.credential_version == 0

    @property
    def roles(self) -> tuple[str, ...]:
        """The actor's distinct role keys, in assignment order."""
        return tuple(dict.fromkeys(a.role for a in self.assignments))


SYSTEM = Actor(username="system", display_name="系统")


# Argon2id at OWASP's second recommended setting (19 MiB, 2 passes, 1 lane): tens of milliseconds a check
PASSWORDS = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@cache
def _stand_in() -> str:
    """A hash no password matches, checked in place of a missing one so that every check costs the same."""
    return PASSWORDS.hash(os.urandom(16).hex())


def hash_password(password: str) -> str:
    """Hash a password with Argon2id and a random salt."""
    return PASSWORDS.hash(password)


def needs_rehash(stored: str | None) -> bool:
    """Whether a stored hash is of an older kind or setting (an scrypt hash of earlier releases, say)."""
    if not stored or not stored.startswith("$argon2"):
        return True
    return PASSWORDS.check_needs_rehash(stored)


def _check_scrypt(stored: str, password: str) -> bool:
    _, n, r, p, salt, digest = stored.split("$")
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
    )
    return hmac.compare_digest(expected, actual)


def check_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash (Argon2id, or scrypt of earlier releases). Without a stored
    hash a stand-in is checked, so that an account without a password — or none at all — takes as long."""
    if stored and stored.startswith("scrypt$"):
        return _check_scrypt(stored, password)
    target = stored if stored and stored.startswith("$argon2") else None
    try:
        return PASSWORDS.verify(target or _stand_in(), password) and target is not None
    except (VerificationError, InvalidHashError):
        return False


def actor_from_user(user: User) -> Actor:
    """Build the immutable actor of a loaded user."""
    return Actor(
        username=user.username,
        display_name=user.display_name,
        assignments=tuple(Assignment(a.role, a.scope_code, a.department_code) for a in user.assignments),
        credential_version=user.credential_version or 1,
    )


def load_actor(session: Session, username: str) -> Actor:
    """Load an active user as an actor; an unknown or inactive user is :class:`NotFound`."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise NotFound("no active user named {username!r}", code="user.not_found", username=username)
    return actor_from_user(user)


def add_user(
    session: Session, username: str, display_name: str | None = None, password: str | None = None
) -> User:
    """Add a user (or return the existing one with that username)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, display_name=display_name or username, active=True, language="zh")
        session.add(user)
    if password is not None:
        user.password_hash = hash_password(password)
    session.flush()
    return user


def grant_role(
    session: Session, username: str, role: str, scope_code: str, department_code: str | None = None
) -> RoleAssignment:
    """Give ``username`` the role ``role`` within ``scope_code`` (and ``department_code``)."""
    if role not in ROLE_KEYS:
        raise OrgError(
            "unknown role {role!r}; roles are: {roles}",
            code="org.unknown_role",
            role=role,
            roles=", ".join(ROLE_KEYS),
        )
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise OrgError("no user named {username!r}", code="org.unknown_user", username=username)
    if session.get(OrgUnit, scope_code) is None:
        raise OrgError("unknown scope code {scope!r}", code="org.unknown_scope", scope=scope_code)
    if department_code is not None:
        dept = session.get(Department, department_code)
        if dept is None:
            raise OrgError(
                "unknown department code {department!r}",
                code="org.unknown_department",
                department=department_code,
            )
        if not scope_code.startswith(dept.unit_code) and not dept.unit_code.startswith(scope_code):
            raise OrgError(
                "department {department} does not belong to scope {scope}",
                code="org.department_outside_scope",
                department=department_code,
                scope=scope_code,
            )
    for existing in user.assignments:
        if (existing.role, existing.scope_code, existing.department_code) == (
            role,
            scope_code,
            department_code,
        ):
            return existing
    assignment = RoleAssignment(role=role, scope_code=scope_code, department_code=department_code)
    user.assignments.append(assignment)
    session.flush()
    return assignment
