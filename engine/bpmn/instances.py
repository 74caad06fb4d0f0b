"""Process instances as commands and reads find them: in memory when the last command here left them, else
rebuilt from the stored checkpoint by playing the history records written since.

The stored state is a checkpoint that names the history record it is as of (``events.state_seq``); the
records after it hold everything a command was given, what the engine's functions answered and the seed its
new tasks took their ids from, so the rebuilt instance is the one the inbox and the timers refer to.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy.orm import Session

from engine.bpmn import replay, runtime
from engine.bpmn.deployed import Deployed, Versions
from engine.bpmn.state import LiveCache, dump_state, load_state
from engine.errors import ProcessFailure
from engine.store import statements
from engine.store.db import connection_of

# the instance's state is stored once this many history records have been written since the last checkpoint;
# the records in between rebuild it when it is not in memory (a few process steps, replayed in milliseconds)
CHECKPOINT_EVERY = 6


class Instances:
    """The live instances of this process (a bounded cache keyed by the event row's version) and their rebuild."""

    def __init__(self, versions: Versions, capacity: int = 2000) -> None:
        self.versions = versions
        self.cache = LiveCache(capacity)

    def take(self, session: Session, event: Any, deployed: Deployed) -> BpmnWorkflow:
        """The event's instance as of its row version, for a command: out of the cache (a command that fails
        must not leave a half-moved object behind) or rebuilt, with the version's script engine attached."""
        workflow = self.cache.take(event.id, event.version)
        if workflow is None:
            workflow = self.rebuild(session, event, deployed)
        return runtime.attach(workflow, deployed.engine)

    def peek(self, session: Session, event: Any, deployed: Deployed) -> BpmnWorkflow:
        """The event's instance for a read: taken and put back as it was."""
        workflow = self.take(session, event, deployed)
        self.cache.put(event.id, event.version, workflow)
        return workflow

    def put(self, event_id: int, version: int, workflow: BpmnWorkflow) -> None:
        """Keep the instance as the state of the event at row version ``version``."""
        self.cache.put(event_id, version, workflow)

    def moved(self, event_id: int, old_version: int, new_version: int) -> None:
        """The event's row moved on without its instance changing (a claim, a sheet): keep the cached object."""
        workflow = self.cache.take(event_id, old_version)
        if workflow is not None:
            self.cache.put(event_id, new_version, workflow)

    def rebuild(self, session: Session, event: Any, deployed: Deployed) -> BpmnWorkflow:
        """The instance as it stands: its stored checkpoint, with the history records written since played
        onto it (each with its recorded time, engine answers and task-id seed, so the tasks come out with the
        ids the inbox holds)."""
        conn = connection_of(session)
        workflow = None
        if event.state_seq:
            text = statements.load_state_text(conn, event.id)
            workflow = runtime.attach(
                load_state(text, deployed.bundle.spec, deployed.bundle.subprocess_specs), deployed.engine
            )
        if event.state_seq < event.history_length:
            records = statements.history_since(conn, event.id, event.state_seq)
            try:
                workflow = replay.play(records, self.versions.runtime_for(session), workflow)
            except runtime.ReplayDivergence as exc:
                raise ProcessFailure(
                    "event {event}'s instance cannot be rebuilt from its history ({problem}); run `gridloop audit`",
                    code="process.rebuild_failed",
                    event=event.id,
                    problem=str(exc),
                ) from exc
        if workflow is None:
            raise ProcessFailure(
                "event {event} has neither a stored state nor a report to rebuild it from",
                code="process.no_state",
                event=event.id,
            )
        return workflow


def checkpoint_due(event: Any) -> bool:
    """True when enough history has been written since the stored checkpoint that the state is stored again."""
    return event.history_length - event.state_seq >= CHECKPOINT_EVERY


def checkpoint(event: Any, workflow: BpmnWorkflow) -> str:
    """The instance's state as stored, marked on the event as of its latest history record."""
    event.state_seq = event.history_length
    return dump_state(workflow)
