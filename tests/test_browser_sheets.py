"""A department's inbox with a supervision sheet's badge, in a real browser at phone width (and a screenshot of
it and of the task page with the sheet, in test-artifacts/, for people to look at)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.sync_api import expect

if TYPE_CHECKING:
    from browser_support import Browse, LiveServer

pytest_plugins = ["browser_support"]

PHONE = {"width": 375, "height": 740}


def test_a_sheet_badge_on_the_inbox_row_leads_to_the_sheet_on_the_task_page_on_a_phone(
    browse: Browse, live_server: LiveServer
) -> None:
    from browser_support import ARTIFACTS, instructed_case

    gl = live_server.app.extensions["gridloop"]
    event, sheet = instructed_case(gl)

    handler = browse.sign_in("h_dh_hw", viewport=PHONE, is_mobile=True, has_touch=True)
    handler.goto("/inbox?view=claimable")
    row = handler.locator("table.inbox tbody tr", has_text=event["code"])
    badge = row.locator(f'a.sheet-card[data-sheet="{sheet["id"]}"]')
    expect(badge).to_be_visible()
    expect(badge).to_have_text("督办")
    width = handler.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the inbox is {width} px wide on a {PHONE['width']} px screen"
    ARTIFACTS.mkdir(exist_ok=True)
    handler.screenshot(path=str(ARTIFACTS / "sheet-badge-inbox-phone.png"), full_page=True)

    desktop = browse.sign_in("h_dh_hw", viewport={"width": 1280, "height": 800})
    desktop.goto("/inbox?view=claimable")
    expect(desktop.locator(f'table.inbox a.sheet-card[data-sheet="{sheet["id"]}"]')).to_be_visible()
    desktop.screenshot(path=str(ARTIFACTS / "sheet-badge-inbox-desktop.png"), full_page=True)

    badge.click()
    item = handler.locator(f'#sheets li[data-sheet="{sheet["id"]}"]')
    expect(item).to_contain_text("群众反映强烈")
    expect(item.locator("textarea[name=reply]")).to_be_visible()
    assert handler.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    handler.screenshot(path=str(ARTIFACTS / "sheet-task-page-phone.png"), full_page=True)

    item.locator("textarea[name=reply]").fill("已安排清运，今日完成")
    item.locator("button[type=submit]").click()
    expect(handler.locator(".flash-success")).to_be_visible()
    expect(handler.locator(f'#sheets li[data-sheet="{sheet["id"]}"]')).to_contain_text("已安排清运，今日完成")
