"""Administrative commands: deployments, settings, the holiday calendar, staff accounts and set-up — each in
the admin log — and a user's own preferences, uploads and sign-in.

Like every write, each runs through :class:`~engine.commands.pipeline.Pipeline`; what a change invalidates
(the organisation, the settings, a deployed version) is dropped once it has committed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from engine import settings
from engine.bpmn import forms
from engine.commands.pipeline import Step
from engine.demo.district import DemoUser, create_demo_district
from engine.errors import FieldError, FieldErrors, NotDeployed, NotFound, ValidationFailed
from engine.org import auth, people
from engine.org.roles import ROLE_KEYS
from engine.org.tree import OrgError
from engine.store import attachments
from engine.store.models import AccessToken, OrgUnit, User

LANGUAGES = ("zh", "en")
MIN_PASSWORD = 8


def change_setting(step: Step, key: str, value: Any) -> Any:
    """Change a district setting (admins only; the start rules, :data:`engine.settings.DESIGNER_SETTINGS`, process
    designers too); return the previous value."""
    if key in settings.DESIGNER_SETTINGS:
        step.require_role(
            "admin", "designer", message="only administrators and designers change the start rules",
            code="settings.designer_only",
        )  # fmt: skip
    else:
        step.require_role("admin", message="only administrators change settings", code="settings.admin_only")
    forms.require_storable({"key": key})
    unstorable = forms.value_errors(value, (key,))
    if unstorable:
        raise ValidationFailed("setting {key}: its value holds what no database stores", unstorable, key=key)
    if key in settings.SCHEMAS:  # the shape, field by field (``step_limits.accept.0``), before the rules
        shape = forms.validate({"type": "object", "properties": {key: settings.SCHEMAS[key]}}, {key: value})
        if shape:
            raise ValidationFailed(
                "{key}: the value does not fit its schema at {fields}",
                shape,
                key=key,
                fields=", ".join(shape),
            )
    roles_setting = key in ("report_roles", "assign_roles", "reporter_contact_roles") and isinstance(
        value, list
    )
    if key == "process_starters" and isinstance(value, dict):
        roles_setting = True
        value_roles = {role for rule in value.values() for role in rule.get("roles", [])}
    else:
        value_roles = set(value) if roles_setting else set()
    unknown = sorted(value_roles - set(ROLE_KEYS))
    if unknown:
        raise ValidationFailed(
            "unknown roles {unknown}; the roles are: {roles}",
            {key: [FieldError("not_a_choice_of", {"choices": ", ".join(ROLE_KEYS)})]},
            unknown=", ".join(map(str, unknown)),
            roles=", ".join(ROLE_KEYS),
        )
    if key == "report_processes":
        _check_report_processes(step, value)
    previous = settings.put(step.session, key, value, step.now)
    step.log("setting", {"key": key, "old": previous, "new": value})
    step.after_commit(step.parts.settings.invalidate)
    return previous


def _check_report_processes(step: Step, rules: list[dict[str, str]]) -> None:
    """Every process a start rule names is deployed and takes grid reports."""
    errors: FieldErrors = {}
    for index, rule in enumerate(rules):
        process_id = rule["process"]
        try:
            model = step.parts.versions.shown(step.session, process_id).bundle.model
        except NotDeployed:
            errors[f"report_processes.{index}.process"] = [
                FieldError("start.process_unknown", {"process": process_id})
            ]
            continue
        if model is None or not model.takes_reports:
            errors[f"report_processes.{index}.process"] = [
                FieldError("start.process_takes_no_reports", {"process": process_id})
            ]
    if errors:
        raise ValidationFailed(
            "a start rule names a process that is not deployed or takes no grid reports: {fields}",
            errors,
            code="settings.report_processes",
            fields=", ".join(errors),
        )


def set_calendar_day(step: Step, day: date, is_workday: bool | None, note: str | None = None) -> None:
    """Enter (or, with ``is_workday`` None, remove) a holiday or make-up working day (admins only)."""
    step.require_role(
        "admin", message="only administrators edit the holiday calendar", code="calendar.admin_only"
    )
    forms.require_storable({"note": note})
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
    forms.require_storable(
        {
            "username": username,
            "display_name": display_name,
            "role": role,
            "scope": scope_code,
            "department": department_code,
        }
    )
    exists = step.session.scalar(select(User.id).where(User.username == username)) is not None
    people.add_user(step.session, username, display_name)
    if not exists:
        step.log("user_added", {"username": username, "name": display_name or username})
    people.grant_role(step.session, username, role, scope_code, department_code)
    user = step.session.scalar(select(User).where(User.username == username))
    if exists and user is not None:
        auth.bump_credentials(user)  # what the user may do changed: older sessions and tokens are refused
    step.log(
        "role_granted",
        {"username": username, "role": role, "scope": scope_code, "department": department_code},
    )
    step.after_commit(step.parts.org.invalidate)


def set_password(step: Step, username: str, password: str) -> None:
    """Set a staff account's password (the log records that it changed, never the password)."""
    forms.require_storable({"username": username, "password": password})
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
    auth.bump_credentials(user)
    step.log("password_set", {"username": username})


