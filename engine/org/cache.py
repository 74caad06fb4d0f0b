"""The organisation as a running process keeps it: the directory snapshot and the acting users, cached.

Changes made through this process take effect at once (:meth:`OrgCache.invalidate`, which the commands that
change the organisation call after they commit); changes made by another process reach the actor cache
within ``actor_ttl`` seconds of wall time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from engine.org.people import Actor, load_actor
from engine.org.tree import OrgDirectory
from engine.store.db import Database


class OrgCache:
    """The organisation snapshot used by process scripts and scope resolution, and the actors by username."""

    def __init__(self, db: Database, actor_ttl: float = 10.0) -> None:
        self._db = db
        self.actor_ttl = actor_ttl
        self._directory: OrgDirectory | None = None
        self._actors: dict[str, tuple[float, Actor]] = {}
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

    def on_change(self, listener: Callable[[], None]) -> None:
        """Be told when the organisation changed (form choices derived from it are dropped, say)."""
        self._listeners.append(listener)

    def invalidate(self) -> None:
        """Forget the directory and the actors (after a change to the organisation or the staff)."""
        self._directory = None
        self._actors.clear()
        for listener in self._listeners:
            listener()
