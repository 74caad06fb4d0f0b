"""The grid map in a real browser (issue 15): on a phone, an intake clerk places a hotline report by tapping the
report form's map, and the case lands in the grid whose boundary holds the tapped point; at a desk, the map page
draws the boundaries and the open case as a point whose popup opens the event, whose page draws its place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from playwright.sync_api import expect
from sqlalchemy import select

from engine.demo import boundaries
from engine.store.models import Event

if TYPE_CHECKING:
    from browser_support import Browse, LiveServer

pytest_plugins = ["browser_support"]

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}


def test_a_report_is_placed_by_a_tap_on_the_map_on_a_phone(browse: Browse, live_server: LiveServer) -> None:
    page = browse.sign_in("intake", viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto("/report")
    page.locator("#field-map summary").click()  # the map is folded away until asked for
    area = page.locator("#report-map")
    expect(area).to_have_attribute("data-ready", "true")
    expect(area).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # the grids are drawn: one path per unit
    assert (
        page.locator("#report-map path.leaflet-interactive, #report-map .leaflet-overlay-pane path").count()
        >= 19
    )
    box = area.bounding_box()
    assert box is not None
    page.select_option("#f-category", "0101")
    page.fill("#f-description", "市民来电：小区门口有一堆暴露垃圾")
    page.select_option("[name=channel]", "hotline")
    page.fill("[name=reporter_name]", "赵女士")
    page.fill("[name=reporter_phone]", "13612345678")
    area.tap(position={"x": box["width"] * 0.7, "y": box["height"] * 0.55})
    lat = float(page.input_value("[name='location.lat']"))
    lng = float(page.input_value("[name='location.lng']"))
    assert page.input_value("#f-grid") == ""  # the tapped point decides the grid
    expect(page.locator("#report-map-status")).to_contain_text(f"{lat}")
    page.screenshot(path=str(browse_artifact("map-report-phone")), full_page=True)
    page.get_by_role("button", name="上报").click()
    expect(page.locator("h1")).to_contain_text("上报成功")
    placed = boundaries.geography().locate(lng, lat, datetime.now(UTC))
    assert placed is not None and not placed.fallback
    gl = live_server.app.extensions["gridloop"]
    with gl.db.reading() as session:
        event = session.scalars(select(Event).order_by(Event.id.desc()).limit(1)).one()
    assert (event.grid_code, event.placement) == (placed.unit, "point")
    assert event.location == {"lat": lat, "lng": lng}


def test_the_map_page_shows_the_open_case_and_opens_its_event(
    browse: Browse, live_server: LiveServer
) -> None:
    gl = live_server.app.extensions["gridloop"]
    point = boundaries.shapes()["330199001001002"].representative_point()
    event_id = gl.report(
        "intake",
        {
            "category": "0101",
            "description": "市民来电：路口有一堆暴露垃圾",
            "channel": "hotline",
            "reporter_name": "钱先生",
            "reporter_phone": "13512345678",
            "location": {"lng": round(point.x, 6), "lat": round(point.y, 6)},
        },
    )["id"]
    page = browse.sign_in("admin", viewport=DESK)
    page.goto("/map")
    area = page.locator("#grid-map")
    expect(area).to_have_attribute("data-ready", "true")
    cases = int(area.get_attribute("data-cases") or 0)
    assert cases >= 1
    assert page.locator(f"#map-cases tr[data-case='{event_id}']").count() == 1
    page.screenshot(path=str(browse_artifact("map-page-desk")), full_page=True)
    # the case is a green point (its light); its popup names it and opens its page
    page.locator("#grid-map path[fill='#2e8540']").first.click()
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("暴露垃圾")
    popup.locator("a").click()
    expect(page.locator("h1")).to_contain_text("E2026")
    expect(page.locator("#event-place [data-map=event]")).to_have_attribute("data-ready", "true")
    page.screenshot(path=str(browse_artifact("map-event-desk")), full_page=True)


def browse_artifact(name: str):  # type: ignore[no-untyped-def]
    from browser_support import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"
