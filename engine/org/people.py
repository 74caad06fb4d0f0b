"""Staff: users, their roles within scopes (an org unit and, for department staff, a department), passwords.

An :class:`Actor` is who acts in a command or a read: a user with their assignments, or the system itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field

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

    def has_role(self, role: str) -> bool:
        """True when the actor holds ``role`` in any scope."""
        return any(a.role == role for a in self.assignments)

    @property
    def roles(self) -> tuple[str, ...]:
        """The actor's distinct role keys, in assignment order."""
        return tuple(dict.fromkeys(a.role for a in self.assignments))


SYSTEM = Actor(username="system", display_name="系统")


def hash_password(password: str) -> str:
    """Hash a password with scrypt and a random salt (stdlib only, so the engine needs no web framework)."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "scrypt$16384$8$1$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_password(stored: str | None, password: str) -> bool:
    """Compare ``password`` with a hash made by :func:`hash_password`, in constant time."""
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, n, r, p, salt, digest = stored.split("$")
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
    )
    return hmac.compare_digest(expected, actual)


def actor_from_user(user: User) -> Actor:
    """Build the immutable actor of a loaded user."""
    return Actor(
        username=user.username,
        display_name=user.display_name,
        assignments=tuple(Assignment(a.role, a.scope_code, a.department_code) for a in user.assignments),
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
