"""The household ledger's commands: importing rows of the template (:mod:`engine.ledger.rows`) and reading a
person's numbers whole.

- :func:`import_rows`: by a role of the ``ledger_edit_roles`` setting, for grids in the actor's scope (a grid
  worker's own grid, a community's grids, the district's); every row checked first — a bad cell, a grid that is
  not one or lies outside the scope — and named by its line and column, with nothing stored; a dry run says what
  would be added and changed. A person is matched by their identity number (its keyed index) wherever they lived
  before (they moved), else by name in the dwelling. In the admin log as ``ledger_imported``.
- :func:`unmask`: a person's identity and phone numbers whole, for a role of ``ledger_unmask_roles`` in scope;
  each viewing is in the admin log (``personal_viewed``: who, whose, which grid).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from engine import settings
from engine.commands.pipeline import Abandon, Step
from engine.errors import FieldError, FieldErrors, Forbidden, NotFound, ValidationFailed
from engine.ledger import rows as template
from engine.privacy import mask_id_number, mask_phone
from engine.store.models import LedgerBuilding, LedgerDwelling, LedgerPerson


def _scopes(step: Step, setting: str) -> list[str]:
    """The scopes in which the actor holds a role the setting names."""
    roles = settings.get(step.session, setting)
    return [a.scope_code for a in step.actor.assignments if a.role in roles and a.department_code is None]


def import_rows(step: Step, filename: str, content: bytes, dry_run: bool = False) -> dict[str, Any]:
    """Import a ledger file (CSV or XLSX, :mod:`engine.ledger.rows`); see the module."""
    scopes = _scopes(step, "ledger_edit_roles")
    if not scopes and not step.actor.is_system:
        raise Forbidden("your roles do not edit the ledger", code="ledger.edit_not_allowed")
    session = step.session
    good, errors = template.check(template.read_table(filename, content))
    directory = step.parts.org.directory(session)
    for row in good:
        unit = directory.units.get(row.grid)
        if unit is None or unit.level != "grid" or unit.valid_to is not None:
            errors[f"rows.{row.number}.grid"] = [FieldError("ledger.not_a_grid", {"grid": row.grid})]
        elif not step.actor.is_system and not any(row.grid.startswith(s) for s in scopes):
            errors[f"rows.{row.number}.grid"] = [FieldError("ledger.grid_outside_scope", {"grid": row.grid})]
    if errors:
        raise ValidationFailed(
            "{count} row(s) of the ledger file have errors; nothing was imported",
            _by_line(errors),
            code="ledger.rows_invalid",
            count=len({key.split(".")[1] for key in errors}),
        )
    key = step.parts.personal_key
    buildings = {(b.grid_code, b.name): b for b in session.scalars(select(LedgerBuilding))}
    dwellings = {(d.building_id, d.unit, d.room): d for d in session.scalars(select(LedgerDwelling))}
    counts = {"rows": len(good), "buildings": 0, "dwellings": 0, "added": 0, "updated": 0}
    for row in good:
        building = buildings.get((row.grid, row.building))
        if building is None:
            building = LedgerBuilding(grid_code=row.grid, name=row.building, address=row.address)
            session.add(building)
            session.flush()
            buildings[(row.grid, row.building)] = building
            counts["buildings"] += 1
        elif row.address and building.address != row.address:
            building.address = row.address
        dwelling = dwellings.get((building.id, row.unit, row.room))
        if dwelling is None:
            dwelling = LedgerDwelling(building_id=building.id, unit=row.unit, room=row.room)
            session.add(dwelling)
            session.flush()
            dwellings[(building.id, row.unit, row.room)] = dwelling
            counts["dwellings"] += 1
        person = None
        if row.id_number:
            person = session.scalar(
                select(LedgerPerson).where(LedgerPerson.id_index == key.index(row.id_number))
            )
        if person is None:
            person = session.scalar(
                select(LedgerPerson).where(
                    LedgerPerson.dwelling_id == dwelling.id, LedgerPerson.name == row.name
                )
            )
        if person is None:
            person = LedgerPerson(
                dwelling_id=dwelling.id, name=row.name, kind=row.kind, flags=list(row.flags)
            )
            session.add(person)
            counts["added"] += 1
        else:
            counts["updated"] += 1
        person.dwelling_id, person.name, person.kind, person.flags = (
            dwelling.id,
            row.name,
            row.kind,
            list(row.flags),
        )
        person.left_on = None  # listed again: living there (moved back, or in)
        _seal_numbers(step, person, row)
        person.updated_at, person.updated_by = step.now, step.actor.username
        session.flush()
    summary = {**counts, "dry_run": dry_run, "rows_read": [template.as_dict(r) for r in good[:20]]}
    if dry_run:
        raise Abandon(summary)
    step.log(
        "ledger_imported",
        {
            "file": filename,
            "sha256": hashlib.sha256(content).hexdigest(),
            **{k: v for k, v in counts.items()},
        },
    )
    return summary


def _by_line(errors: FieldErrors) -> FieldErrors:
    return dict(sorted(errors.items(), key=lambda item: (int(item[0].split(".")[1]), item[0])))


def unmask(step: Step, person_id: int) -> dict[str, Any]:
    """A person's identity and phone numbers whole (see the module); the viewing is logged."""
    scopes = _scopes(step, "ledger_unmask_roles")
    if not scopes and not step.actor.is_system:
        raise Forbidden("your roles do not read the ledger's numbers whole", code="ledger.unmask_not_allowed")
    session = step.session
    found = session.execute(
        select(LedgerPerson, LedgerBuilding.grid_code)
        .join(LedgerDwelling, LedgerDwelling.id == LedgerPerson.dwelling_id)
        .join(LedgerBuilding, LedgerBuilding.id == LedgerDwelling.building_id)
        .where(LedgerPerson.id == person_id)
    ).one_or_none()
    if found is None or not (step.actor.is_system or any(found[1].startswith(s) for s in scopes)):
        raise NotFound("no person {person} in the ledger", code="ledger.unknown_person", person=person_id)
    person, grid = found
    key = step.parts.personal_key
    shown = {
        "id": person.id,
        "id_number": key.open(person.id_cipher, "id_number") if person.id_cipher else None,
        "phone": key.open(person.phone_cipher, "phone") if person.phone_cipher else None,
    }
    step.log(
        "personal_viewed",
        {"person": person.id, "grid": grid, "fields": [k for k in ("id_number", "phone") if shown[k]]},
    )
    return shown


