"""The grid on the map: the units' boundaries, checked before they are stored, and reports placed by where they
happened.

Boundaries are GeoJSON Polygons or MultiPolygons in longitude-latitude (WGS-84, or CGCS2000 — the two differ
by centimetres, far below a grid's scale, and are read alike), kept in ``org_units.boundary`` (JSON on both
databases; geometry through shapely, so SQLite needs nothing more).

Placing a point (:meth:`Geography.locate`), among the units valid at the report's time:

- in the grid whose boundary holds it; a point on the boundary two grids share belongs to both, and goes to
  the one with the **lowest code** — with grids numbered west→east, north→south inside a community, the
  western or northern one;
- in no grid: to the smallest unit whose boundary holds it (属地兜底: a community's area no grid covers falls
  to the community, a town's to the town), lowest code first again; the case is marked as so placed;
- in no unit at all: nowhere (the report is refused: the place lies outside the district).

A boundary file (:func:`read_boundaries`) is a GeoJSON FeatureCollection whose features name their unit in
``properties.code``. Every problem is named by the feature's index and code: an unknown unit, a geometry that
is not a polygon or crosses itself (with shapely's reason and where), coordinates outside longitude-latitude,
a unit reaching outside its parent, two sibling units overlapping (with the area, in square metres).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import shapely
from shapely.geometry import Point, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from engine.errors import FieldError, FieldErrors, ValidationFailed

LEVEL_DEPTH = {"district": 0, "town": 1, "community": 2, "grid": 3}
# the coordinate reference systems read as longitude-latitude: none named (GeoJSON's own, RFC 7946), WGS-84
# and CGCS2000 (EPSG:4490, China's national datum)
LONGITUDE_LATITUDE = frozenset(
    {
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:OGC::CRS84",
        "EPSG:4326",
        "urn:ogc:def:crs:EPSG::4326",
        "EPSG:4490",
        "urn:ogc:def:crs:EPSG::4490",
    }
)
# an edge drawn twice (two surveys of one street, coordinates rounded apart) may leave a unit sticking out of
# its parent or into a sibling by up to this much (degrees, about half a metre); past that, an area of more
# than SLIVER_M2 square metres is refused
EDGE_TOLERANCE = 5e-6
SLIVER_M2 = 1.0
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Placement:
    """Where a point was placed: ``unit`` (a grid, or for ``fallback`` the smallest unit covering it)."""

    unit: str
    fallback: bool

    @property
    def how(self) -> str:
        """The event's ``placement``: ``point`` (in a grid) or ``fallback`` (属地兜底)."""
        return "fallback" if self.fallback else "point"


def square_metres(geometry: BaseGeometry) -> float:
    """The area of a longitude-latitude ``geometry`` in square metres (a local equirectangular estimate,
    good to a fraction of a percent at a district's size)."""
    if geometry.is_empty:
        return 0.0
    lat = geometry.centroid.y
    return float(geometry.area * METRES_PER_DEGREE**2 * math.cos(math.radians(lat)))


def point_of(location: Any) -> tuple[float, float] | None:
    """``(lng, lat)`` of a report's ``location`` when it is a well-formed point, else None (the form's own
    check then says what is wrong with it)."""
    if not isinstance(location, Mapping):
        return None
    lat, lng = location.get("lat"), location.get("lng")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lng)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):  # type: ignore[operator]
        return None
    return float(lng), float(lat)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Area:
    code: str
    level: str
    valid_from: datetime | None
    valid_to: datetime | None
    shape: BaseGeometry

    def valid_at(self, at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_to is None or at < self.valid_to
        )


