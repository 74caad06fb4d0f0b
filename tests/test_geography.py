"""The grid on the map: boundaries checked before they are stored, and reports placed by where they happened —
in the grid holding the point, on a shared edge by the lowest code, in no grid with the smallest unit covering
it (属地兜底), and refused outside the district."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import GRID_HB1, GRID_HB2, Driver
from shapely.geometry import Point, box, mapping
from sqlalchemy import select

from engine.app import Gridloop
from engine.audit import verification
from engine.demo import boundaries
from engine.errors import Forbidden, ValidationFailed
from engine.org import geography
from engine.store.models import AdminLogEntry, Event, OrgUnit

HILLSIDE = (120.12, 30.306)  # 西山村's hillside north of its grids: in no grid
XISHAN = "330199002001"
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def _inside(code: str) -> tuple[float, float]:
    point = boundaries.shapes()[code].representative_point()
    return point.x, point.y


def test_a_point_goes_to_the_grid_holding_it_and_a_shared_edge_to_the_lowest_code() -> None:
    found = boundaries.geography()
    for code in (GRID_HB1, GRID_HB2, "330199002002003"):
        assert found.locate(*_inside(code), NOW) == geography.Placement(code, fallback=False)
    # a vertex of the edge 湖滨's first and second grids share lies on both boundaries
    shared = set(map(tuple, geography.as_geojson(boundaries.shapes()[GRID_HB1])["coordinates"][0]))
    shared &= set(map(tuple, geography.as_geojson(boundaries.shapes()[GRID_HB2])["coordinates"][0]))
    assert shared
    for lng, lat in shared:
        assert found.covering(lng, lat, NOW)[:2] == [GRID_HB1, GRID_HB2]
        assert found.locate(lng, lat, NOW) == geography.Placement(GRID_HB1, fallback=False)


def test_a_point_in_no_grid_falls_to_the_smallest_unit_covering_it_and_outside_the_district_to_none() -> None:
    found = boundaries.geography()
    placed = found.locate(*HILLSIDE, NOW)
    assert placed == geography.Placement(XISHAN, fallback=True)
    assert placed is not None and placed.how == "fallback"
    assert found.covering(*HILLSIDE, NOW) == [XISHAN, "330199002", "330199"]
    assert found.locate(121.5, 31.2, NOW) is None


def test_a_unit_is_placed_in_only_while_it_is_valid() -> None:
    square = mapping(box(0, 0, 1, 1))
    ended = datetime(2026, 1, 1, tzinfo=UTC)
    units = [
        SimpleNamespace(code="A", level="community", valid_from=None, valid_to=None, boundary=square),
        SimpleNamespace(code="A001", level="grid", valid_from=None, valid_to=ended, boundary=square),
        SimpleNamespace(code="A002", level="grid", valid_from=ended, valid_to=None, boundary=square),
    ]
    found = geography.Geography(units)
    assert found.locate(0.5, 0.5, datetime(2025, 6, 1, tzinfo=UTC)) == geography.Placement("A001", False)
    assert found.locate(0.5, 0.5, datetime(2026, 6, 1, tzinfo=UTC)) == geography.Placement("A002", False)


def test_the_demo_district_ships_its_boundaries_nested_without_overlaps(gl: Gridloop) -> None:
    with gl.db.reading() as session:
        units = {u.code: u for u in session.scalars(select(OrgUnit))}
    assert all(u.boundary is not None for u in units.values())
    every = {code: geography.shape(u.boundary) for code, u in units.items()}
    # the only area no child covers is 西山村's hillside (its units above are covered by their children)
    left = geography.uncovered(units, every)
    assert set(left) == {XISHAN}
    assert 4_000_000 < left[XISHAN] < 6_000_000  # about 3.9 km × 1.3 km
    # unit-grid codes: 6-digit county + 3 street + 3 community + 3 grid, numbered west→east in a community
    for community in ("330199001001", "330199001002", "330199002001", "330199002002"):
        grids = sorted(code for code in units if code.startswith(community) and len(code) == 15)
        assert len(grids) == 3
        wests = [every[code].centroid.x for code in grids]
        assert wests == sorted(wests)


def _collection(*features: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def _feature(code: str, geometry: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"code": code}, "geometry": geometry}


def _stored(gl: Gridloop) -> dict[str, Any]:
    with gl.db.reading() as session:
        return {u.code: u.boundary for u in session.scalars(select(OrgUnit))}


def test_a_bad_boundary_file_is_refused_naming_each_feature_and_nothing_changes(gl: Gridloop) -> None:
    before = _stored(gl)
    west, south, east, north = boundaries.shapes()[GRID_HB1].bounds
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[west, south], [east, north], [east, south], [west, north], [west, south]]],
    }
    far = mapping(box(121.0, 31.0, 121.01, 31.01))
    second = boundaries.shapes()[GRID_HB2]  # reaching 300 m into the third grid
    reach = box(second.bounds[2] - 0.001, second.bounds[1], second.bounds[2] + 0.003, second.bounds[3])
    over = mapping(second.union(reach).intersection(boundaries.shapes()["330199001001"]))
    document = _collection(
        _feature(GRID_HB1, bowtie),
        _feature("330199009009009", far),
        _feature("330199001002001", {"type": "Point", "coordinates": [120.15, 30.25]}),
        _feature("330199001002002", far),
        _feature(GRID_HB2, over),
        {"type": "Feature", "properties": {}, "geometry": far},
        _feature(
            "330199001002003",
            {"type": "Polygon", "coordinates": [[[500, 10], [501, 10], [501, 11], [500, 10]]]},
        ),
    )
    with pytest.raises(ValidationFailed) as refused:
        gl.set_boundaries("admin", document)
    errors = refused.value.errors
    codes = {path: [e.code for e in found] for path, found in errors.items()}  # type: ignore[union-attr]
    assert codes == {
        "features.0": ["geo.invalid_geometry"],
        "features.1": ["geo.unknown_unit"],
        "features.2": ["geo.not_a_polygon"],
        "features.5": ["geo.code_missing"],
        "features.6": ["geo.not_longitude_latitude"],
    }
    assert "Self-intersection" in errors["features.0"][0].params["reason"]  # type: ignore[union-attr]
    # the whole-file checks (outside the parent, overlapping a sibling) come once each feature reads well
    document["features"] = [_feature("330199001002002", far), _feature(GRID_HB2, over)]
    with pytest.raises(ValidationFailed) as refused:
        gl.set_boundaries("admin", document)
    errors = refused.value.errors
    assert [(e.code, e.params.get("parent") or e.params.get("other")) for e in errors["features.0"]] == [  # type: ignore[union-attr]
        ("geo.outside_parent", "330199001002")
    ]
    [overlap] = errors["features.1"]
    assert overlap.code == "geo.overlaps" and overlap.params["other"] == "330199001001003"  # type: ignore[union-attr]
    assert overlap.params["area"] > 100_000  # type: ignore[union-attr]
    for refused_document in (
        {"type": "Feature"},
        _collection(),
        dict(_collection(_feature(GRID_HB1, far)), crs={"type": "name", "properties": {"name": "EPSG:3857"}}),
    ):
        with pytest.raises(ValidationFailed):
            gl.set_boundaries("admin", refused_document)
    with pytest.raises(Forbidden):
        gl.set_boundaries("gw_hb1", boundaries.feature_collection())
    assert _stored(gl) == before


def test_boundaries_load_with_a_dry_run_first_and_the_change_in_the_admin_log(gl: Gridloop) -> None:
    document = boundaries.feature_collection()
    assert gl.set_boundaries("admin", document, dry_run=True)["changed"] == []
    # 湖滨's third grid gives up a strip of its east to nobody: its community then has area no grid covers
    feature = next(f for f in document["features"] if f["properties"]["code"] == "330199001001003")
    third = geography.shape(feature["geometry"])
    feature["geometry"] = mapping(third.difference(box(third.bounds[2] - 0.002, 0, 180, 90)))
    moved = copy.deepcopy(document)
    preview = gl.set_boundaries("admin", moved, dry_run=True)
    assert preview["changed"] == ["330199001001003"] and preview["dry_run"] is True
    assert set(preview["uncovered"]) == {XISHAN, "330199001001"}
    assert _stored(gl)["330199001001003"] != geography.as_geojson(geography.shape(feature["geometry"]))
    done = gl.set_boundaries("admin", moved)
    assert done["changed"] == ["330199001001003"]
    assert _stored(gl)["330199001001003"] == geography.as_geojson(geography.shape(feature["geometry"]))
    with gl.db.reading() as session:
        entry = session.scalars(select(AdminLogEntry).where(AdminLogEntry.action == "boundaries")).one()
    assert entry.actor == "admin" and entry.data["units"] == ["330199001001003"]
    # the engine places by the new boundary at once: the strip falls to 湖滨社区
    east = third.bounds[2] - 0.001, third.centroid.y
    assert Point(east).within(third)
    report = gl.report("intake", _hotline(east))
    with gl.db.reading() as session:
        event = session.get(Event, report["id"])
        assert event is not None
        assert (event.grid_code, event.placement) == ("330199001001", "fallback")


def _hotline(point: tuple[float, float], **more: Any) -> dict[str, Any]:
    return {
        "category": "0101",
        "description": "市民来电：路边有一堆暴露垃圾",
        "channel": "hotline",
        "reporter_name": "张先生",
        "reporter_phone": "13812345678",
        "location": {"lng": point[0], "lat": point[1]},
        **more,
    }


def test_a_report_giving_a_point_is_placed_in_its_grid_and_offered_to_that_grids_worker(
    gl: Gridloop, driver: Driver
) -> None:
    event_id = gl.report("intake", _hotline(_inside(GRID_HB2)))["id"]
    with gl.db.reading() as session:
        event = session.get(Event, event_id)
        assert event is not None and (event.grid_code, event.placement) == (GRID_HB2, "point")
    check = driver.open_task(event_id, "check_exists")
    assert check["id"] in driver.claimable("gw_hb2")
    assert check["id"] not in driver.claimable("gw_hb1")
    report = next(h for h in driver.event(event_id)["history"] if h["action"] == "report")
    assert report["data"]["report"]["grid"] == GRID_HB2
    assert report["data"]["report"]["placement"] == "point"
    # a named grid wins over the point: the report said where it belongs
    named = gl.report("intake", _hotline(_inside(GRID_HB2), grid=GRID_HB1))["id"]
    with gl.db.reading() as session:
        event = session.get(Event, named)
        assert event is not None and (event.grid_code, event.placement) == (GRID_HB1, None)
    assert verification.verify_all(gl, workers=1)["mismatches"] == []


def test_a_report_in_no_grid_falls_to_its_community_whose_grid_leader_takes_the_grid_steps(
    gl: Gridloop, driver: Driver
) -> None:
    event_id = gl.report("intake", _hotline(HILLSIDE))["id"]
    with gl.db.reading() as session:
        event = session.get(Event, event_id)
        assert event is not None and (event.grid_code, event.placement) == (XISHAN, "fallback")
    check = driver.open_task(event_id, "check_exists")
    assert check["id"] in driver.claimable("gz_xs")
    assert all(check["id"] not in driver.claimable(f"gw_xs{n}") for n in (1, 2, 3))
    driver.complete("gz_xs", event_id, "check_exists", {"exists": True, "note": "山脚下确有垃圾堆放"})
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    assert driver.open_task(event_id)["step"] == "dispatch"
    assert verification.verify_all(gl, workers=1)["mismatches"] == []
    # a grid worker reporting by a point outside their own grid is refused, nothing opened
    with gl.db.reading() as session:
        before = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
    with pytest.raises(Forbidden):
        gl.report(
            "gw_hb1",
            {"category": "0101", "description": "路边有一堆暴露垃圾", "location": _location(GRID_HB2)},
        )
    # a point outside the district: the location's error, no case
    with pytest.raises(ValidationFailed) as refused:
        gl.report("intake", _hotline((121.5, 31.2)))
    assert [e.code for e in refused.value.errors["location"]] == ["report.location_outside"]  # type: ignore[union-attr]
    assert "grid" not in refused.value.errors
    with gl.db.reading() as session:
        assert session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) == before


def _location(code: str) -> dict[str, float]:
    lng, lat = _inside(code)
    return {"lng": lng, "lat": lat}


def test_a_grid_worker_reporting_by_a_point_in_their_grid_is_placed_there(gl: Gridloop) -> None:
    result = gl.report(
        "gw_hb1", {"category": "0101", "description": "路边有一堆暴露垃圾", "location": _location(GRID_HB1)}
    )
    with gl.db.reading() as session:
        event = session.get(Event, result["id"])
        assert event is not None and (event.grid_code, event.placement, event.channel) == (
            GRID_HB1,
            "point",
            "grid",
        )
