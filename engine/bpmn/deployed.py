"""Deployed process versions as the engine runs them: each version's parsed bundle and its script engine.

A version is immutable once deployed, so its parsed form is kept for the life of the process; the script
engine calls the business calendar and the organisation through the functions it is built with, which look
them up at call time (so a cached engine sees a changed calendar or organisation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from engine.bpmn.definitions import ProcessBundle, build_bundle
from engine.bpmn.scripting import RestrictedScriptEngine
from engine.errors import Conflict, NotDeployed, NotFound
from engine.store import statements
from engine.store.db import connection_of
from engine.store.models import ProcessVersion


@dataclass(frozen=True)
class Deployed:
    """One deployed version, ready to run: its definitions and the script engine its expressions run in."""

    version_id: int
    bundle: ProcessBundle
    engine: RestrictedScriptEngine


class Versions:
    """The deployed versions this process has parsed, by id (parsed on first use)."""

    def __init__(self, script_functions: Callable[[], dict[str, Any]]) -> None:
        self._script_functions = script_functions
        self._parsed: dict[int, Deployed] = {}

    def remember(self, version_id: int, bundle: ProcessBundle) -> Deployed:
        """Keep a version just deployed (its bundle is parsed already)."""
        deployed = Deployed(version_id, bundle, RestrictedScriptEngine(self._script_functions()))
        self._parsed[version_id] = deployed
        return deployed

    def get(self, session: Session, version_id: int) -> Deployed:
        """The version ``version_id``, parsed from its stored files on first use."""
        deployed = self._parsed.get(version_id)
        if deployed is None:
            version = session.get(ProcessVersion, version_id)
            if version is None:
                raise NotDeployed(
                    "process version {version} does not exist",
                    code="version.not_deployed",
                    version=version_id,
                )
            deployed = self.remember(version_id, build_bundle(dict(version.files), version.process_id))
        return deployed

    def active_id(self, session: Session, process_id: str) -> int:
        """The id of the active version of ``process_id``: the one new instances start on."""
        version_id = statements.active_version_id(connection_of(session), process_id)
        if version_id is None:
            raise NotDeployed(
                "process {process} has no active version: deploy it and activate a version "
                "(`gridloop deploy --activate`, or the process page)",
                code="process.not_deployed",
                process=process_id,
            )
        return version_id

    def active(self, session: Session, process_id: str) -> Deployed:
        """The active version of ``process_id``."""
        return self.get(session, self.active_id(session, process_id))

    def startable(self, session: Session, process_id: str) -> Deployed:
        """The active version of ``process_id``, for a start: :class:`NotFound` when no version of it was ever
        deployed, :class:`Conflict` when none is active now (all drafts or retired)."""
        if statements.shown_version_id(connection_of(session), process_id) is None:
            raise NotFound("no process {process}", code="process.not_found", process=process_id)
        version_id = statements.active_version_id(connection_of(session), process_id)
        if version_id is None:
            raise Conflict(
                "process {process} has no active version: activate one on the process page or with "
                "`gridloop activate VERSION`",
                code="process.no_active_version",
                process=process_id,
            )
        return self.get(session, version_id)

    def shown(self, session: Session, process_id: str) -> Deployed:
        """The version pages read ``process_id``'s names, categories and states from: the active one, else the
        newest deployed."""
        version_id = statements.shown_version_id(connection_of(session), process_id)
        if version_id is None:
            raise NotDeployed(
                "process {process} is not deployed: run `gridloop deploy --activate` (or `gridloop init`) first",
                code="process.not_deployed",
                process=process_id,
            )
        return self.get(session, version_id)

    def runtime_for(self, session: Session) -> Callable[[int], tuple[ProcessBundle, RestrictedScriptEngine]]:
        """Version id → (bundle, script engine), for replaying records (the audit, rebuilding an instance)."""

        def runtime_for(version_id: int) -> tuple[ProcessBundle, RestrictedScriptEngine]:
            deployed = self.get(session, version_id)
            return deployed.bundle, deployed.engine

        return runtime_for
