"""A leader's instruction and an appeal against its deduction, in a real browser: the case leads the department's
inbox as 批示件, its handler appeals from the event page on a phone (the start form names the sheet already), and
the district's evaluator upholds the appeal; the case's page then says so (screenshots in test-artifacts/)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.sync_api import expect

if TYPE_CHECKING:
    from browser_support import Browse, LiveServer

pytest_plugins = ["browser_support"]

PHONE = {"width": 390, "height": 844}


def test_a_department_appeals_against_an_instructions_deduction_and_the_evaluator_upholds_it(
    browse: Browse, live_server: LiveServer
) -> None:
    from browser_support import ARTIFACTS, instructed_case

    gl = live_server.app.extensions["gridloop"]
    event, sheet = instructed_case(gl)
    ARTIFACTS.mkdir(exist_ok=True)

    handler = browse.sign_in("h_dh_hw", viewport=PHONE, is_mobile=True, has_touch=True)
    handler.goto("/inbox?view=claimable")
    row = handler.locator("table.inbox tbody tr.priority", has_text=event["code"])
    expect(row.locator(".badge")).to_have_text("批示件")

    handler.goto(f"/events/{event['id']}")
    item = handler.locator(f'#sheets li[data-sheet="{sheet["id"]}"]')
    item.get_by_role("link", name="申诉扣分").click()
    expect(handler.locator("#f-sheet")).to_have_value(str(sheet["id"]))
    handler.fill("#f-reason", "小区物业未开门，超时并非本部门原因")
    assert handler.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    handler.screenshot(path=str(ARTIFACTS / "appeal-start-phone.png"), full_page=True)
    handler.locator("form button[type=submit].primary").last.click()
    expect(handler.locator(".flash-success")).to_be_visible()

    evaluator = browse.sign_in("evaluator", viewport={"width": 1280, "height": 800})
    evaluator.goto("/inbox?view=claimable")
    evaluator.locator("table.inbox tbody tr", has_text="申诉审核").get_by_role(
        "link", name="申诉审核"
    ).click()
    evaluator.check("input[name=appeal_granted][value=true]")
    expect(evaluator.locator("dl.summary")).to_contain_text(event["code"])  # the case appealed about
    evaluator.fill("#f-decision_reason", "经核实，物业未配合开门")
    evaluator.screenshot(path=str(ARTIFACTS / "appeal-decide-desktop.png"), full_page=True)
    evaluator.locator("form button[type=submit].primary").last.click()
    expect(evaluator.locator(".flash-success")).to_be_visible()

    handler.goto(f"/events/{event['id']}")
    expect(handler.locator(f'#sheets li[data-sheet="{sheet["id"]}"] .sheet-appeal')).to_contain_text(
        "申诉成立"
    )
    assert (
        handler.locator(f'#sheets li[data-sheet="{sheet["id"]}"]')
        .get_by_role("link", name="申诉扣分")
        .count()
        == 0
    )
    handler.screenshot(path=str(ARTIFACTS / "appeal-upheld-event-phone.png"), full_page=True)
