"""The notice centre in a real browser on a phone-sized screen: the bell with its count in the navigation, the
list with an unread notice, opening it (read, on to its task); screenshots at phone and desktop width."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.sync_api import expect

if TYPE_CHECKING:
    from browser_support import Browse, LiveServer

pytest_plugins = ["browser_support"]

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


def test_bell_and_notice_list_on_a_phone(browse: Browse, live_server: LiveServer) -> None:
    gl = live_server.app.extensions["gridloop"]
    event = gl.report(
        "gw_hb1", {"category": "0101", "description": "路边有一堆暴露垃圾", "grid": "330199001001001"}
    )
    phone = browse.sign_in("intake", viewport=PHONE, is_mobile=True, has_touch=True)
    desktop = browse.sign_in("intake", viewport=DESKTOP)
    bell = phone.locator("a.bell")
    expect(bell.locator(".bell-count")).to_have_text("1")
    bell.click()
    expect(phone).to_have_url(f"{live_server.url}/notices")
    item = phone.locator("li.notice.unread")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(event["code"])
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"/notices is {width} px wide on a {PHONE['width']} px screen"
    desktop.goto("/notices")
    browse.screenshots("notices")
    item.locator("button.notice-title").click()
    expect(phone).to_have_url(f"{live_server.url}/tasks/{event['next'][0]}")
    expect(phone.locator("a.bell .bell-count")).to_have_count(0)