EDITABLE = ("name", "kind", "flags", "id_number", "phone")


def edit_person(step: Step, person_id: int, values: dict[str, str]) -> dict[str, Any]:
    """Change a person's name, kind, flags and — when given anew — identity or phone number (by a role of
    ``ledger_edit_roles`` in scope), each value checked as an import's cell is; the change (which fields, not
    the numbers) is in the admin log as ``ledger_edited``."""
    scopes = _scopes(step, "ledger_edit_roles")
    if not scopes and not step.actor.is_system:
        raise Forbidden("your roles do not edit the ledger", code="ledger.edit_not_allowed")
    session = step.session
    found = session.execute(
        select(LedgerPerson, LedgerDwelling, LedgerBuilding)
        .join(LedgerDwelling, LedgerDwelling.id == LedgerPerson.dwelling_id)
        .join(LedgerBuilding, LedgerBuilding.id == LedgerDwelling.building_id)
        .where(LedgerPerson.id == person_id)
    ).one_or_none()
    if found is None or not (step.actor.is_system or any(found[2].grid_code.startswith(s) for s in scopes)):
        raise NotFound("no person {person} in the ledger", code="ledger.unknown_person", person=person_id)
    person, dwelling, building = found
    checked = _checked_person(building, dwelling, values)
    changed = [k for k in ("name", "kind") if getattr(person, k) != getattr(checked, k)]
    if sorted(person.flags or []) != list(checked.flags):
        changed.append("flags")
    person.name, person.kind, person.flags = checked.name, checked.kind, list(checked.flags)
    changed += _seal_numbers(step, person, checked)
    if not changed:
        raise Abandon({"person": person.id, "changed": []})
    person.updated_at, person.updated_by = step.now, step.actor.username
    step.log("ledger_edited", {"person": person.id, "grid": building.grid_code, "changed": changed})
    return {"person": person.id, "changed": changed}


