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
from engine.errors import NotDeployed
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

    def latest_id(self, session: Session, process_id: str) -> int:
        """The id of the newest version of ``process_id`` (new instances start on it)."""
        version_id = statements.latest_version_id(connection_of(session), process_id)
        if version_id is None:
            raise NotDeployed(
                "no process is deployed: run `gridloop deploy` (or `gridloop init`) first",
                code="process.not_deployed",
            )
        return version_id

    def latest(self, session: Session, process_id: str) -> Deployed:
        """The newest version of ``process_id``."""
        return self.get(session, self.latest_id(session, process_id))

    def runtime_for(self, session: Session) -> Callable[[int], tuple[ProcessBundle, RestrictedScriptEngine]]:
        """Version id → (bundle, script engine), for replaying records (the audit, rebuilding an instance)."""

        def runtime_for(version_id: int) -> tuple[ProcessBundle, RestrictedScriptEngine]:
            deployed = self.get(session, version_id)
            return deployed.bundle, deployed.engine

        return runtime_for
