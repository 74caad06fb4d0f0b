"""The household ledger as its page shows it (人房台账): the grids in the actor's scope with their buildings,
dwellings and people — a grid worker their grid's, a community's staff its grids', the district everything —
each person's identity and phone numbers masked (the sealed numbers are read whole only by
:func:`engine.commands.ledger.unmask`, which logs it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from engine.errors import Forbidden
from engine.ledger.rows import FLAGS
from engine.reads.labels import unit_name
from engine.reads.reader import Reader
from engine.store.models import LedgerBuilding, LedgerDwelling, LedgerPerson

# the most people one page lists (a grid holds a few hundred households)
PAGE_PEOPLE = 2000


def _scopes(reader: Reader) -> list[str]:
    return [a.scope_code for a in reader.actor.assignments if a.department_code is None]


def may_edit(reader: Reader) -> bool:
    """Whether the actor imports and edits the ledger (a role of ``ledger_edit_roles``)."""
    roles = reader.settings.value("ledger_edit_roles", reader.session)
    return any(reader.actor.has_role(r) for r in roles)


def may_unmask(reader: Reader) -> bool:
    """Whether the actor may read a person's numbers whole (a role of ``ledger_unmask_roles``)."""
    roles = reader.settings.value("ledger_unmask_roles", reader.session)
    return any(reader.actor.has_role(r) for r in roles)


def ledger_page(reader: Reader, grid: str | None = None, flag: str | None = None) -> dict[str, Any]:
    """The ledger of the actor's scope (``grid``: one grid or unit within it; ``flag``: only people with that
    flag), by grid, building and dwelling; :class:`Forbidden` for staff of a department alone (the ledger is
    the territory's)."""
    scopes = _scopes(reader)
    if not scopes:
        raise Forbidden("the ledger is kept by the territory's staff", code="ledger.not_allowed")
    within = [LedgerBuilding.grid_code.startswith(s) for s in scopes]
    query = (
        select(LedgerPerson, LedgerDwelling, LedgerBuilding)
        .join(LedgerDwelling, LedgerDwelling.id == LedgerPerson.dwelling_id)
        .join(LedgerBuilding, LedgerBuilding.id == LedgerDwelling.building_id)
        .where(or_(*within), LedgerPerson.left_on.is_(None))
        .order_by(
            LedgerBuilding.grid_code,
            LedgerBuilding.name,
            LedgerDwelling.unit,
            LedgerDwelling.room,
            LedgerPerson.id,
        )
        .limit(PAGE_PEOPLE)
    )
    if grid:
        query = query.where(LedgerBuilding.grid_code.startswith(grid))
    directory = reader.directory()
    grids: dict[str, dict[str, Any]] = {}
    people = 0
    for person, dwelling, building in reader.session.execute(query):
        if flag and flag not in (person.flags or []):
            continue
        people += 1
        grid_row = grids.setdefault(
            building.grid_code,
            {"code": building.grid_code, "name": unit_name(directory, building.grid_code), "buildings": {}},
        )
        building_row = grid_row["buildings"].setdefault(
            building.id,
            {"id": building.id, "name": building.name, "address": building.address, "dwellings": {}},
        )
        dwelling_row = building_row["dwellings"].setdefault(
            dwelling.id, {"id": dwelling.id, "unit": dwelling.unit, "room": dwelling.room, "people": []}
        )
        dwelling_row["people"].append(
            {
                "id": person.id,
                "name": person.name,
                "kind": person.kind,
                "flags": list(person.flags or []),
                "id_number": person.id_masked,
                "phone": person.phone_masked,
                "updated_at": person.updated_at,
            }
        )
    for grid_row in grids.values():
        grid_row["buildings"] = [
            {**b, "dwellings": list(b["dwellings"].values())} for b in grid_row["buildings"].values()
        ]
    return {
        "grids": list(grids.values()),
        "people": people,
        "may_edit": may_edit(reader),
        "may_unmask": may_unmask(reader),
        "flags": list(FLAGS.values()),  # the flags a person may carry (the import template's 标签)
    }
