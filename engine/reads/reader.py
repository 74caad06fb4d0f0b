"""What a read model reads with: the request's one session, the actor loaded once, and the engine's parts.

A page or an API call builds one :class:`Reader` (the web UI from the request's read scope and signed-in user,
:class:`~engine.app.Gridloop`'s read methods from a read scope of their own) and hands it to the read models of
:mod:`engine.reads`, so that everything one answer shows comes from one connection, one snapshot and one load
of the actor — the deployed versions, the organisation, the calendar and the form choices included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy.orm import Session

from engine.bpmn.definitions import ProcessBundle
from engine.bpmn.deployed import Deployed, Versions
from engine.bpmn.forms import FormCache
from engine.bpmn.instances import Instances
from engine.bpmn.labels import SOURCE_LANGUAGE
from engine.bpmn.replay import RuntimeFor
from engine.org.cache import OrgCache
from engine.org.people import Actor
from engine.org.tree import OrgDirectory
from engine.settings import SettingsCache
from engine.time.calendar import BusinessCalendar
from engine.time.clock import Clock


@dataclass(frozen=True)
class Reader:
    """One read for one actor: ``session`` is the read scope's (see :class:`engine.store.db.ReadScope`); the
    engine's caches — deployed versions, live instances, organisation, settings, forms — are consulted through
    it; ``process_id`` names the process grid reports start by default (whose states and categories the lists
    offer: :meth:`deployed` without a version is its active version, else its newest)."""

    session: Session
    actor: Actor
    process_id: str
    clock: Clock
    versions: Versions
    instances: Instances
    org: OrgCache
    settings: SettingsCache
    forms: FormCache
    language: str = SOURCE_LANGUAGE  # the language names from the definitions are read in

    def now(self) -> datetime:
        """The engine clock's current time."""
        return self.clock.now()

    def deployed(self, version_id: int | None = None) -> Deployed:
        """A deployed version (when ``version_id`` is None, the one shown for the report process:
        :meth:`~engine.bpmn.deployed.Versions.shown`)."""
        if version_id is None:
            return self.versions.shown(self.session, self.process_id)
        return self.versions.get(self.session, version_id)

    def bundle(self, version_id: int | None = None) -> ProcessBundle:
        """The definitions of a deployed version (the latest when ``version_id`` is None), with the names staff
        read in the reader's language (:meth:`ProcessBundle.in_language`)."""
        return self.deployed(version_id).bundle.in_language(self.language)

    def process_name(self, version_id: int) -> str:
        """The name of the process model of version ``version_id``, in the reader's language."""
        model = self.deployed(version_id).bundle.model
        return model.named(self.language)[0] if model is not None else ""

    def directory(self) -> OrgDirectory:
        """The organisation: units, grids, departments."""
        return self.org.directory(self.session)

    def calendar(self) -> BusinessCalendar:
        """The business calendar as the settings and the holiday table define it."""
        return self.settings.calendar(self.session)

    def form(self, bundle: ProcessBundle, form: str | None) -> dict[str, Any]:
        """A form's JSON Schema with its live choices filled in (an empty object schema for no form)."""
        return self.forms.resolved(self.session, bundle, form)

    def runtime_for(self) -> RuntimeFor:
        """Version id → (bundle, script engine), for replaying an event's records (the audit)."""
        return self.versions.runtime_for(self.session)

    def instance(self, event: Any, deployed: Deployed) -> BpmnWorkflow:
        """An event's process instance as it stands, to read (out of the live cache, or rebuilt)."""
        return self.instances.peek(self.session, event, deployed)
