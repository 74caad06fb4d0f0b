"""Visit duties (走访): the grid workers' fixed visits, started on their dates as instances of the
``visit_process`` setting's process (the household visit), their visit task in the grid's inbox with its limit,
light and supervision like any task.

The ``visit_duties`` setting lists the duties: ``{"flag": null, "every_days": 90}`` visits every dwelling of the
ledger once a quarter, ``{"flag": "elderly_alone", "every_days": 7}`` every person with that flag once a week
(杨凌's "三活、四知、六必访"). :func:`start_due`, asked by the schedulers each morning and at start (and by
``gridloop visits start``), starts each duty whose cycle has come round since its last start — the first one at
once — and records it (``ledger_visits``: duty, dwelling, person, instance, date), so that a duty starts once a
cycle however many schedulers ask. At most ``limit`` are started a call; the rest the next call starts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from engine import settings
from engine.commands import tasks
from engine.commands.pipeline import Abandon, Step
from engine.store.models import LedgerBuilding, LedgerDwelling, LedgerPerson, LedgerVisit

LIMIT = 200


def _key(duty: dict[str, Any]) -> str:
    return f"flag:{duty['flag']}" if duty.get("flag") else "household"


def start_due(step: Step, limit: int = LIMIT) -> dict[str, Any]:
    """Start the visits due today (see the module); returns how many were started, by duty, and their events."""
    session = step.session
    zone = step.parts.settings.calendar(session).timezone
    today = step.now.astimezone(zone).date()
    process = settings.get(session, "visit_process")
    started: dict[str, int] = {}
    events: list[int] = []
    for duty in settings.get(session, "visit_duties"):
        key, every = _key(duty), timedelta(days=int(duty["every_days"]))
        last = {
            (dwelling, person): due_on
            for dwelling, person, due_on in session.execute(
                select(LedgerVisit.dwelling_id, LedgerVisit.person_id, func.max(LedgerVisit.due_on))
                .where(LedgerVisit.duty == key)
                .group_by(LedgerVisit.dwelling_id, LedgerVisit.person_id)
            )
        }
        for dwelling, building, person in _subjects(step, duty.get("flag")):
            subject = (dwelling.id, person.id if person is not None else None)
            previous = last.get(subject)
            if previous is not None and previous + every > today:
                continue
            if len(events) >= limit:
                break
            household = f"{building.name} {dwelling.unit}-{dwelling.room}".replace(" -", " ")
            if person is not None:
                household += f" {person.name}"
            data = {
                "grid": building.grid_code,
                "household": household,
                "purpose": duty["purpose"],
                "dwelling": dwelling.id,
            }
            opened = tasks.start(step, process, data, unit=building.grid_code)
            session.add(
                LedgerVisit(
                    duty=key,
                    dwelling_id=dwelling.id,
                    person_id=subject[1],
                    event_id=opened["id"],
                    due_on=today,
                    started_at=step.now,
                )
            )
            session.flush()
            events.append(opened["id"])
            started[key] = started.get(key, 0) + 1
    if not events:
        raise Abandon({"started": {}, "events": []})
    return {"started": started, "events": events}


def _subjects(step: Step, flag: str | None) -> list[tuple[Any, Any, Any]]:
    """The dwellings (no flag) or the people with ``flag``, with their building, in the grids valid now."""
    directory = step.parts.org.directory(step.session)
    current = {g.code for g in directory.grids()}
    if flag is None:
        rows = step.session.execute(
            select(LedgerDwelling, LedgerBuilding)
            .join(LedgerBuilding, LedgerBuilding.id == LedgerDwelling.building_id)
            .order_by(LedgerDwelling.id)
        )
        return [(d, b, None) for d, b in rows if b.grid_code in current]
    people = step.session.execute(
        select(LedgerDwelling, LedgerBuilding, LedgerPerson)
        .join(LedgerBuilding, LedgerBuilding.id == LedgerDwelling.building_id)
        .join(LedgerPerson, LedgerPerson.dwelling_id == LedgerDwelling.id)
        .order_by(LedgerPerson.id)
    )
    return [
        (d, b, p)
        for d, b, p in people
        if b.grid_code in current and p.left_on is None and flag in (p.flags or [])
    ]
