"""What rows show beside their codes: staff display names, unit and department names, category names and
classes, and the units a user's filters offer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn.definitions import Category, ProcessBundle
from engine.bpmn.labels import SOURCE_LANGUAGE
from engine.org.people import Actor
from engine.org.tree import OrgDirectory
from engine.store.models import User


def display_names(session: Session, usernames: set[str | None]) -> dict[str, str]:
    """Staff display names by username, for the given usernames (unknown ones are left out)."""
    wanted = sorted(u for u in usernames if u)
    if not wanted:
        return {}
    return dict(
        session.execute(select(User.username, User.display_name).where(User.username.in_(wanted))).all()
    )


def unit_name(directory: OrgDirectory, code: str | None) -> str | None:
    """The name of the org unit ``code`` (the code itself when there is no such unit)."""
    unit = directory.units.get(code) if code else None
    return unit.name if unit is not None else code


def department_name(directory: OrgDirectory, code: str | None) -> str | None:
    """The name of the department ``code`` (the code itself when there is no such department)."""
    department = directory.departments.get(code) if code else None
    return department.name if department is not None else code


def categories_by_code(bundle: ProcessBundle) -> dict[str, Category]:
    """The routing table's sub-categories by code."""
    return {c.code: c for c in bundle.categories}


def describe_category(
    row: dict[str, Any], categories: dict[str, Category], process_name: Callable[[int], str] | None = None
) -> None:
    """Add ``category_name`` and ``category_class`` to a row with a ``category`` code; a row of a process that
    grid reports do not start (no category) is named by its process (``process_name`` of its version)."""
    category = categories.get(row["category"])
    row["category_name"] = category.name if category else row["category"]
    row["category_class"] = category.class_name if category else ""
    if not row["category"] and process_name is not None and row.get("process_version_id"):
        row["category_name"] = process_name(row["process_version_id"])


def translate_step_names(rows: list[dict[str, Any]], bundle: ProcessBundle) -> None:
    """Give task rows (``step``, ``name``: the Chinese name stored with the task) the step's name in the bundle's
    language; in the source language the stored name stays (that of the task's own version)."""
    if bundle.language == SOURCE_LANGUAGE:
        return
    for row in rows:
        info = bundle.user_tasks.get(row["step"])
        if info is not None:
            row["name"] = info.name


def category_groups(bundle: ProcessBundle) -> list[tuple[str, list[Category]]]:
    """The routing table's sub-categories grouped by their class, in table order."""
    groups: dict[str, list[Category]] = {}
    for category in bundle.categories:
        groups.setdefault(category.class_name, []).append(category)
    return list(groups.items())


def visible_units(directory: OrgDirectory, actor: Actor) -> list[dict[str, str]]:
    """The org units inside the actor's scopes (towns, communities, grids), for filters, by code."""
    prefixes = {a.scope_code for a in actor.assignments}
    return [
        {"code": u.code, "name": u.name, "level": u.level}
        for u in sorted(directory.units.values(), key=lambda u: u.code)
        if any(u.code.startswith(p) for p in prefixes)
    ]