class Geography:
    """The units that have a boundary, indexed for placing points (an STR tree over their shapes)."""

    def __init__(self, units: Iterable[Any]) -> None:
        self._areas = [
            _Area(u.code, u.level, u.valid_from, u.valid_to, shape(u.boundary))
            for u in units
            if u.boundary is not None
        ]
        for area in self._areas:
            shapely.prepare(area.shape)
        self._tree = shapely.STRtree([a.shape for a in self._areas])
        self._by_code = {a.code: a for a in self._areas}

    def __bool__(self) -> bool:
        return bool(self._areas)

    def shape(self, code: str) -> BaseGeometry | None:
        """The boundary of unit ``code`` (None when it has none)."""
        area = self._by_code.get(code)
        return area.shape if area is not None else None

    def covering(self, lng: float, lat: float, at: datetime) -> list[str]:
        """The codes of the units valid at ``at`` whose boundary holds the point (boundary included), smallest
        unit first, then by code."""
        point = Point(lng, lat)
        hits = [self._areas[i] for i in self._tree.query(point, predicate="intersects")]
        found = [a for a in hits if a.valid_at(at)]
        found.sort(key=lambda a: (-LEVEL_DEPTH.get(a.level, 0), a.code))
        return [a.code for a in found]

    def locate(self, lng: float, lat: float, at: datetime) -> Placement | None:
        """Where a point reported at ``at`` belongs (see the module's rules); None outside every unit."""
        covering = self.covering(lng, lat, at)
        if not covering:
            return None
        first = self._by_code[covering[0]]
        return Placement(first.code, fallback=first.level != "grid")


# ---------------------------------------------------------------- reading a boundary file


def feature_errors(
    index: int, feature: Any, units: Mapping[str, Any]
) -> tuple[str | None, Any, list[FieldError]]:
    """The unit code, geometry and errors of one feature."""
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        return None, None, [FieldError("geo.not_a_feature")]
    properties = feature.get("properties") or {}
    code = properties.get("code") if isinstance(properties, Mapping) else None
    if not isinstance(code, str) or not code:
        return None, None, [FieldError("geo.code_missing")]
    if code not in units:
        return code, None, [FieldError("geo.unknown_unit", {"unit": code})]
    geometry = feature.get("geometry")
    kind = geometry.get("type") if isinstance(geometry, Mapping) else None
    if kind not in ("Polygon", "MultiPolygon"):
        return code, None, [FieldError("geo.not_a_polygon", {"unit": code, "type": str(kind)})]
    try:
        found = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException) as exc:
        return code, None, [FieldError("geo.unreadable", {"unit": code, "reason": str(exc)[:200]})]
    if found.is_empty:
        return code, None, [FieldError("geo.empty", {"unit": code})]
    west, south, east, north = found.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        return code, None, [FieldError("geo.not_longitude_latitude", {"unit": code})]
    if not found.is_valid:
        return (
            code,
            None,
            [FieldError("geo.invalid_geometry", {"unit": code, "reason": explain_validity(found)})],
        )
    return code, found, []


def read_boundaries(document: Any, units: Mapping[str, Any]) -> dict[str, BaseGeometry]:
    """The boundaries a GeoJSON FeatureCollection gives, by unit code, checked against the units (``units``:
    code → unit with ``level``, ``parent_code`` and its stored ``boundary``); :class:`ValidationFailed` with
    every problem, by feature (``features.3``), when there is any — then nothing is to be stored."""
    if not isinstance(document, Mapping) or document.get("type") != "FeatureCollection":
        raise ValidationFailed(
            "a boundary file is a GeoJSON FeatureCollection",
            {"_form": [FieldError("geo.not_a_collection")]},
            code="geo.invalid",
        )
    crs = document.get("crs")
    name = crs.get("properties", {}).get("name") if isinstance(crs, Mapping) else None
    if crs is not None and name not in LONGITUDE_LATITUDE:
        raise ValidationFailed(
            "the boundary file's coordinates must be longitude-latitude (WGS-84 or CGCS2000), not {crs}",
            {"crs": [FieldError("geo.crs", {"crs": str(name)})]},
            code="geo.invalid",
            crs=str(name),
        )
    features = document.get("features")
    if not isinstance(features, list) or not features:
        raise ValidationFailed(
            "the boundary file has no features",
            {"features": [FieldError("geo.no_features")]},
            code="geo.invalid",
        )
    errors: FieldErrors = {}
    found: dict[str, BaseGeometry] = {}
    where: dict[str, int] = {}
    for index, feature in enumerate(features):
        code, geometry, problems = feature_errors(index, feature, units)
        if code is not None and code in where:
            problems.append(FieldError("geo.duplicate", {"unit": code, "first": where[code]}))
        if problems:
            errors[f"features.{index}"] = list(problems)
        elif code is not None:
            found[code] = geometry
            where[code] = index
    if not errors:
        _check_nesting(found, units, where, errors)
    if errors:
        raise ValidationFailed("the boundary file has errors", errors, code="geo.invalid")
    return found


