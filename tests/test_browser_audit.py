"""The audit, supervision and administration pages in a real browser: Debian's chromium driven by Playwright
against a live server — the audit page of a closed event stepped back to a middle step with the path taken so far
highlighted in the bpmn-js diagram, and the new pages on a phone-sized screen."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from playwright.sync_api import expect
from web_support import closed_with_rework

from engine.audit import verification

if TYPE_CHECKING:
    from browser_support import Browse, LiveServer

pytest_plugins = ["browser_support"]

PHONE = {"width": 375, "height": 740}
FAILED_VERIFY = 5  # the history seq of the verification that failed and sent the case back for rework


def test_the_audit_page_steps_to_a_middle_step_and_highlights_the_path_taken(
    browse: Browse, live_server: LiveServer
) -> None:
    gl = live_server.app.extensions["gridloop"]
    event_id = closed_with_rework(gl)
    replayed = verification.replay_event(gl, event_id).steps
    at_failed_verify = next(s for s in replayed if s.seq == FAILED_VERIFY)
    assert at_failed_verify.open_steps == ["handle"] and "close" not in at_failed_verify.path

    auditor = browse.sign_in("auditor")
    auditor.goto(f"/events/{event_id}")
    auditor.get_by_role("link", name="审计回放").click()
    expect(auditor).to_have_url(re.compile(rf"/audit/events/{event_id}$"))
    expect(auditor.locator("#verdict")).to_contain_text("历史记录完整未被篡改")
    expect(auditor.locator(".step-pager")).to_contain_text(f"第 {len(replayed)} / {len(replayed)} 步")
    last = auditor.locator(".bpmn-diagram.is-drawn")
    expect(last.locator(".djs-element.gl-done")).to_have_count(len(replayed[-1].path))
    expect(last.locator(".djs-element.gl-current")).to_have_count(0)

    auditor.locator(f".audit-steps a[href$='step={FAILED_VERIFY + 1}#step']").click()
    expect(auditor.locator(".step-pager")).to_contain_text(f"第 {FAILED_VERIFY + 1} / {len(replayed)} 步")
    auditor.locator(".step-pager a[rel=prev]").click()
    expect(auditor).to_have_url(re.compile(rf"step={FAILED_VERIFY}#step$"))
    expect(auditor.locator(".audit-steps li.active")).to_contain_text("核查")
    expect(auditor.locator("tr[data-key=rework_count] td.new")).to_have_text("1")

    diagram = auditor.locator(".bpmn-diagram.is-drawn")
    expect(diagram.locator("svg").first).to_be_visible()
    done = diagram.locator(".djs-element.gl-done")
    expect(done).to_have_count(len(at_failed_verify.path))
    marked = set(done.evaluate_all("elements => elements.map(e => e.dataset.elementId)"))
    assert marked == set(at_failed_verify.path)
    expect(diagram.locator(".djs-element.gl-current")).to_have_count(1)
    expect(diagram.locator(".djs-element.gl-current[data-element-id=handle]")).to_have_count(1)
    expect(diagram.locator(".djs-element[data-element-id=close]")).not_to_have_class(re.compile("gl-done"))
    flows = diagram.locator(".djs-connection.gl-done-flow")
    expect(flows.first).to_be_attached()
    assert flows.count() >= len(at_failed_verify.path) - 1


def test_the_new_pages_fit_a_phone_screen(browse: Browse, live_server: LiveServer) -> None:
    gl = live_server.app.extensions["gridloop"]
    event_id = closed_with_rework(gl)
    other = gl.report("gw_hb1", {"category": "0101", "description": "人行道上有一堆建筑垃圾，需要清运"})["id"]
    gl.issue_sheet("supervisor", other, "DH-HW", "领导批示：请尽快核实并处置，处置结果报指挥中心")
    paths = {
        "admin": (
            f"/audit/events/{event_id}?step={FAILED_VERIFY}",
            "/supervision",
            "/admin/settings",
            "/admin/calendar?start=2026-12-31T16:00&limit=4&unit=work_hours",
        ),
        "supervisor": (f"/events/{other}", "/supervision"),
    }
    for username, pages in paths.items():
        page = browse.sign_in(username, viewport=PHONE, is_mobile=True, has_touch=True)
        for path in pages:
            page.goto(path)
            expect(page.locator("main.page h1")).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width} px wide on a {PHONE['width']} px screen"
