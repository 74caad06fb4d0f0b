"""Searching the events by words in their descriptions, in a real browser at desktop and phone width: the words
go in the search form, the matching case comes back with its description shown, the others do not
(screenshots in test-artifacts/)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conftest import GRID_HB1
from playwright.sync_api import expect

if TYPE_CHECKING:
    from browser_support import Browse, LiveServer

pytest_plugins = ["browser_support"]

PHONE = {"width": 390, "height": 844}


def test_staff_find_a_case_by_words_of_its_description_on_desktop_and_phone(
    browse: Browse, live_server: LiveServer
) -> None:
    gl = live_server.app.extensions["gridloop"]
    wanted = gl.report(
        "gw_hb1", {"category": "0101", "grid": GRID_HB1, "description": "幸福路口井盖松动，车辆经过有响声"}
    )
    other = gl.report(
        "gw_hb1", {"category": "0101", "grid": GRID_HB1, "description": "小区门口垃圾桶满溢，需要清运"}
    )
    for viewport, options in (
        ({"width": 1280, "height": 800}, {}),
        (PHONE, {"is_mobile": True, "has_touch": True}),
    ):
        page = browse.sign_in("dispatcher", viewport=viewport, **options)
        page.goto("/events")
        page.fill("input[name=text]", "井盖 响声")
        page.click(".filters button[type=submit]")
        rows = page.locator("table.list tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(wanted["code"])
        expect(rows.first.locator(".event-description")).to_contain_text("井盖松动")
        expect(page.locator("table.list")).not_to_contain_text(other["code"])
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    browse.screenshots("event-search")
