"""A process version's life cycle: deploy (a draft), activate, retire, roll back — each in the admin log.

A deploy stores a validated, content-hashed set of files as a *draft*: nothing starts on it yet, so a
designer can look at it, diff it and dry-run a migration first. Activating a version makes it the one new
instances of its process start on; the version active until then is retired and remembered as the new one's
``previous_id``. Retiring stops new starts (instances already running go on to their end on it). Rolling back
re-activates the version the active one replaced, and that one's own previous stays what it was, so rollbacks
walk back through the activations one at a time.

Activation re-checks the stored files the way deploy did (:func:`engine.bpmn.definitions.build_deployable`), so
a version stored before a check existed is refused with the same ``file:line: element: message — fix``. Only
designers and administrators (and the system: the CLI, set-up) run these.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import select

from engine.bpmn.definitions import DefinitionError, ProcessBundle, build_deployable
from engine.commands.pipeline import Step
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.org.roles import DESIGN_ROLES
from engine.store.models import ProcessVersion

# the fields of a start form that a grid report fills in: a model that takes reports must have them
# (engine.commands.tasks reads them besides what the form validates)
REPORT_FORM_FIELDS = ("category", "description", "channel")


@dataclass(frozen=True)
class Deployment:
    """The result of a deploy: the version's id, process, hash and status, and whether it is new."""

    id: int
    process_id: str
    content_hash: str
    created: bool
    status: str = "draft"


def _require_designer(step: Step, what: str) -> None:
    if step.actor.is_system:
        return
    if not any(step.actor.has_role(role) for role in DESIGN_ROLES):
        raise Forbidden(
            "only process designers and administrators {what}", code="version.designer_only", what=what
        )


def deploy(step: Step, bundle: ProcessBundle) -> Deployment:
    """Store a validated bundle as a draft version of its process; a known content hash answers the version
    that has it (whatever its status), and nothing changes."""
    _require_designer(step, "deploy process versions")
    session = step.session
    existing = session.scalar(
        select(ProcessVersion).where(ProcessVersion.content_hash == bundle.content_hash)
    )
    if existing is not None:
        return Deployment(existing.id, existing.process_id, existing.content_hash, False, existing.status)
    version = ProcessVersion(
        process_id=bundle.process_id,
        content_hash=bundle.content_hash,
        files=bundle.files,
        deployed_at=step.now,
        deployed_by=step.actor.username,
        status="draft",
    )
    session.add(version)
    session.flush()
    step.log("deploy", {"process": bundle.process_id, "version": version.id, "hash": bundle.content_hash})
    version_id = version.id

    def remember() -> None:
        step.parts.versions.remember(version_id, bundle)

    step.after_commit(remember)
    return Deployment(version.id, version.process_id, version.content_hash, True, version.status)


def _version(step: Step, version_id: int) -> ProcessVersion:
    version = step.session.get(ProcessVersion, version_id, with_for_update=True)
    if version is None:
        raise NotFound("no process version {version}", code="version.not_found", version=version_id)
    return version


def _active(step: Step, process_id: str) -> ProcessVersion | None:
    return step.session.scalar(
        select(ProcessVersion)
        .where(ProcessVersion.process_id == process_id, ProcessVersion.status == "active")
        .with_for_update()
    )


def activate(step: Step, version_id: int) -> Deployment:
    """Make ``version_id`` the version new instances of its process start on; the one active until now is
    retired (and is what a rollback of this one re-activates). Refused, changing nothing, when the stored files
    would not deploy today."""
    _require_designer(step, "activate process versions")
    return _activate(step, _version(step, version_id), check=True)


def _activate(step: Step, version: ProcessVersion, check: bool) -> Deployment:
    version_id = version.id
    if version.status == "active":
        raise Conflict(
            "version {version} of {process} is active already", code="version.already_active",
            version=version_id, process=version.process_id,
        )  # fmt: skip
    if check:
        _check_deployable(version)
    current = _active(step, version.process_id)
    previous = current.id if current is not None else None
    if current is not None:
        _retire(step, current)
        step.session.flush()  # one active version per process: the index sees the old one go first
    version.status, version.activated_at, version.activated_by = "active", step.now, step.actor.username
    version.retired_at = version.retired_by = None
    version.previous_id = previous
    step.log("activate", {"process": version.process_id, "version": version.id, "previous": previous})
    return Deployment(version.id, version.process_id, version.content_hash, False, version.status)


def retire(step: Step, version_id: int) -> Deployment:
    """Stop new instances starting on ``version_id`` (a draft is retired unused); its running instances go on.
    Retiring the active version leaves the process with none until another is activated."""
    _require_designer(step, "retire process versions")
    version = _version(step, version_id)
    if version.status == "retired":
        raise Conflict(
            "version {version} of {process} is retired already", code="version.already_retired",
            version=version_id, process=version.process_id,
        )  # fmt: skip
    _retire(step, version)
    step.log("retire", {"process": version.process_id, "version": version.id})
    return Deployment(version.id, version.process_id, version.content_hash, False, version.status)


def rollback(step: Step, process_id: str) -> Deployment:
    """Re-activate the version the active version of ``process_id`` replaced; the active one is retired. The
    version rolled back to keeps its own previous, so a second rollback goes one activation further back."""
    _require_designer(step, "roll back process versions")
    current = _active(step, process_id)
    if current is None:
        raise Conflict(
            "process {process} has no active version to roll back from: activate a version instead",
            code="version.nothing_active",
            process=process_id,
        )
    if current.previous_id is None:
        raise Conflict(
            "version {version} of {process} replaced no earlier version: there is nothing to roll back to",
            code="version.no_previous",
            version=current.id,
            process=process_id,
        )
    target = _version(step, current.previous_id)
    _check_deployable(target)
    _retire(step, current)
    step.session.flush()
    target.status, target.activated_at, target.activated_by = "active", step.now, step.actor.username
    target.retired_at = target.retired_by = None
    step.log("rollback", {"process": process_id, "from": current.id, "to": target.id})
    return Deployment(target.id, target.process_id, target.content_hash, False, target.status)


def _retire(step: Step, version: ProcessVersion) -> None:
    version.status, version.retired_at, version.retired_by = "retired", step.now, step.actor.username


def _check_deployable(version: ProcessVersion) -> None:
    """Refuse a version whose stored files would not deploy today, with every problem."""
    try:
        build_deployable(dict(version.files), version.process_id, REPORT_FORM_FIELDS)
    except DefinitionError as err:
        raise ValidationFailed(
            "version {version} of {process} cannot be activated:\n{problems}",
            {},
            code="version.not_deployable",
            version=version.id,
            process=version.process_id,
            problems="\n".join(str(p) for p in err.problems),
        ) from err


def deploy_all(step: Step, bundles: list[ProcessBundle], activate_them: bool) -> list[Deployment]:
    """Deploy each bundle (:func:`deploy`) and, with ``activate_them``, activate each version not active yet:
    one transaction, so a refusal of any leaves every process as it was."""
    deployments = [deploy(step, bundle) for bundle in bundles]
    if not activate_them:
        return deployments
    # the bundles were built by build_deployable just now: their versions need no second check
    return [
        d
        if d.status == "active"
        else dataclasses.replace(_activate(step, _version(step, d.id), check=False), created=d.created)
        for d in deployments
    ]