def _check_nesting(
    found: dict[str, BaseGeometry], units: Mapping[str, Any], where: dict[str, int], errors: FieldErrors
) -> None:
    """Each new boundary inside its parent's, and no two siblings overlapping (the new ones against each other
    and against the siblings' stored boundaries)."""

    def boundary(code: str | None) -> BaseGeometry | None:
        if code is None:
            return None
        if code in found:
            return found[code]
        stored = units[code].boundary if code in units else None
        return shape(stored) if stored is not None else None

    siblings: dict[str | None, list[str]] = {}
    for code, unit in units.items():
        if getattr(unit, "valid_to", None) is None:
            siblings.setdefault(unit.parent_code, []).append(code)
    for code, geometry in found.items():
        unit = units[code]
        problems = errors.setdefault(f"features.{where[code]}", [])
        parent = boundary(unit.parent_code)
        if parent is not None:
            outside = square_metres(geometry.difference(parent.buffer(EDGE_TOLERANCE)))
            if outside > SLIVER_M2:
                problems.append(
                    FieldError(
                        "geo.outside_parent",
                        {"unit": code, "parent": unit.parent_code, "area": round(outside)},
                    )
                )
        for other in sorted(siblings.get(unit.parent_code, [])):
            if other == code or (other in found and other < code):
                continue  # each pair of new ones once
            other_shape = boundary(other)
            if other_shape is None:
                continue
            overlap = square_metres(geometry.intersection(other_shape.buffer(-EDGE_TOLERANCE)))
            if overlap > SLIVER_M2:
                problems.append(
                    FieldError("geo.overlaps", {"unit": code, "other": other, "area": round(overlap)})
                )
        if not problems:
            del errors[f"features.{where[code]}"]


def uncovered(units: Mapping[str, Any], boundaries: Mapping[str, BaseGeometry]) -> dict[str, int]:
    """For each unit with a boundary, the area (m²) of it no child covers — where a report falls to the unit
    itself (属地兜底); only units with children that have boundaries, and only areas above a sliver."""
    children: dict[str, list[BaseGeometry]] = {}
    for code, unit in units.items():
        if unit.parent_code is not None and code in boundaries and getattr(unit, "valid_to", None) is None:
            children.setdefault(unit.parent_code, []).append(boundaries[code])
    left = {}
    for code, parts in children.items():
        if code in boundaries:
            area = square_metres(boundaries[code].difference(shapely.union_all(parts).buffer(EDGE_TOLERANCE)))
            if area > SLIVER_M2:
                left[code] = round(area)
    return left


def as_geojson(geometry: BaseGeometry) -> dict[str, Any]:
    """A shapely geometry as the GeoJSON geometry stored (coordinates rounded to 1e-7°, about a centimetre;
    lists, as JSON gives them back)."""
    found: dict[str, Any] = orjson.loads(
        orjson.dumps(mapping(shapely.normalize(shapely.set_precision(geometry, 1e-7))))
    )
    return found


def store(units: Mapping[str, Any], found: Mapping[str, BaseGeometry]) -> list[str]:
    """Give each unit of ``found`` (``units``: code → its ORM row) its boundary; the codes whose boundary
    changed."""
    changed = []
    for code, geometry in sorted(found.items()):
        stored = as_geojson(geometry)
        if units[code].boundary != stored:
            units[code].boundary = stored
            changed.append(code)
    return changed


def feature_collection(units: Iterable[Any]) -> dict[str, Any]:
    """The boundaries of ``units`` (those that have one) as a GeoJSON FeatureCollection, each feature with the
    unit's code, name, level and parent."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": u.code, "name": u.name, "level": u.level, "parent": u.parent_code},
                "geometry": u.boundary,
            }
            for u in units
            if u.boundary is not None
        ],
    }
