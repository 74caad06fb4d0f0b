"""The grid on the map and similar cases through the web — the map: the map page draws the district's boundaries with each grid's workers and the
open cases of the reader's scope as points, filtered by category and light; the event page draws the event's
community and point; the report form places a report by a point (and says when one lies outside the district);
intake sees the similar open cases on the accept page, links the report to one, and the case lists it."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from conftest import GRID_HB1, GRID_LA1
from web_support import app_fixtures, html, open_task, post, report, staff, token

from engine.app import Gridloop
from engine.demo import boundaries
from engine.store.models import Event, OrgUnit

STAFF = ("gw_hb1", "intake", "admin", "h_dh_hw", "gz_xs")


app, gl = app_fixtures(STAFF)


def _point(code: str) -> dict[str, float]:
    point = boundaries.shapes()[code].representative_point()
    return {"lng": round(point.x, 6), "lat": round(point.y, 6)}


def _embedded(page: str, element: str) -> Any:
    found = re.search(rf'<script type="application/json" id="{element}">(.*?)</script>', page, re.S)
    assert found, f"no #{element} on the page"
    return json.loads(found.group(1))


def test_the_map_draws_every_boundary_and_only_the_cases_in_scope(app: Any, gl: Gridloop) -> None:
    own = report(gl, location=_point(GRID_HB1))["id"]
    other = report(
        gl,
        "intake",
        grid=None,
        channel="hotline",
        reporter_name="李女士",
        reporter_phone="13912345678",
        location=_point(GRID_LA1),
    )["id"]
    unlocated = report(gl)["id"]
    page = html(staff(app, "gw_hb1").get("/map"))
    units = _embedded(page, "map-units")
    codes = {f["properties"]["code"] for f in units["features"]}
    assert codes == set(boundaries.shapes())  # boundaries are not secret: the whole district
    hb1 = next(f for f in units["features"] if f["properties"]["code"] == GRID_HB1)
    assert hb1["properties"]["workers"] == ["网格员 张伟"] and hb1["properties"]["level"] == "grid"
    cases = _embedded(page, "map-cases-data")
    assert [c["id"] for c in cases] == [own]
    assert cases[0]["light"] == "green" and cases[0]["placement"] is None
    assert f'data-case="{own}"' in page and f'data-case="{other}"' not in page
    summary = re.search(r'<p class="hint" id="map-summary">(.*?)</p>', page, re.S)
    assert summary and "另有 1 件未标注位置" in summary.group(1)
    # the district sees both, newest first; the hotline's was placed by its point
    everything = _embedded(html(staff(app, "admin").get("/map")), "map-cases-data")
    assert [(c["id"], c["grid"], c["placement"]) for c in everything] == [
        (other, GRID_LA1, "point"),
        (own, GRID_HB1, None),
    ]
    assert unlocated not in [c["id"] for c in everything]


def test_the_map_filters_by_category_and_light_and_names_an_unknown_light(app: Any, gl: Gridloop) -> None:
    rubbish = report(gl, location=_point(GRID_HB1))["id"]
    report(gl, category="0201", description="井盖缺失，行人有跌落危险", location=_point(GRID_HB1))
    client = staff(app, "admin")
    by_category = _embedded(html(client.get("/map?category=0101")), "map-cases-data")
    assert [c["id"] for c in by_category] == [rubbish]
    assert _embedded(html(client.get("/map?light=red")), "map-cases-data") == []
    assert len(_embedded(html(client.get("/map?light=green")), "map-cases-data")) == 2
    refused = client.get("/map?light=purple")
    assert refused.status_code == 400
    assert 'id="field-light"' in html(refused) and "has-error" in html(refused)
    assert len(_embedded(html(refused), "map-cases-data")) == 2  # the map still shows, unfiltered by light


def test_the_event_page_draws_its_community_and_its_point(app: Any, gl: Gridloop) -> None:
    event_id = report(gl, location=_point(GRID_HB1))["id"]
    page = html(staff(app, "gw_hb1").get(f"/events/{event_id}"))
    assert 'data-map="event"' in page and f'data-grid="{GRID_HB1}"' in page
    assert f'data-lat="{_point(GRID_HB1)["lat"]}"' in page
    codes = {f["properties"]["code"] for f in _embedded(page, "map-units")["features"]}
    assert codes == {"330199", "330199001", "330199001001", GRID_HB1, "330199001001002", "330199001001003"}


def test_a_report_posted_with_a_point_and_no_grid_is_placed_and_intake_sees_a_fallback(
    app: Any, gl: Gridloop
) -> None:
    client = staff(app, "intake")
    form = html(client.get("/report"))
    assert 'data-map="report"' in form and "按地图定位自动确定" in form
    assert 'name="grid" required' not in form
    posted = post(
        client,
        "/report",
        {
            "category": "0101",
            "description": "市民来电：山脚下有人倾倒建筑垃圾",
            "channel": "hotline",
            "reporter_name": "王先生",
            "reporter_phone": "13712345678",
            "location.lng": "120.12",
            "location.lat": "30.306",
        },
    )
    assert posted.status_code == 303, html(posted)
    with gl.db.reading() as session:
        event = session.query(Event).order_by(Event.id.desc()).first()
        assert event is not None
        assert (event.grid_code, event.placement) == ("330199002001", "fallback")
    task = next(t for t in gl.event_detail("admin", event.id)["tasks"] if t["status"] == "open")
    # the grid leader of 西山村 takes the check, and its page says how the case was placed
    page = html(staff(app, "gz_xs").get(f"/tasks/{task['id']}"))
    assert "属地兜底" in page and "西山村" in page
    outside = post(
        client,
        "/report",
        {
            "category": "0101",
            "description": "市民来电：路边有一堆暴露垃圾",
            "channel": "hotline",
            "reporter_name": "王先生",
            "reporter_phone": "13712345678",
            "location.lng": "121.5",
            "location.lat": "31.2",
        },
    )
    assert outside.status_code == 400
    assert "不在本区任何网格或单元的范围内" in html(outside)


def test_intake_sees_the_similar_cases_and_links_the_report_to_one(app: Any, gl: Gridloop) -> None:
    case = report(gl, location=_point(GRID_HB1))["id"]
    complete_accept = open_task(gl, case)
    gl.complete("intake", complete_accept["id"], {"decision": "accept"})
    code = gl.event_detail("admin", case)["code"]
    again = report(gl, location=_point(GRID_HB1), description="路边一堆暴露垃圾，好几天没人清运")["id"]
    accept = open_task(gl, again)
    client = staff(app, "intake")
    page = html(client.get(f"/tasks/{accept['id']}"))
    assert 'id="similar-cases"' in page and f'data-similar="{case}"' in page
    assert f'data-fill-value="{code}"' in page and "相距 0 米" in page
    linked = post(client, f"/tasks/{accept['id']}", {"decision": "similar", "similar_to": code})
    assert linked.status_code == 303, html(linked)
    shown = html(client.get(f"/events/{case}"))
    assert 'id="similar-reports"' in shown and "相似上报（1）" in shown
    wrong = report(gl, location=_point(GRID_HB1))["id"]
    refused = post(
        client,
        f"/tasks/{open_task(gl, wrong)['id']}",
        {"decision": "similar", "similar_to": "E20260101999999"},
    )
    assert refused.status_code == 400
    assert "没有可关联的案件 E20260101999999" in html(refused)


def _file(document: Any) -> tuple[io.BytesIO, str]:
    return io.BytesIO(json.dumps(document).encode()), "file.geojson"


def test_an_administrator_checks_boundaries_and_previews_a_redivision_on_the_grids_page(
    app: Any, gl: Gridloop
) -> None:
    from test_redivision import split_second_grid

    admin = staff(app, "admin")
    page = html(admin.get("/admin/grids"))
    assert f'data-grid="{GRID_HB1}"' in page and "网格员 张伟" in page
    assert staff(app, "gw_hb1").get("/admin/grids").status_code == 403
    checked = admin.post(
        "/admin/grids/boundaries",
        data={
            "file": _file(boundaries.feature_collection()),
            "dry_run": "1",
            "csrf_token": token(admin, "/admin/grids"),
        },
    )
    assert checked.status_code == 200 and "检查通过" in html(checked) and "330199002001 有" in html(checked)
    preview = admin.post(
        "/admin/grids/redivide",
        data={
            "community": "330199001001",
            "file": _file(split_second_grid()),
            "dry_run": "1",
            "csrf_token": token(admin, "/admin/grids"),
        },
    )
    said = html(preview)
    assert (
        preview.status_code == 200
        and 'data-ended="330199001001002"' in said
        and 'data-new="330199001001004"' in said
    )
    assert "gw_hb2：330199001001002 → 330199001001005" in said
    with gl.db.reading() as session:
        assert session.get(OrgUnit, "330199001001004") is None  # a preview changes nothing
    broken = admin.post(
        "/admin/grids/boundaries",
        data={"file": (io.BytesIO(b"{not json"), "x.geojson"), "csrf_token": token(admin, "/admin/grids")},
    )
    assert broken.status_code == 400 and 'data-path="file"' in html(broken)
