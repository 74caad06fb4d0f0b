"""Re-dividing a community's grids (issue 15, part 3): the grid that ends keeps its code, its cases and their
statistics; the new grids get the community's next codes west→east; the ended grid's workers and open steps move
to the grid that takes the largest share of it, in the admin log and the cases' history (the audit follows);
reports are placed by the new boundaries; a dry run changes nothing; a bad division is refused naming its
feature."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import GRID_HB1, GRID_HB2, Driver
from shapely.geometry import box, mapping
from sqlalchemy import select

from engine.app import Gridloop
from engine.audit import verification
from engine.demo import boundaries
from engine.errors import Forbidden, ValidationFailed
from engine.evaluation import metrics
from engine.org import geography
from engine.store.models import AdminLogEntry, Event, HistoryEntry, OrgUnit, RoleAssignment, Task, User

HUBIN = "330199001001"
GRID_HB3 = "330199001001003"
SHAPES = boundaries.shapes()


def _feature(geometry: Any, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": mapping(geometry)}


def _halves() -> tuple[Any, Any]:
    """湖滨's second grid cut in two along a meridian a third of the way in: the west part smaller."""
    second = SHAPES[GRID_HB2]
    west, south, east, north = second.bounds
    cut = west + (east - west) / 3
    return second.intersection(box(west - 1, south - 1, cut, north + 1)), second.intersection(
        box(cut, south - 1, east + 1, north + 1)
    )


def split_second_grid() -> dict[str, Any]:
    west, east = _halves()
    return {
        "type": "FeatureCollection",
        "features": [
            _feature(SHAPES[GRID_HB1], code=GRID_HB1),
            _feature(east, name="湖滨社区幸福里网格"),
            _feature(west),
            _feature(SHAPES[GRID_HB3], code=GRID_HB3),
        ],
    }


def _rows(gl: Gridloop) -> dict[str, Any]:
    with gl.db.reading() as session:
        return {u.code: u for u in session.scalars(select(OrgUnit).where(OrgUnit.parent_code == HUBIN))}


def _worker_scope(gl: Gridloop, username: str) -> list[str]:
    with gl.db.reading() as session:
        return list(
            session.scalars(select(RoleAssignment.scope_code).join(User).where(User.username == username))
        )


def test_a_split_ends_the_grid_keeps_its_cases_and_moves_its_workers_and_open_steps(
    gl: Gridloop, driver: Driver
) -> None:
    # before: a case of grid 2 closed, another reported by the public and waiting to be checked on site
    closed = driver.report("gw_hb2", grid=GRID_HB2)
    for username, step, data in (
        ("intake", "accept", {"decision": "accept"}),
        ("dispatcher", "dispatch", {"department": "DH-HW"}),
        ("h_dh_hw", "handle", {"action": "done", "result": "已清运"}),
        ("gw_hb2", "verify", {"passed": True}),
        ("leader", "close", {"opinion": "同意"}),
    ):
        driver.complete(username, closed, step, data)
    waiting = gl.report(
        "intake",
        {
            "category": "0101",
            "description": "市民来电：路边有一堆暴露垃圾",
            "grid": GRID_HB2,
            "channel": "hotline",
            "reporter_name": "周先生",
            "reporter_phone": "13812349999",
        },
    )["id"]
    check = driver.open_task(waiting, "check_exists")
    assert check["id"] in driver.claimable("gw_hb2")
    before = _rows(gl)

    preview = gl.redivide("admin", HUBIN, split_second_grid(), dry_run=True)
    assert preview["ended"] == [GRID_HB2]
    assert preview["new"] == [
        {"code": f"{HUBIN}004", "name": "湖滨社区第4网格"},  # the west part: first, west→east
        {"code": f"{HUBIN}005", "name": "湖滨社区幸福里网格"},
    ]
    assert preview["successors"] == {GRID_HB2: f"{HUBIN}005"}  # the larger share
    assert [(s["username"], s["from"], s["to"]) for s in preview["staff"]] == [
        ("gw_hb2", GRID_HB2, f"{HUBIN}005")
    ]
    assert [(t["task"], t["to"]) for t in preview["tasks"]] == [(check["id"], f"{HUBIN}005")]
    assert _rows(gl).keys() == before.keys() and _worker_scope(gl, "gw_hb2") == [GRID_HB2]

    gl.clock.advance(timedelta(hours=1))
    done = gl.redivide("admin", HUBIN, split_second_grid())
    assert done["new"] == preview["new"] and not done["dry_run"]
    after = _rows(gl)
    assert after[GRID_HB2].valid_to == gl.now() and after[GRID_HB2].successor_code == f"{HUBIN}005"
    assert after[f"{HUBIN}004"].valid_from == gl.now() and after[f"{HUBIN}004"].valid_to is None
    assert _worker_scope(gl, "gw_hb2") == [f"{HUBIN}005"]
    # the ended grid keeps its case; the waiting case's step moved, and so do its later steps
    with gl.db.reading() as session:
        assert session.get(Event, closed).grid_code == GRID_HB2  # type: ignore[union-attr]
        assert session.get(Task, check["id"]).scope_code == f"{HUBIN}005"  # type: ignore[union-attr]
        [moved] = session.scalars(
            select(HistoryEntry).where(HistoryEntry.event_id == waiting, HistoryEntry.action == "rescoped")
        ).all()
        logged = session.scalars(select(AdminLogEntry).where(AdminLogEntry.action == "redivided")).one()
    assert moved.data["rows"] == {str(check["id"]): f"{HUBIN}005"}
    assert logged.data["ended"] == [GRID_HB2] and logged.data["new"] == [f"{HUBIN}004", f"{HUBIN}005"]
    assert check["id"] in driver.claimable("gw_hb2")
    driver.complete("gw_hb2", waiting, "check_exists", {"exists": True})
    driver.complete("intake", waiting, "accept", {"decision": "accept"})
    driver.complete("dispatcher", waiting, "dispatch", {"department": "DH-HW"})
    driver.complete("h_dh_hw", waiting, "handle", {"action": "done", "result": "已清运"})
    verify = driver.open_task(waiting, "verify")
    assert verify["scope"] == f"{HUBIN}005" and verify["id"] in driver.claimable("gw_hb2")
    # reports are placed by the new boundaries; the ended grid is offered no more
    west, east = _halves()
    for part, code in ((west, f"{HUBIN}004"), (east, f"{HUBIN}005")):
        point = part.representative_point()
        report = gl.report(
            "intake",
            {
                "category": "0101",
                "description": "市民来电：路边有一堆暴露垃圾",
                "channel": "hotline",
                "reporter_name": "吴女士",
                "reporter_phone": "13812348888",
                "location": {"lng": point.x, "lat": point.y},
            },
        )["id"]
        with gl.db.reading() as session:
            assert session.get(Event, report).grid_code == code  # type: ignore[union-attr]
    with pytest.raises(ValidationFailed):
        gl.report("gw_hb1", {"category": "0101", "description": "路边有一堆暴露垃圾", "grid": GRID_HB2})
    # a period spanning the change counts each case in the grid it was reported in
    with gl.db.reading() as session:
        rows = metrics.evaluate(
            session, gl.now() - timedelta(days=1), gl.now() + timedelta(days=1), "grid", now=gl.now()
        )
    reported = {r["group"]: r["reported"] for r in rows}
    assert (reported[GRID_HB2], reported[f"{HUBIN}004"], reported[f"{HUBIN}005"]) == (2, 1, 1)
    assert verification.verify_all(gl, workers=1)["mismatches"] == []