def _dwelling_in_scope(step: Step, dwelling_id: int, scopes: list[str]) -> tuple[Any, Any]:
    found = step.session.execute(
        select(LedgerDwelling, LedgerBuilding)
        .join(LedgerBuilding, LedgerBuilding.id == LedgerDwelling.building_id)
        .where(LedgerDwelling.id == dwelling_id)
    ).one_or_none()
    if found is None or not (step.actor.is_system or any(found[1].grid_code.startswith(s) for s in scopes)):
        raise NotFound(
            "no dwelling {dwelling} in the ledger", code="ledger.unknown_dwelling", dwelling=dwelling_id
        )
    return found[0], found[1]


def add_person(step: Step, dwelling_id: int, values: dict[str, str]) -> dict[str, Any]:
    """Add a person to a dwelling (by a role of ``ledger_edit_roles`` in scope), each value checked as an
    import's cell; in the admin log as ``ledger_edited`` (``added``)."""
    scopes = _scopes(step, "ledger_edit_roles")
    if not scopes and not step.actor.is_system:
        raise Forbidden("your roles do not edit the ledger", code="ledger.edit_not_allowed")
    dwelling, building = _dwelling_in_scope(step, dwelling_id, scopes)
    checked = _checked_person(building, dwelling, values)
    person = LedgerPerson(
        dwelling_id=dwelling.id,
        name=checked.name,
        kind=checked.kind,
        flags=list(checked.flags),
        updated_at=step.now,
        updated_by=step.actor.username,
    )
    _seal_numbers(step, person, checked)
    step.session.add(person)
    step.session.flush()
    step.log("ledger_edited", {"person": person.id, "grid": building.grid_code, "changed": ["added"]})
    return {"person": person.id, "changed": ["added"]}


def move_out(step: Step, person_id: int) -> dict[str, Any]:
    """Mark a person as moved out today (kept for the ledger's history, left out of its pages and of the visit
    duties); in the admin log as ``ledger_edited`` (``moved_out``)."""
    scopes = _scopes(step, "ledger_edit_roles")
    if not scopes and not step.actor.is_system:
        raise Forbidden("your roles do not edit the ledger", code="ledger.edit_not_allowed")
    found = step.session.execute(
        select(LedgerPerson, LedgerBuilding)
        .join(LedgerDwelling, LedgerDwelling.id == LedgerPerson.dwelling_id)
        .join(LedgerBuilding, LedgerBuilding.id == LedgerDwelling.building_id)
        .where(LedgerPerson.id == person_id, LedgerPerson.left_on.is_(None))
    ).one_or_none()
    # a person outside the scope answers as one that does not exist (or moved out already)
    if found is None or not (step.actor.is_system or any(found[1].grid_code.startswith(s) for s in scopes)):
        raise NotFound("no person {person} in the ledger", code="ledger.unknown_person", person=person_id)
    person, building = found
    zone = step.parts.settings.calendar(step.session).timezone
    person.left_on = step.now.astimezone(zone).date()
    person.updated_at, person.updated_by = step.now, step.actor.username
    step.log("ledger_edited", {"person": person.id, "grid": building.grid_code, "changed": ["moved_out"]})
    return {"person": person.id, "changed": ["moved_out"]}


def _seal_numbers(step: Step, person: LedgerPerson, row: template.Row) -> list[str]:
    """Seal the identity and phone numbers a checked row gives into ``person`` (with their masked forms);
    the fields set."""
    key, done = step.parts.personal_key, []
    if row.id_number:
        sealed = key.seal(row.id_number, "id_number")
        person.id_cipher, person.id_index = sealed.cipher, sealed.index
        person.id_masked = mask_id_number(row.id_number)
        done.append("id_number")
    if row.phone:
        person.phone_cipher = key.seal(row.phone, "phone").cipher
        person.phone_masked = mask_phone(row.phone)
        done.append("phone")
    return done


def _checked_person(
    building: LedgerBuilding, dwelling: LedgerDwelling, values: dict[str, str]
) -> template.Row:
    """A person's details from a page, checked as an import's row in their dwelling is; the fields' errors
    (keyed by the field alone) otherwise."""
    row = {
        "grid": building.grid_code,
        "building": building.name,
        "unit": dwelling.unit,
        "room": dwelling.room,
    }
    good, errors = template.check([{**row, **{k: str(values.get(k) or "") for k in EDITABLE}}])
    if errors:
        raise ValidationFailed(
            "the person's details have errors; nothing was changed",
            {path.split(".", 2)[2]: problems for path, problems in errors.items()},
            code="ledger.person_invalid",
        )
    return good[0]
