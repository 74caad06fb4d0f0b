"""The demo district's boundaries: plausible outlines for its twelve grids, four communities, two towns and the
district, as a GeoJSON FeatureCollection (WGS-84 longitude-latitude, near 120.1°E 30.27°N).

The grids are cells of one lattice whose shared corners and edge midpoints are nudged by a fixed amount each,
so neighbouring grids share their edges exactly and the outlines are not ruled rectangles. 西山镇 lies west,
东湖街道 east; in each town the first community north of the second; in each community the grids are numbered
west→east, as the standard numbers them. 西山村 also holds a strip of hillside north of its grids that no grid
covers: a report placed there falls to the village itself (属地兜底).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import shapely
from shapely.geometry import Polygon

from engine.org.geography import Geography, as_geojson

WEST, EAST = 120.100, 120.180
NORTH, SOUTH = 30.300, 30.240
COLUMNS, ROWS = 6, 2
HILLSIDE_NORTH = 30.312
NUDGE = 0.0025  # degrees: at most about 250 m either way
# lattice rows (north first) and columns (west first) → community code; each community's grids run west→east
COMMUNITY_CELLS = {
    "330199002001": (0, 0),  # 西山村
    "330199002002": (1, 0),  # 青石社区
    "330199001001": (0, 3),  # 湖滨社区
    "330199001002": (1, 3),  # 柳岸社区
}
DISTRICT = "330199"


def _nudge(i: int, j: int, salt: int) -> float:
    return (((i * 73_856_093) ^ (j * 19_349_663) ^ (salt * 83_492_791)) % 1000 / 1000 - 0.5) * NUDGE


def _corner(i: int, j: int) -> tuple[float, float]:
    x = WEST + (EAST - WEST) * i / COLUMNS
    y = NORTH - (NORTH - SOUTH) * j / ROWS
    inner_x, inner_y = 0 < i < COLUMNS, 0 < j < ROWS
    return (x + (_nudge(i, j, 1) if inner_x else 0.0), y + (_nudge(i, j, 2) if inner_y else 0.0))


def _between(
    a: tuple[float, float], b: tuple[float, float], i: int, j: int, salt: int
) -> tuple[float, float]:
    return ((a[0] + b[0]) / 2 + _nudge(i, j, salt) * 0.6, (a[1] + b[1]) / 2 + _nudge(i, j, salt + 1) * 0.6)


def _top(i: int, j: int) -> tuple[float, float]:  # the midpoint of the edge from corner (i, j) east
    return _between(_corner(i, j), _corner(i + 1, j), i, j, 3)


def _side(i: int, j: int) -> tuple[float, float]:  # the midpoint of the edge from corner (i, j) south
    return _between(_corner(i, j), _corner(i, j + 1), i, j, 5)


def _cell(i: int, j: int) -> Polygon:
    return Polygon(
        [
            _corner(i, j),
            _top(i, j),
            _corner(i + 1, j),
            _side(i + 1, j),
            _corner(i + 1, j + 1),
            _top(i, j + 1),
            _corner(i, j + 1),
            _side(i, j),
        ]
    )


def _hillside() -> Polygon:
    edge = []
    for i in range(3):
        edge += [_corner(i, 0), _top(i, 0)]
    edge.append(_corner(3, 0))
    return Polygon([*edge, (edge[-1][0], HILLSIDE_NORTH), (edge[0][0], HILLSIDE_NORTH)])


def shapes() -> dict[str, Any]:
    """Every demo unit's boundary (shapely), by code."""
    found: dict[str, Any] = {}
    towns: dict[str, list[Any]] = {}
    for community, (row, first_column) in COMMUNITY_CELLS.items():
        cells = [_cell(first_column + n, row) for n in range(3)]
        for n, cell in enumerate(cells, start=1):
            found[f"{community}{n:03d}"] = cell
        if community == "330199002001":
            cells.append(_hillside())
        found[community] = shapely.union_all(cells)
        towns.setdefault(community[:9], []).append(found[community])
    for town, parts in towns.items():
        found[town] = shapely.union_all(parts)
    found[DISTRICT] = shapely.union_all([found[town] for town in towns])
    return found


def feature_collection() -> dict[str, Any]:
    """The demo district's boundary file (what ``gridloop boundaries load`` reads)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": code}, "geometry": as_geojson(geometry)}
            for code, geometry in sorted(shapes().items(), key=lambda item: (len(item[0]), item[0]))
        ],
    }


LEVEL_BY_LENGTH = {6: "district", 9: "town", 12: "community", 15: "grid"}


def geography() -> Geography:
    """The demo district's boundaries as stored (rounded), indexed for placing points — without a database."""
    return Geography(
        SimpleNamespace(
            code=code,
            level=LEVEL_BY_LENGTH[len(code)],
            valid_from=None,
            valid_to=None,
            boundary=as_geojson(shape),
        )
        for code, shape in shapes().items()
    )