def test_a_merge_ends_both_grids_into_the_new_one(gl: Gridloop) -> None:
    gl.redivide("admin", HUBIN, split_second_grid())
    merged = {
        "type": "FeatureCollection",
        "features": [
            _feature(SHAPES[GRID_HB1], code=GRID_HB1),
            _feature(SHAPES[GRID_HB2], name="湖滨社区中心网格"),
            _feature(SHAPES[GRID_HB3], code=GRID_HB3),
        ],
    }
    done = gl.redivide("admin", HUBIN, merged)
    assert done["ended"] == [f"{HUBIN}004", f"{HUBIN}005"]
    assert done["new"] == [{"code": f"{HUBIN}006", "name": "湖滨社区中心网格"}]
    assert done["successors"] == {f"{HUBIN}004": f"{HUBIN}006", f"{HUBIN}005": f"{HUBIN}006"}
    assert _worker_scope(gl, "gw_hb2") == [f"{HUBIN}006"]
    # the first grid ended still answers with the grid valid now
    with gl.db.reading() as session:
        directory = gl.directory(session)
    assert directory.unit_at_level(GRID_HB2, "grid").code == f"{HUBIN}006"
    assert [g.code for g in directory.grids() if g.parent_code == HUBIN] == [
        GRID_HB1,
        GRID_HB3,
        f"{HUBIN}006",
    ]
    # the same division again changes nothing
    again = gl.redivide(
        "admin",
        HUBIN,
        merged
        | {
            "features": merged["features"][:1]
            + [_feature(SHAPES[GRID_HB2], code=f"{HUBIN}006"), merged["features"][2]]
        },
    )
    assert again["ended"] == [] and again["new"] == []


def test_a_bad_division_is_refused_naming_its_feature_and_nothing_changes(gl: Gridloop) -> None:
    before = _rows(gl)
    west, east = _halves()
    bad = {
        "type": "FeatureCollection",
        "features": [
            _feature(SHAPES[GRID_HB1], code=GRID_HB1),
            _feature(west.buffer(0.001)),  # reaching into the first grid and beyond the community
            _feature(east),
            _feature(SHAPES["330199001002001"], code="330199001002001"),  # another community's grid
        ],
    }
    with pytest.raises(ValidationFailed) as refused:
        gl.redivide("admin", HUBIN, bad)
    codes = {path: [e.code for e in found] for path, found in refused.value.errors.items()}  # type: ignore[union-attr]
    assert codes == {"features.1": ["geo.outside_parent"], "features.3": ["geo.not_a_grid_of"]}
    overlapping = dict(
        bad, features=[_feature(SHAPES[GRID_HB1], code=GRID_HB1), _feature(SHAPES[GRID_HB1].buffer(-0.0005))]
    )
    with pytest.raises(ValidationFailed) as refused:
        gl.redivide("admin", HUBIN, overlapping)
    assert [e.code for e in refused.value.errors["features.1"]] == ["geo.overlaps"]  # type: ignore[union-attr]
    with pytest.raises(ValidationFailed):
        gl.redivide("admin", GRID_HB1, split_second_grid())  # not a community
    with pytest.raises(Forbidden):
        gl.redivide("gw_hb1", HUBIN, split_second_grid())
    assert {c: (u.valid_to, u.boundary) for c, u in _rows(gl).items()} == {
        c: (u.valid_to, u.boundary) for c, u in before.items()
    }
    assert geography.LEVEL_DEPTH["grid"] == 3