def set_active(step: Step, username: str, active: bool) -> None:
    """Disable a staff account (it can no longer sign in, and its sessions and tokens are refused) or enable it
    again (admins only; the CLI acts as the system)."""
    _require_admin_unless_system(step)
    user = _user(step, username)
    if user.active == active:
        return
    user.active = active
    auth.bump_credentials(user)
    step.log("user_enabled" if active else "user_disabled", {"username": username})
    step.after_commit(step.parts.org.invalidate)


def _require_admin_unless_system(step: Step) -> None:
    if not step.actor.is_system:
        step.require_role("admin", message="only administrators manage accounts", code="users.admin_only")


def _user(step: Step, username: str) -> User:
    user = step.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise OrgError("no user named {username!r}", code="org.unknown_user", username=username)
    return user


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
    forms.require_storable({"file": filename})
    return attachments.store(step.session, filename, content, step.actor.username, step.now)


def sign_in(
    step: Step, username: str, password: str, address: str, kind: str, lifetime: timedelta
) -> auth.SignedIn | auth.AuthenticationFailed:
    """Judge a sign-in and, when good, issue an access token of ``kind``. A failure is returned, not raised, so
    that its count (which may lock the account or the address) and its admin-log record are committed."""
    forms.require_storable({"username": username, "password": password})
    outcome, attempt = auth.authenticate(step.session, username, password, address, step.now)
    record: dict[str, Any] = {"username": username, "address": address, "kind": kind}
    if isinstance(outcome, auth.AuthenticationFailed):
        step.log("sign_in_failed", {**record, "reason": attempt.outcome})
        for key, until in attempt.locks:
            step.log("locked_out", {"username": username, "address": address, "key": key, "until": until})
        return outcome
    token = auth.issue(step.session, _user(step, username), kind, address, step.now, lifetime)
    step.log("signed_in", {**record, "token": token.id})
    return auth.SignedIn(outcome, token.id, token.expires_at)


def sign_out(step: Step, token_id: str) -> None:
    """End one session or token of the actor's own (signing out)."""
    token = step.session.get(AccessToken, token_id)
    if token is None or token.username != step.actor.username:
        raise NotFound("no session {token}", code="token.not_found", token=token_id)
    if auth.revoke(step.session, token, step.actor.username, step.now):
        step.log("signed_out", {"username": token.username, "token": token.id, "kind": token.kind})


def sign_out_everywhere(step: Step, username: str) -> int:
    """End every session and token of ``username`` — one's own, or (admins) anyone's; return how many were live."""
    if username != step.actor.username:
        _require_admin_unless_system(step)
    user = _user(step, username)
    live = auth.live_tokens(step.session, step.now, username)
    for token in live:
        auth.revoke(step.session, token, step.actor.username, step.now)
    auth.bump_credentials(user)
    step.log("signed_out_everywhere", {"username": username, "tokens": len(live)})
    return len(live)


def revoke_token(step: Step, token_id: str) -> None:
    """Revoke one session or API token (admins; the CLI)."""
    _require_admin_unless_system(step)
    token = step.session.get(AccessToken, token_id)
    if token is None:
        raise NotFound("no session {token}", code="token.not_found", token=token_id)
    if auth.revoke(step.session, token, step.actor.username, step.now):
        step.log("token_revoked", {"username": token.username, "token": token.id, "kind": token.kind})
