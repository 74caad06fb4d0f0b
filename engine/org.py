"""The organisation: levels, grids, departments, staff, their roles and scopes.

A user holds roles within scopes: a scope is an org unit (district, town, community or grid) and, for
department staff, one department. Scope is enforced here, in the engine, by turning an actor into query
conditions (:func:`task_filter`, :func:`event_filter`) and checks (:func:`is_candidate`), so no page or API
route can show or touch what lies outside it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import Session

from engine.errors import GridloopError, NotFound
from engine.models import Department, Event, OrgUnit, RoleAssignment, Task, User
from engine.roles import ROLE_KEYS

LEVELS: tuple[str, ...] = ("district", "town", "community", "grid")
LEVEL_LABELS: dict[str, str] = {"district": "区", "town": "镇街", "community": "社区", "grid": "网格"}


class OrgError(GridloopError):
    """The organisation data asked for is inconsistent (unknown code, wrong parent, bad role …)."""


@dataclass(frozen=True)
class Assignment:
    """One role of a user within a scope (and possibly a department)."""

    role: str
    scope_code: str
    department_code: str | None = None


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user with their assignments, or the system itself (timers, simulations' set-up)."""

    username: str
    display_name: str
    assignments: tuple[Assignment, ...] = field(default_factory=tuple)

    def has_role(self, role: str) -> bool:
        """True when the actor holds ``role`` in any scope."""
        return any(a.role == role for a in self.assignments)

    @property
    def roles(self) -> tuple[str, ...]:
        """The actor's distinct role keys, in assignment order."""
        return tuple(dict.fromkeys(a.role for a in self.assignments))


SYSTEM = Actor(username="system", display_name="系统")


def hash_password(password: str) -> str:
    """Hash a password with scrypt and a random salt (stdlib only, so the engine needs no web framework)."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "scrypt$16384$8$1$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_password(stored: str | None, password: str) -> bool:
    """Compare ``password`` with a hash made by :func:`hash_password`, in constant time."""
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, n, r, p, salt, digest = stored.split("$")
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
    )
    return hmac.compare_digest(expected, actual)


def actor_from_user(user: User) -> Actor:
    """Build the immutable actor of a loaded user."""
    return Actor(
        username=user.username,
        display_name=user.display_name,
        assignments=tuple(Assignment(a.role, a.scope_code, a.department_code) for a in user.assignments),
    )


def load_actor(session: Session, username: str) -> Actor:
    """Load an active user as an actor; an unknown or inactive user is :class:`NotFound`."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise NotFound(f"no active user named {username!r}")
    return actor_from_user(user)


class OrgDirectory:
    """An in-memory snapshot of units and departments, for the lookups process scripts make."""

    def __init__(self, units: dict[str, OrgUnit], departments: dict[str, Department]) -> None:
        self.units = units
        self.departments = departments

    @classmethod
    def load(cls, session: Session) -> OrgDirectory:
        """Read all units and departments."""
        units = {u.code: u for u in session.scalars(select(OrgUnit))}
        departments = {d.code: d for d in session.scalars(select(Department))}
        for obj in (*units.values(), *departments.values()):
            session.expunge(obj)
        return cls(units, departments)

    def unit(self, code: str) -> OrgUnit:
        """The unit with ``code``; :class:`OrgError` naming the code when there is none."""
        try:
            return self.units[code]
        except KeyError:
            raise OrgError(f"unknown org unit code {code!r}") from None

    def ancestors(self, code: str) -> list[OrgUnit]:
        """The unit and its ancestors, nearest first."""
        chain = []
        unit: OrgUnit | None = self.unit(code)
        while unit is not None:
            chain.append(unit)
            unit = self.units.get(unit.parent_code) if unit.parent_code else None
        return chain

    def unit_at_level(self, code: str, level: str) -> OrgUnit:
        """The ancestor-or-self of ``code`` at ``level`` (e.g. the community a grid belongs to)."""
        for unit in self.ancestors(code):
            if unit.level == level:
                return unit
        raise OrgError(f"org unit {code!r} has no ancestor at level {level!r}")

    def grids(self) -> list[OrgUnit]:
        """Every grid, by code."""
        return sorted((u for u in self.units.values() if u.level == "grid"), key=lambda u: u.code)

    def find_department(self, kind: str, grid_code: str) -> str:
        """The department of ``kind`` nearest to ``grid_code``: its community's, else its town's, else the district's."""
        for unit in self.ancestors(grid_code):
            for dept in sorted(self.departments.values(), key=lambda d: d.code):
                if dept.kind == kind and dept.unit_code == unit.code:
                    return dept.code
        raise OrgError(f"no department of kind {kind!r} serves grid {grid_code!r}: add one with that kind")


