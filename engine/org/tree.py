"""The organisation's tree: levels, units (district, town, community, grid) and the departments under them.

:class:`OrgDirectory` is the in-memory snapshot process scripts and scope resolution look units up in.
"""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import GridloopError
from engine.org.geography import Geography
from engine.store.models import Department, OrgUnit

LEVELS: tuple[str, ...] = ("district", "town", "community", "grid")


LEVEL_LABELS: dict[str, str] = {"district": "区", "town": "镇街", "community": "社区", "grid": "网格"}


class OrgError(GridloopError):
    """The organisation data asked for is inconsistent (unknown code, wrong parent, bad role …)."""


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
            raise OrgError("unknown org unit code {unit!r}", code="org.unknown_unit", unit=code) from None

    def ancestors(self, code: str) -> list[OrgUnit]:
        """The unit and its ancestors, nearest first."""
        chain = []
        unit: OrgUnit | None = self.unit(code)
        while unit is not None:
            chain.append(unit)
            unit = self.units.get(unit.parent_code) if unit.parent_code else None
        return chain

    @cached_property
    def geography(self) -> Geography:
        """The units' boundaries, indexed for placing reports (:mod:`engine.org.geography`)."""
        return Geography(self.units.values())

    def unit_at_level(self, code: str, level: str) -> OrgUnit:
        """The ancestor-or-self of ``code`` at ``level`` (e.g. the community a grid belongs to); for a case
        placed with a unit above ``level`` (属地兜底: a place in no grid falls to its community), that unit —
        its own staff of the lane's role take the step. A grid ended by a re-division answers with its successor."""
        chain = self.ancestors(code)
        for unit in chain:
            if unit.level == level:
                return self.current(unit)  # a re-divided grid's steps go to its successor
        if (
            level in LEVELS
            and chain[0].level in LEVELS
            and LEVELS.index(chain[0].level) < LEVELS.index(level)
        ):
            return chain[0]
        raise OrgError(
            "org unit {unit!r} has no ancestor at level {level!r}",
            code="org.no_ancestor",
            unit=code,
            level=level,
        )

    def grids(self) -> list[OrgUnit]:
        """Every grid not ended by a re-division (the grids a report may name), by code."""
        return sorted(
            (u for u in self.units.values() if u.level == "grid" and u.valid_to is None), key=lambda u: u.code
        )

    def current(self, unit: OrgUnit) -> OrgUnit:
        """``unit``, or for a grid ended by a re-division its successor (and so on, to the grid valid now)."""
        seen = {unit.code}
        while unit.valid_to is not None and unit.successor_code and unit.successor_code in self.units:
            unit = self.units[unit.successor_code]
            if unit.code in seen:  # a loop in the data: stop at what was reached
                break
            seen.add(unit.code)
        return unit

    def find_department(self, kind: str, grid_code: str) -> str:
        """The department of ``kind`` nearest to ``grid_code``: its community's, else its town's, else the district's."""
        for unit in self.ancestors(grid_code):
            for dept in sorted(self.departments.values(), key=lambda d: d.code):
                if dept.kind == kind and dept.unit_code == unit.code:
                    return dept.code
        raise OrgError(
            "no department of kind {kind!r} serves grid {grid!r}: add one with that kind",
            code="org.no_department_of_kind",
            kind=kind,
            grid=grid_code,
        )


def add_unit(session: Session, code: str, name: str, level: str, parent_code: str | None) -> OrgUnit:
    """Add an org unit; its code must extend its parent's code and its level must be one below."""
    if level not in LEVELS:
        raise OrgError(
            "level {level!r} is not one of {levels}",
            code="org.unknown_level",
            level=level,
            levels=", ".join(LEVELS),
        )
    if parent_code is None:
        if level != "district":
            raise OrgError("unit {unit}: only a district has no parent", code="org.parent_missing", unit=code)
    else:
        parent = session.get(OrgUnit, parent_code)
        if parent is None:
            raise OrgError(
                "unit {unit}: parent {parent!r} does not exist",
                code="org.unknown_parent",
                unit=code,
                parent=parent_code,
            )
        if LEVELS.index(level) != LEVELS.index(parent.level) + 1:
            raise OrgError(
                "unit {unit}: a {level} cannot sit under a {parent_level}",
                code="org.wrong_level",
                unit=code,
                level=level,
                parent_level=parent.level,
            )
        if not code.startswith(parent_code) or code == parent_code:
            raise OrgError(
                "unit {unit}: its code must extend its parent's code {parent}",
                code="org.code_not_under_parent",
                unit=code,
                parent=parent_code,
            )
    unit = OrgUnit(code=code, name=name, level=level, parent_code=parent_code)
    session.add(unit)
    session.flush()
    return unit


def add_department(session: Session, code: str, name: str, kind: str, unit_code: str) -> Department:
    """Add a department of ``kind`` under the org unit ``unit_code``."""
    if session.get(OrgUnit, unit_code) is None:
        raise OrgError(
            "department {department}: org unit {unit!r} does not exist",
            code="org.department_unit_unknown",
            department=code,
            unit=unit_code,
        )
    dept = Department(code=code, name=name, kind=kind, unit_code=unit_code)
    session.add(dept)
    session.flush()
    return dept
