"""Administrative commands: deployments, settings, the holiday calendar, staff accounts and set-up — each in
the admin log — and a user's own preferences, uploads and sign-in.

Like every write, each runs through :class:`~engine.commands.pipeline.Pipeline`; what a change invalidates
(the organisation, the settings, a deployed version) is dropped once it has committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from engine import settings
from engine.bpmn.definitions import ProcessBundle
from engine.commands.pipeline import Step
from engine.demo.district import DemoUser, create_demo_district
from engine.errors import FieldError, NotFound, ValidationFailed
from engine.org import auth, people
from engine.org.people import Actor
from engine.org.tree import OrgError
from engine.store import attachments
from engine.store.models import OrgUnit, ProcessVersion, User

LANGUAGES = ("zh", "en")
MIN_PASSWORD = 8


@dataclass(frozen=True)
class Deployment:
    """The result of a deploy: the version's id and hash, and whether it is new."""

    id: int
    content_hash: str
    created: bool


def deploy(step: Step, bundle: ProcessBundle) -> Deployment:
    """Deploy a validated bundle as an immutable, content-hashed version; a known content hash is reused."""
    session = step.session
    existing = session.scalar(
        select(ProcessVersion).where(ProcessVersion.content_hash == bundle.content_hash)
    )
    if existing is not None:
        return Deployment(existing.id, existing.content_hash, created=False)
    version = ProcessVersion(
        process_id=bundle.process_id,
        content_hash=bundle.content_hash,
        files=bundle.files,
        deployed_at=step.now,
        deployed_by=step.actor.username,
    )
    session.add(version)
    session.flush()
    step.log("deploy", {"process": bundle.process_id, "version": version.id, "hash": bundle.content_hash})
    version_id = version.id

    def remember() -> None:
        step.parts.versions.remember(version_id, bundle)

    step.after_commit(remember)
    return Deployment(version.id, version.content_hash, created=True)


def change_setting(step: Step, key: str, value: Any) -> Any:
    """Change a district setting (admins only); return the previous value."""
    step.require_role("admin", message="only administrators change settings", code="settings.admin_only")
    previous = settings.put(step.session, key, value, step.now)
    step.log("setting", {"key": key, "old": previous, "new": value})
    step.after_commit(step.parts.settings.invalidate)
    return previous


def set_calendar_day(step: Step, day: date, is_workday: bool | None, note: str | None = None) -> None:
    """Enter (or, with ``is_workday`` None, remove) a holiday or make-up working day (admins only)."""
    step.require_role(
        "admin", message="only administrators edit the holiday calendar", code="calendar.admin_only"
    )
    previous = settings.set_day(step.session, day, is_workday, note, step.actor.username, step.now)
    step.log("calendar_day", {"day": day.isoformat(), "old": previous, "new": is_workday, "note": note})
    step.after_commit(step.parts.settings.invalidate)


def add_user(
    step: Step,
    username: str,
    display_name: str | None,
    role: str,
    scope_code: str,
    department_code: str | None = None,
) -> None:
    """Add a staff account (or a further role to an existing one)."""
    exists = step.session.scalar(select(User.id).where(User.username == username)) is not None
    people.add_user(step.session, username, display_name)
    if not exists:
        step.log("user_added", {"username": username, "name": display_name or username})
    people.grant_role(step.session, username, role, scope_code, department_code)
    step.log(
        "role_granted",
        {"username": username, "role": role, "scope": scope_code, "department": department_code},
    )
    step.after_commit(step.parts.org.invalidate)


def set_password(step: Step, username: str, password: str) -> None:
    """Set a staff account's password (the log records that it changed, never the password)."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            "a password needs at least {limit} characters",
            {"password": [FieldError("min_length", {"limit": MIN_PASSWORD})]},
            limit=MIN_PASSWORD,
        )
    user = step.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise OrgError("no user named {username!r}", code="org.unknown_user", username=username)
    user.password_hash = people.hash_password(password)
    step.log("password_set", {"username": username})


def demo_district(step: Step, password: str | None) -> list[DemoUser] | None:
    """Add the demo district and its accounts; None (and nothing written) when an organisation exists."""
    if step.session.scalar(select(OrgUnit.code).limit(1)) is not None:
        return None
    users = create_demo_district(step.session, password)
    step.log("demo_district", {"accounts": len(users)})
    step.after_commit(step.parts.org.invalidate)
    return users


def set_language(step: Step, language: str) -> None:
    """Choose the actor's own interface language."""
    if language not in LANGUAGES:
        choices = ", ".join(LANGUAGES)
        raise ValidationFailed(
            "unknown language {language!r}; the languages are: {choices}",
            {"language": [FieldError("not_a_choice_of", {"choices": choices})]},
            language=language,
            choices=choices,
        )
    user = step.session.scalar(select(User).where(User.username == step.actor.username))
    if user is None:
        raise NotFound("no user {username!r}", code="user.not_found", username=step.actor.username)
    user.language = language


def upload(step: Step, filename: str, content: bytes) -> attachments.StoredAttachment:
    """Store an uploaded photo or document and return its id for use in form data."""
    return attachments.store(step.session, filename, content, step.actor.username, step.now)


def sign_in(step: Step, username: str, password: str) -> Actor | auth.AuthenticationFailed:
    """Check a sign-in; a failure is returned, not raised, so that its count (which may lock the account) is
    committed."""
    try:
        return auth.authenticate(step.session, username, password, step.now)
    except auth.AuthenticationFailed as failure:
        return failure
