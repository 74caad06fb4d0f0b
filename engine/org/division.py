"""Re-dividing a community's grids (:func:`plan_division`): what a new division file keeps, ends and adds, with
each ended grid's successor — each boundary checked as a boundary file's are (:mod:`engine.org.geography`), the
whole planned before anything changes (:func:`engine.commands.grids.redivide` carries it out)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from engine.errors import FieldError, FieldErrors, ValidationFailed
from engine.org.geography import EDGE_TOLERANCE, SLIVER_M2, as_geojson, feature_errors, square_metres


@dataclass(frozen=True)
class NewGrid:
    """A grid a re-division adds: its code (the community's next free numbers, in the standard's order), name
    and boundary."""

    code: str
    name: str
    shape: BaseGeometry


@dataclass(frozen=True)
class Division:
    """What re-dividing a community's grids does: the grids kept (``reshaped``: those whose boundary moves),
    those that end, the new ones, and each ended grid's successor — the grid of the new division that takes the
    largest share of its area (None when none takes any)."""

    community: str
    kept: tuple[str, ...]
    reshaped: dict[str, BaseGeometry]
    ended: tuple[str, ...]
    new: tuple[NewGrid, ...]
    successors: dict[str, str | None]


def _order(shape: BaseGeometry) -> tuple[float, float]:
    """The standard's numbering order of grids: west→east by their centroids, north→south where two lie on
    one meridian (within about ten metres)."""
    centre = shape.centroid
    return round(centre.x, 4), -centre.y


def plan_division(units: Mapping[str, Any], community: str, document: Any) -> Division:
    """How a community's grids become those a GeoJSON FeatureCollection gives (the community's whole new
    division): a feature naming a current grid of the community in ``properties.code`` keeps it (with the
    feature's boundary); one without a code is a new grid (``properties.name`` optional); every current grid the
    file leaves out ends. Each boundary is checked as a boundary file's are, inside the community's, and no two
    overlapping; :class:`ValidationFailed` names each problem by its feature, and nothing is to change."""
    parent = units.get(community)
    if parent is None or parent.level != "community":
        raise ValidationFailed(
            "{unit} is not a community",
            {"community": [FieldError("geo.not_a_community", {"unit": community})]},
            code="geo.invalid",
            unit=community,
        )
    if parent.boundary is None:
        raise ValidationFailed(
            "community {unit} has no boundary yet: load the boundaries first",
            {"community": [FieldError("geo.community_without_boundary", {"unit": community})]},
            code="geo.invalid",
            unit=community,
        )
    if (
        not isinstance(document, Mapping)
        or document.get("type") != "FeatureCollection"
        or not isinstance(document.get("features"), list)
        or not document["features"]
    ):
        raise ValidationFailed(
            "a division is a GeoJSON FeatureCollection of the community's grids",
            {"_form": [FieldError("geo.not_a_collection")]},
            code="geo.invalid",
        )
    current = {
        code: u
        for code, u in units.items()
        if u.parent_code == community and u.level == "grid" and u.valid_to is None
    }
    area = shape(parent.boundary).buffer(EDGE_TOLERANCE)
    errors: FieldErrors = {}
    given: list[tuple[int, str | None, str | None, BaseGeometry]] = []
    for index, feature in enumerate(document["features"]):
        properties = (feature.get("properties") or {}) if isinstance(feature, Mapping) else {}
        code = properties.get("code") if isinstance(properties, Mapping) else None
        name = properties.get("name") if isinstance(properties, Mapping) else None
        label = code or f"#{index}"
        if code is not None and code not in current:
            errors[f"features.{index}"] = [
                FieldError("geo.not_a_grid_of", {"unit": str(code), "community": community})
            ]
            continue
        _code, found, problems = feature_errors(
            index,
            {**feature, "properties": {"code": label}} if isinstance(feature, Mapping) else feature,
            {label: None},
        )
        if problems:
            errors[f"features.{index}"] = list(problems)
            continue
        outside = square_metres(found.difference(area))
        if outside > SLIVER_M2:
            errors[f"features.{index}"] = [
                FieldError("geo.outside_parent", {"unit": label, "parent": community, "area": round(outside)})
            ]
            continue
        given.append((index, code, name if isinstance(name, str) and name.strip() else None, found))
    for i, (index, code, _name, first) in enumerate(given):
        for other_index, other_code, _other_name, second in given[i + 1 :]:
            overlap = square_metres(first.intersection(second.buffer(-EDGE_TOLERANCE)))
            if overlap > SLIVER_M2:
                errors.setdefault(f"features.{other_index}", []).append(
                    FieldError(
                        "geo.overlaps",
                        {
                            "unit": other_code or f"#{other_index}",
                            "other": code or f"#{index}",
                            "area": round(overlap),
                        },
                    )
                )
    kept_codes = [code for _, code, _, _ in given if code is not None]
    for code in {c for c in kept_codes if kept_codes.count(c) > 1}:
        first = next(i for i, c, _, _ in given if c == code)
        errors.setdefault(f"features.{first}", []).append(
            FieldError("geo.duplicate", {"unit": code, "first": first})
        )
    if errors:
        raise ValidationFailed("the division has errors", errors, code="geo.invalid")
    used = [
        int(code[len(community) :])
        for code, u in units.items()
        if u.parent_code == community and code[len(community) :].isdigit()
    ]
    next_number = max(used, default=0) + 1
    new = []
    for _index, _code, name, found in sorted((g for g in given if g[1] is None), key=lambda g: _order(g[3])):
        code = f"{community}{next_number:03d}"
        new.append(NewGrid(code, name or f"{parent.name}第{next_number}网格", found))
        next_number += 1
    reshaped = {
        code: found
        for _, code, _, found in given
        if code is not None and as_geojson(found) != current[code].boundary
    }
    ended = tuple(sorted(code for code in current if code not in kept_codes))
    result = {code: found for _, code, _, found in given if code is not None} | {g.code: g.shape for g in new}
    successors: dict[str, str | None] = {}
    for code in ended:
        old = current[code].boundary
        if old is None:
            successors[code] = None
            continue
        shares = sorted(
            ((square_metres(shape(old).intersection(found)), other) for other, found in result.items()),
            key=lambda share: (-share[0], share[1]),
        )
        successors[code] = shares[0][1] if shares and shares[0][0] > SLIVER_M2 else None
    return Division(community, tuple(sorted(kept_codes)), reshaped, ended, tuple(new), successors)
