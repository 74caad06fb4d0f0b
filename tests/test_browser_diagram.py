"""The process diagram as staff read it, in a real browser: it opens readable — fitted when the whole loop
reads well in its box, else centred on the step that waits — and its buttons zoom in and out, fit the whole
diagram and go back to the current step, at desktop and at phone width."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from browser_support import Browse, LiveServer

pytest_plugins = ["browser_support"]

PHONE = {"width": 375, "height": 740}
RUBBISH = {"category": "0101", "description": "路边有一堆暴露垃圾，无人清运", "grid": "330199001001001"}


def scale(page: Page) -> float:
    return float(page.locator(".bpmn-diagram.is-drawn").get_attribute("data-scale") or "nan")


def current_in_view(page: Page) -> bool:
    """Whether the waiting step's box lies inside the diagram's box on screen."""
    box = page.locator(".bpmn-diagram.is-drawn").bounding_box()
    step = page.locator(".bpmn-diagram .djs-element.gl-current").bounding_box()
    assert box is not None and step is not None
    return (
        box["x"] <= step["x"]
        and step["x"] + step["width"] <= box["x"] + box["width"]
        and box["y"] <= step["y"]
        and step["y"] + step["height"] <= box["y"] + box["height"]
    )


def open_event(browse: Browse, live_server: LiveServer, **options: Any) -> Page:
    gl = live_server.app.extensions["gridloop"]
    event = gl.report("gw_hb1", RUBBISH)
    page = browse.sign_in("intake", **options)
    page.goto(f"/events/{event['id']}")
    expect(page.locator(".bpmn-diagram.is-drawn .djs-element.gl-current")).to_have_count(1)
    return page


def test_the_diagram_zooms_fits_and_finds_the_current_step(browse: Browse, live_server: LiveServer) -> None:
    page = open_event(browse, live_server)
    controls = page.get_by_role("toolbar", name="流程图缩放")
    expect(controls).to_be_visible()
    opened = scale(page)
    assert opened > 0 and current_in_view(page)
    controls.get_by_role("button", name="放大").click()
    assert scale(page) > opened
    controls.get_by_role("button", name="缩小").click()
    controls.get_by_role("button", name="缩小").click()
    assert scale(page) < opened
    controls.get_by_role("button", name="全图").click()
    fitted = scale(page)
    controls.get_by_role("button", name="当前环节").click()
    assert abs(scale(page) - 0.8) < 0.01 and current_in_view(page)
    # it opened fitted when fitted reads well, else on the current step at the readable scale
    assert abs(opened - fitted) < 0.01 if fitted >= 0.6 else abs(opened - 0.8) < 0.01


def test_on_a_phone_the_diagram_opens_on_the_current_step_at_a_readable_scale(
    browse: Browse, live_server: LiveServer
) -> None:
    page = open_event(browse, live_server, viewport=PHONE, is_mobile=True, has_touch=True)
    assert abs(scale(page) - 0.8) < 0.01
    assert current_in_view(page)
    page.get_by_role("button", name="全图").click()
    assert (
        scale(page) < 0.6
    )  # the whole loop in a phone's width: too small to read, hence not the opening view