def add_unit(session: Session, code: str, name: str, level: str, parent_code: str | None) -> OrgUnit:
    """Add an org unit; its code must extend its parent's code and its level must be one below."""
    if level not in LEVELS:
        raise OrgError(f"level {level!r} is not one of {', '.join(LEVELS)}")
    if parent_code is None:
        if level != "district":
            raise OrgError(f"unit {code}: only a district has no parent")
    else:
        parent = session.get(OrgUnit, parent_code)
        if parent is None:
            raise OrgError(f"unit {code}: parent {parent_code!r} does not exist")
        if LEVELS.index(level) != LEVELS.index(parent.level) + 1:
            raise OrgError(f"unit {code}: a {level} cannot sit under a {parent.level}")
        if not code.startswith(parent_code) or code == parent_code:
            raise OrgError(f"unit {code}: its code must extend its parent's code {parent_code}")
    unit = OrgUnit(code=code, name=name, level=level, parent_code=parent_code)
    session.add(unit)
    session.flush()
    return unit


def add_department(session: Session, code: str, name: str, kind: str, unit_code: str) -> Department:
    """Add a department of ``kind`` under the org unit ``unit_code``."""
    if session.get(OrgUnit, unit_code) is None:
        raise OrgError(f"department {code}: org unit {unit_code!r} does not exist")
    dept = Department(code=code, name=name, kind=kind, unit_code=unit_code)
    session.add(dept)
    session.flush()
    return dept


def add_user(
    session: Session, username: str, display_name: str | None = None, password: str | None = None
) -> User:
    """Add a user (or return the existing one with that username)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, display_name=display_name or username, active=True, language="zh")
        session.add(user)
    if password is not None:
        user.password_hash = hash_password(password)
    session.flush()
    return user


def grant_role(
    session: Session, username: str, role: str, scope_code: str, department_code: str | None = None
) -> RoleAssignment:
    """Give ``username`` the role ``role`` within ``scope_code`` (and ``department_code``)."""
    if role not in ROLE_KEYS:
        raise OrgError(f"unknown role {role!r}; roles are: {', '.join(ROLE_KEYS)}")
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise OrgError(f"no user named {username!r}")
    if session.get(OrgUnit, scope_code) is None:
        raise OrgError(f"unknown scope code {scope_code!r}")
    if department_code is not None:
        dept = session.get(Department, department_code)
        if dept is None:
            raise OrgError(f"unknown department code {department_code!r}")
        if not scope_code.startswith(dept.unit_code) and not dept.unit_code.startswith(scope_code):
            raise OrgError(f"department {department_code} does not belong to scope {scope_code}")
    for existing in user.assignments:
        if (existing.role, existing.scope_code, existing.department_code) == (
            role,
            scope_code,
            department_code,
        ):
            return existing
    assignment = RoleAssignment(role=role, scope_code=scope_code, department_code=department_code)
    user.assignments.append(assignment)
    session.flush()
    return assignment


def is_candidate(actor: Actor, task: Task) -> bool:
    """True when ``task`` is offered to ``actor``: right role, and the task's scope or department is theirs."""
    for a in actor.assignments:
        if a.role != task.role:
            continue
        if task.department_code is not None:
            if a.department_code == task.department_code:
                return True
        elif a.department_code is None and task.scope_code.startswith(a.scope_code):
            return True
    return False


def task_filter(actor: Actor) -> ColumnElement[bool]:
    """SQL condition: the tasks offered to ``actor`` or assigned to them."""
    clauses = [Task.assignee == actor.username]
    for a in actor.assignments:
        if a.department_code is not None:
            clauses.append(and_(Task.role == a.role, Task.department_code == a.department_code))
        else:
            clauses.append(
                and_(
                    Task.role == a.role,
                    Task.department_code.is_(None),
                    Task.scope_code.startswith(a.scope_code),
                )
            )
    return or_(*clauses)


def event_filter(actor: Actor) -> ColumnElement[bool]:
    """SQL condition: the events ``actor`` may see — inside one of their scopes, or worked by their department."""
    clauses = []
    departments = set()
    for a in actor.assignments:
        if a.department_code is not None:
            departments.add(a.department_code)
        else:
            clauses.append(Event.grid_code.startswith(a.scope_code))
    if departments:
        worked = select(Task.event_id).where(Task.department_code.in_(sorted(departments)))
        clauses.append(Event.id.in_(worked))
    return or_(*clauses) if clauses else false()
