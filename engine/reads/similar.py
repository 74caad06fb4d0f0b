"""Similar cases (相似案件): the open cases a new report may be the same problem as, proposed to whoever accepts it.

A case is proposed for a report when it is open (opened, not finished), of the same sub-category, in the actor's
scope, reported within the ``similar_cases`` setting's window (hours) either side of the report, near it — within
the setting's distance (metres) when both have a point, else in the same grid — and its description is at least
the setting's share alike. Likeness of two Chinese descriptions: each is cut into words (rjieba, the jieba
segmenter), the words of two or more characters kept (single characters are mostly particles: 有, 的, 了), and the
two sorted word sets compared by their Indel similarity (rapidfuzz; 1.0 the same words, 0.0 none shared).

A form field that says ``"x-gridloop-similar-case": true`` names the case a report is linked to as similar
(:func:`linkable` checks it); the command records the link on that case (``similar_linked``), so the case
carries its further reporters, who hear when it closes, and the report opens no case of its own (立案数 counts
the problem once).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

import rjieba
from rapidfuzz.distance import Indel
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import FieldError
from engine.org import geography, scope
from engine.org.people import Actor
from engine.store.models import Event, HistoryEntry

SIMILAR_CASE_KEY = "x-gridloop-similar-case"
# how many proposals a report gets at most, the likest first
PROPOSALS = 10
EARTH_RADIUS_M = 6_371_008.8
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class Rule:
    """The ``similar_cases`` setting: how near (metres), how close in time (hours) and how alike (0–1)."""

    distance_m: float
    window: timedelta
    min_similarity: float

    @classmethod
    def of(cls, value: dict[str, Any]) -> Rule:
        """The rule a setting's value gives."""
        return cls(
            float(value.get("distance_m", 50)),
            timedelta(hours=float(value.get("window_hours", 24))),
            float(value.get("min_similarity", 0.2)),
        )


@lru_cache(maxsize=4096)
def words(text: str) -> tuple[str, ...]:
    """The words of ``text`` that carry meaning (two characters or more), sorted and each once."""
    return tuple(sorted({w for w in rjieba.cut(text) if len(w) >= 2 and _WORD.search(w)}))


def text_similarity(first: str, second: str) -> float:
    """How alike two descriptions are, 0.0 to 1.0 (see the module)."""
    a, b = words(first), words(second)
    if not a and not b:
        return 0.0
    return float(Indel.normalized_similarity(a, b))


def metres(first: tuple[float, float], second: tuple[float, float]) -> float:
    """The great-circle distance between two (lng, lat) points, in metres (haversine)."""
    (lng1, lat1), (lng2, lat2) = first, second
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _open_cases(session: Session, actor: Actor, event: dict[str, Any], rule: Rule) -> list[Event]:
    """The open cases of the report's sub-category in the actor's scope reported within the window."""
    at = event["reported_at"]
    return list(
        session.scalars(
            select(Event).where(
                scope.event_filter(actor),
                Event.completed.is_(False),
                Event.reported_at >= at - rule.window,
                Event.reported_at <= at + rule.window,
                Event.category == event["category"],
                Event.opened_at.is_not(None),
                Event.id != event["id"],
            )
        )
    )


def candidates(
    session: Session, actor: Actor, event: dict[str, Any], rule: Rule, limit: int = PROPOSALS
) -> list[dict[str, Any]]:
    """The open cases the report ``event`` (an event row's columns) may be the same problem as, the likest
    first, then the nearest: each with its id, code, grid, description, report time, distance (metres; None
    when either has no point: then it is in the same grid) and similarity."""
    here = geography.point_of(event.get("location"))
    found = []
    for case in _open_cases(session, actor, event, rule):
        there = geography.point_of(case.location)
        if here is not None and there is not None:
            distance: float | None = metres(here, there)
            if distance > rule.distance_m:  # type: ignore[operator]
                continue
        elif case.grid_code == event["grid"]:
            distance = None
        else:
            continue
        alike = text_similarity(event["description"], case.description)
        if alike < rule.min_similarity:
            continue
        found.append(
            {
                "id": case.id,
                "code": case.code,
                "grid": case.grid_code,
                "description": case.description,
                "reported_at": case.reported_at,
                "state": case.state,
                "distance_m": round(distance) if distance is not None else None,
                "similarity": round(alike, 4),
            }
        )
    found.sort(key=_likest_nearest)
    return found[:limit]


def _likest_nearest(case: dict[str, Any]) -> tuple[float, float]:
    distance = case["distance_m"]
    return -float(case["similarity"]), float(distance) if distance is not None else math.inf


def linkable(session: Session, actor: Actor, event: Any, code: str) -> Event | FieldError:
    """The case ``code`` names, when a report (the event row ``event``) may be linked to it as similar: open,
    of the same sub-category and in the actor's scope — else why not, as a field's error."""
    case = session.scalar(select(Event).where(Event.code == code, scope.event_filter(actor)))
    if case is None or case.id == event.id:
        return FieldError("similar.unknown_case", {"code": code})
    if case.completed or case.opened_at is None:
        return FieldError("similar.not_open", {"code": code})
    if case.category != event.category:
        return FieldError("similar.other_category", {"code": code, "category": case.category})
    return case


def linked_reports(session: Session, event_id: int) -> list[Event]:
    """The reports linked to a case as similar, in the order they were linked (read from its history)."""
    data = session.scalars(
        select(HistoryEntry.data)
        .where(HistoryEntry.event_id == event_id, HistoryEntry.action == "similar_linked")
        .order_by(HistoryEntry.seq)
    ).all()
    ids = [int(d["event"]) for d in data if isinstance(d, dict) and "event" in d]
    if not ids:
        return []
    found = {e.id: e for e in session.scalars(select(Event).where(Event.id.in_(ids)))}
    return [found[i] for i in ids if i in found]
