"""The read side of the administrators' pages: every district setting beside its default, the holiday table, and
the live sessions and API tokens.

Changes go through :meth:`Gridloop.change_setting` and :meth:`Gridloop.set_calendar_day`, which check the role and
log each change; these reads check the same role, so that the settings page cannot be read around the check.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select

from engine import settings
from engine.errors import Forbidden
from engine.org import auth
from engine.reads.reader import Reader
from engine.store.models import CalendarDay, RoleAssignment, Setting, User

# The holiday table page shows whether these years, counted from the current one, have known holidays.
YEARS_AHEAD = 2


def _require_admin(reader: Reader) -> None:
    if not reader.actor.has_role("admin"):
        raise Forbidden(
            "only administrators see the settings, the holiday calendar and the sessions",
            code="settings.view_admin_only",
        )


def settings_table(reader: Reader) -> list[dict[str, Any]]:
    """Every setting in :data:`engine.settings.DEFAULTS` order: its key, current value, default and when it was
    last changed (None while it holds its default because it was never set)."""
    _require_admin(reader)
    session = reader.session
    changed = {row.key: row.updated_at for row in session.scalars(select(Setting))}
    return [
        {
            "key": key,
            "value": settings.get(session, key),
            "default": copy.deepcopy(default),
            "changed_at": changed.get(key),
        }
        for key, default in settings.DEFAULTS.items()
    ]


def holiday_table(reader: Reader) -> dict[str, Any]:
    """The admin-entered holidays and make-up working days, by date, and for this year, the next
    ``YEARS_AHEAD`` and every year with an entry: whether its holidays are known (from the official calendar
    or from an entry), since deadlines in an unknown year follow the Monday-to-Friday rule."""
    _require_admin(reader)
    calendar = reader.calendar()
    this_year = reader.now().astimezone(calendar.timezone).year
    days: list[dict[str, Any]] = [
        {
            "day": row.day,
            "is_workday": row.is_workday,
            "note": row.note,
            "updated_by": row.updated_by,
            "updated_at": row.updated_at,
        }
        for row in reader.session.scalars(select(CalendarDay).order_by(CalendarDay.day))
    ]
    years = sorted({this_year + n for n in range(YEARS_AHEAD + 1)} | {d["day"].year for d in days})
    return {
        "days": days,
        "years": [
            {
                "year": year,
                "known": calendar.known_year(year),
                "entered": sum(1 for d in days if d["day"].year == year),
            }
            for year in years
        ],
    }


def sessions_table(reader: Reader) -> list[dict[str, Any]]:
    """The live web sessions and API tokens, newest first, with who holds them (their name and roles), where
    they signed in from and until when the credential holds — for an administrator to revoke any of them."""
    _require_admin(reader)
    session = reader.session
    tokens = auth.live_tokens(session, reader.now())
    users = {
        u.username: u
        for u in session.scalars(select(User).where(User.username.in_(sorted({t.username for t in tokens}))))
    }
    return [
        {
            "id": t.id,
            "kind": t.kind,
            "username": t.username,
            "name": users[t.username].display_name if t.username in users else t.username,
            "roles": sorted({a.role for a in users[t.username].assignments}) if t.username in users else [],
            "address": t.address,
            "issued_at": t.issued_at,
            "expires_at": t.expires_at,
            "mine": t.username == reader.actor.username,
        }
        for t in tokens
    ]


def grids_table(reader: Reader) -> dict[str, Any]:
    """The communities with their grids for the administrators' grids page: each community's current grids
    (code, name, workers), how many it has ended by re-divisions, whether it has a boundary; and whether the
    district has boundaries at all."""
    _require_admin(reader)
    directory = reader.directory()
    workers: dict[str, list[str]] = {}
    for code, name in reader.session.execute(
        select(RoleAssignment.scope_code, User.display_name)
        .join(User, User.id == RoleAssignment.user_id)
        .where(RoleAssignment.role == "grid_worker", User.active.is_(True))
        .order_by(User.id)
    ):
        workers.setdefault(code, []).append(name)
    communities = []
    for unit in sorted(directory.units.values(), key=lambda u: u.code):
        if unit.level != "community":
            continue
        grids = sorted(
            (u for u in directory.units.values() if u.parent_code == unit.code), key=lambda u: u.code
        )
        communities.append(
            {
                "code": unit.code,
                "name": unit.name,
                "has_boundary": unit.boundary is not None,
                "grids": [
                    {
                        "code": g.code,
                        "name": g.name,
                        "workers": workers.get(g.code, []),
                        "boundary": g.boundary is not None,
                    }
                    for g in grids
                    if g.valid_to is None
                ],
                "ended": sum(1 for g in grids if g.valid_to is not None),
            }
        )
    return {
        "communities": communities,
        "has_boundaries": any(u.boundary is not None for u in directory.units.values()),
    }
