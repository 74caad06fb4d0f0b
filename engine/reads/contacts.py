"""A public reporter's contact — name and phone — whole for those who need it, masked for everyone else.

A hotline or WeChat report keeps the caller's name and phone in the event's columns, in the report's history
record and in the process data, all whole: the audit replays and verifies them as recorded. What an actor
*reads* is masked (``张**``, ``138****5678``) by :func:`masked` unless :func:`sees_whole` says they need it —
a role the ``reporter_contact_roles`` setting names, or holding (being offered, having claimed or completed) a
task of the event whose form talks to the reporter (``"x-gridloop-reporter-contact": true``, the follow-up's).
Every read that shows an event's columns, its history or its process data passes them through :func:`shown`:
the event page and list, the task page, the audit and its export, the JSON API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from engine.org import scope
from engine.privacy import mask_name, mask_phone, mask_text
from engine.reads.reader import Reader
from engine.store.models import Task

# a form whose step talks to the reporter says so at its top level; its holder sees the contact whole
CONTACT_FORM_KEY = "x-gridloop-reporter-contact"


# the contact's fields, wherever they appear (event columns, report data, process data), and how each is masked
MASKS: dict[str, Callable[[str], str]] = {"reporter_name": mask_name, "reporter_phone": mask_phone}


def masked(value: Any) -> Any:
    """A copy of ``value`` (dicts and lists walked to any depth) with every text under a contact field masked
    and every identity or phone number in any other text masked (:func:`mask_text`); the one masking function
    of the pages, lists, API answers, history views and exports."""
    return _mask(value, None)


def exported(reader: Reader, value: Any, whole_asked: bool) -> tuple[Any, bool]:
    """``value`` as an export gives it (a history file, an API list): masked (:func:`masked`) unless the
    caller asked for it whole and holds a role of the ``reporter_contact_roles`` setting — holding a task of
    the case is not enough for an export. Returns the value and whether it is whole."""
    if whole_asked and may_export_whole(reader):
        return value, True
    return masked(value), False


def may_export_whole(reader: Reader) -> bool:
    """Whether the actor may ask for an export with personal data whole: a role of ``reporter_contact_roles``."""
    roles = reader.settings.value("reporter_contact_roles", reader.session)
    return any(reader.actor.has_role(role) for role in roles)


def _mask(value: Any, mask: Callable[[str], str] | None) -> Any:
    if isinstance(value, dict):
        return {
            key: _mask(item, MASKS.get(key, mask) if isinstance(key, str) else mask)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_mask(item, mask) for item in value]
    if isinstance(value, str) and value:
        return mask(value) if mask is not None else mask_text(value)
    return value


def contact_forms(reader: Reader, version_id: int) -> set[str]:
    """The forms of a version's steps that talk to the reporter (those marked with :data:`CONTACT_FORM_KEY`)."""
    return {name for name, schema in reader.bundle(version_id).forms.items() if schema.get(CONTACT_FORM_KEY)}


def sees_whole(reader: Reader, event_id: int | None = None, version_id: int | None = None) -> bool:
    """Whether the actor reads reporters' contacts whole: by a role of the ``reporter_contact_roles`` setting,
    or — for one event (``event_id`` on ``version_id``) — by holding a task of it that talks to the reporter."""
    actor = reader.actor
    if any(actor.has_role(role) for role in reader.settings.value("reporter_contact_roles", reader.session)):
        return True
    if event_id is None or version_id is None:
        return False
    talking = contact_forms(reader, version_id)
    if not talking:
        return False
    tasks = reader.session.scalars(select(Task).where(Task.event_id == event_id, Task.form.in_(talking)))
    return any(
        actor.username in (t.assignee, t.completed_by)
        or (t.status == "open" and scope.is_candidate(actor, t))
        for t in tasks
    )


def shown(reader: Reader, value: Any, event_id: int | None = None, version_id: int | None = None) -> Any:
    """``value`` as the actor may read it: as it is when :func:`sees_whole`, else :func:`masked`."""
    return value if sees_whole(reader, event_id, version_id) else masked(value)
