"""The task page's Tasklist tools in a real browser at phone width: delegate, comment and follow-up date
controls fit the screen and work; screenshots at phone and desktop width go to test-artifacts/."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.sync_api import expect

if TYPE_CHECKING:
    from browser_support import Browse, LiveServer

pytest_plugins = ["browser_support"]

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


def test_the_task_page_tools_at_phone_width(browse: Browse, live_server: LiveServer) -> None:
    gl = live_server.app.extensions["gridloop"]
    event = gl.report(
        "gw_hb1", {"category": "0101", "description": "小区门口垃圾满溢", "address": "柳岸路 5 号"}
    )
    gl.complete("intake", gl.event_detail("intake", event["id"])["tasks"][0]["id"], {"decision": "accept"})
    task_id = next(t["id"] for t in gl.event_detail("intake", event["id"])["tasks"] if t["status"] == "open")
    gl.claim("dispatcher", task_id)
    phone = browse.sign_in("dispatcher", viewport=PHONE, is_mobile=True, has_touch=True)
    phone.goto(f"/tasks/{task_id}")
    tools = phone.locator("section.tasklist-tools")
    expect(tools.locator("select[name=to] option[value=dispatcher_hb]")).to_have_count(1)
    tools.locator("textarea[name=text]").fill("已电话联系物业，今日清运")
    tools.locator("form", has=phone.locator("textarea[name=text]")).locator("button[type=submit]").click()
    expect(phone.locator(".comments li")).to_contain_text("已电话联系物业")
    phone.locator("#follow-up-at").fill("2026-11-23")
    phone.locator("form", has=phone.locator("#follow-up-at")).locator("button[type=submit]").first.click()
    expect(phone.locator(".page-head .meta")).to_contain_text("跟进日期")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the task page is {width} px wide on a {PHONE['width']} px screen"
    leader = browse.sign_in("leader", viewport=DESKTOP)
    leader.goto(f"/tasks/{task_id}")
    expect(leader.locator(f"form[action='/tasks/{task_id}/assign'] select[name=to]")).to_be_visible()
    browse.screenshots("tasklist-task-page")
    phone.goto("/inbox?view=follow_up")
    expect(phone.locator("table.inbox tbody tr", has_text=event["code"])).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    browse.screenshots("tasklist-follow-up")
