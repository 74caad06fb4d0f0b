"""The organisation as a running process keeps it: the directory snapshot and the acting users, cached.

Changes made through this process take effect at once (:meth:`OrgCache.invalidate`, which the commands that
change the organisation call after they commit); changes made by another process reach the actor cache and
the cache of who a task is offered to within ``actor_ttl`` seconds of wall time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine.org.people import Actor, load_actor
from engine.org.tree import OrgDirectory
from engine.store.db import Database
from engine.store.models import RoleAssignment, User


@dataclass(frozen=True)
class Reachable:
    """An active member of staff as notices reach them: by name, and by phone or e-mail for channel adapters."""

    username: str
    phone: str | None
    email: str | None
    language: str


_REACHABLE = select(User.username, User.phone, User.email, User.language).join(RoleAssignment)
# the rule of engine.org.scope.is_candidate, asked of the staff table: the role for the department, or the role
# in a unit covering the task's scope (not for a department)
_FOR_DEPARTMENT = _REACHABLE.where(
    User.active.is_(True),
    RoleAssignment.role == bindparam("role"),
    RoleAssignment.department_code == bindparam("department"),
)
_IN_SCOPE = _REACHABLE.where(
    User.active.is_(True),
    RoleAssignment.role == bindparam("role"),
    RoleAssignment.department_code.is_(None),
    RoleAssignment.scope_code.in_(bindparam("covering", expanding=True)),
)


class OrgCache:
    """The organisation snapshot used by process scripts and scope resolution, and the actors by username."""

    def __init__(self, db: Database, actor_ttl: float = 10.0) -> None:
        self._db = db
        self.actor_ttl = actor_ttl
        self._directory: OrgDirectory | None = None
        self._actors: dict[str, tuple[float, Actor]] = {}
        self._offered: dict[tuple[str, str, str | None], tuple[float, tuple[Reachable, ...]]] = {}
        self._listeners: list[Callable[[], None]] = []

    def directory(self, session: Session | None = None) -> OrgDirectory:
        """The directory snapshot, loaded through ``session`` (or a read of its own) when not yet held."""
        directory = self._directory
        if directory is None:
            if session is None:
                with self._db.reading() as own:
                    directory = OrgDirectory.load(own)
            else:
                directory = OrgDirectory.load(session)
            self._directory = directory
        return directory

    def find_department(self, kind: str, grid: str) -> str:
        """The department of ``kind`` responsible for ``grid`` (a process script's lookup)."""
        return self.directory().find_department(kind, grid)

    def actor(self, session: Session, username: str) -> Actor:
        """The acting user with their roles, cached for ``actor_ttl`` seconds."""
        cached = self._actors.get(username)
        if cached is not None and time.monotonic() - cached[0] < self.actor_ttl:
            return cached[1]
        actor = load_actor(session, username)
        self._actors[username] = (time.monotonic(), actor)
        return actor

    def offered_to(
        self, conn: Any, role: str, scope_code: str, department_code: str | None
    ) -> tuple[Reachable, ...]:
        """The active staff a task of ``role`` at ``scope_code`` (or for ``department_code``) is offered to, read
        through ``conn`` and cached for ``actor_ttl`` seconds (the notices of every command ask it)."""
        key = (role, scope_code, department_code)
        cached = self._offered.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.actor_ttl:
            return cached[1]
        if department_code is not None:
            rows = conn.execute(_FOR_DEPARTMENT, {"role": role, "department": department_code})
        else:
            covering = [unit.code for unit in self.directory().ancestors(scope_code)]
            rows = conn.execute(_IN_SCOPE, {"role": role, "covering": covering})
        found = tuple(
            sorted({Reachable(r.username, r.phone, r.email, r.language or "zh") for r in rows}, key=str)
        )
        self._offered[key] = (time.monotonic(), found)
        return found

    def on_change(self, listener: Callable[[], None]) -> None:
        """Be told when the organisation changed (form choices derived from it are dropped, say)."""
        self._listeners.append(listener)

    def invalidate(self) -> None:
        """Forget the directory and the actors (after a change to the organisation or the staff)."""
        self._directory = None
        self._actors.clear()
        self._offered.clear()
        for listener in self._listeners:
            listener()
