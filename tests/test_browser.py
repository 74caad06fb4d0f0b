"""The staff UI in a real browser: Debian's chromium driven by Playwright against a live server.

The whole loop as the demo staff would walk it — report with a photo, accept, dispatch, handle, verify, close,
follow-up — each step from the right person's inbox, then the closed event's page with its bpmn-js diagram
highlighted; and the pages on a phone-sized screen. These tests never skip: `make test` installs chromium and
vendors bpmn-js first, and a missing one fails them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from browser_support import Browse, LiveServer

pytest_plugins = ["browser_support"]

PHONE = {"width": 375, "height": 740}


def submit_task(page: Page, code: str) -> None:
    """Submit the task form and land back on the inbox with the confirmation."""
    page.click("form.schema-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.locator(".flash-success")).to_contain_text(code)


def open_claimable(page: Page, code: str) -> None:
    """From the user's claimable inbox, open the task of event ``code``."""
    page.goto("/inbox?view=claimable")
    row = page.locator("table.inbox tbody tr", has_text=code)
    expect(row).to_have_count(1)
    row.get_by_role("link", name="办理", exact=True).click()
    expect(page.locator("form.schema-form")).to_be_visible()


def test_whole_loop_through_the_browser(browse: Browse, tiny_png: Callable[..., bytes]) -> None:
    reporter = browse.sign_in("gw_hb1")
    reporter.click("nav.nav >> text=上报")
    reporter.select_option("#f-category", "0101")
    reporter.fill("#f-description", "湖滨路口绿化带旁有一堆暴露垃圾，无人清运")
    reporter.fill("#f-address", "湖滨路 18 号")
    expect(reporter.locator("#f-grid")).to_have_value("330199001001001")
    reporter.set_input_files(
        "#f-photos", files=[{"name": "scene.png", "mimeType": "image/png", "buffer": tiny_png()}]
    )
    reporter.click("form.schema-form button[type=submit]")
    code_link = reporter.locator(".big-code a.code")
    expect(code_link).to_have_text(re.compile(r"^E\d{8}\d{6}$"))
    code = code_link.inner_text()
    event_url = code_link.get_attribute("href")

    intake = browse.sign_in("intake")
    open_claimable(intake, code)
    expect(intake.locator(".steps img")).to_have_count(1)
    intake.get_by_label("受理", exact=True).check()
    intake.fill("#f-note", "信息完整，予以受理")
    submit_task(intake, code)

    dispatcher = browse.sign_in("dispatcher")
    open_claimable(dispatcher, code)
    expect(dispatcher.locator("#f-department")).to_have_value("DH-HW")
    dispatcher.fill("#f-instructions", "请于时限内清运")
    submit_task(dispatcher, code)
    dispatcher.goto(event_url)
    expect(dispatcher.locator(".bpmn-diagram.is-drawn .djs-element.gl-current")).to_have_count(1)

    handler = browse.sign_in("h_dh_hw")
    open_claimable(handler, code)
    handler.get_by_label("处置完毕", exact=True).check()
    handler.fill("#f-result", "已清运完毕，现场已清洁")
    handler.set_input_files(
        "#f-photos", files=[{"name": "after.png", "mimeType": "image/png", "buffer": tiny_png(6, 6)}]
    )
    submit_task(handler, code)

    open_claimable(reporter, code)
    reporter.get_by_label("是", exact=True).check()
    reporter.fill("#f-note", "现场已处置到位")
    submit_task(reporter, code)

    leader = browse.sign_in("leader")
    open_claimable(leader, code)
    leader.fill("#f-opinion", "同意结案")
    submit_task(leader, code)

    open_claimable(intake, code)
    intake.get_by_label("满意", exact=True).check()
    submit_task(intake, code)

    leader.goto(event_url)
    expect(leader.locator("header.page-head .state")).to_have_text("已结案")
    expect(leader.locator(".bpmn-diagram.is-drawn svg").first).to_be_visible()
    done = leader.locator(".bpmn-diagram .djs-element.gl-done")
    expect(done).to_have_count(7)
    expect(leader.locator(".bpmn-diagram .djs-element.gl-current")).to_have_count(0)
    expect(leader.locator(".attachments img")).to_have_count(2)
    expect(leader.locator("ol.timeline li")).to_have_count(7)


def test_pages_fit_a_phone_screen(browse: Browse, live_server: LiveServer) -> None:
    gl = live_server.app.extensions["gridloop"]
    event = gl.report(
        "gw_hb1", {"category": "0101", "description": "人行道上有一堆建筑垃圾", "address": "柳岸路 3 号"}
    )
    intake = browse.sign_in("intake", viewport=PHONE, is_mobile=True, has_touch=True)
    task_id = next(t["id"] for t in gl.event_detail("intake", event["id"])["tasks"] if t["status"] == "open")
    for path in (
        "/inbox?view=claimable",
        f"/tasks/{task_id}",
        f"/events/{event['id']}",
        "/events",
        "/report",
        "/processes",
    ):
        intake.goto(path)
        width = intake.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide on a {PHONE['width']} px screen"
    intake.goto("/inbox?view=claimable")
    expect(intake.locator("table.inbox tbody tr", has_text=event["code"])).to_be_visible()
