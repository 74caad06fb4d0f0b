"""The monthly evaluation reports in a real browser (issue 14, part 7): an auditor writes a month's report from the
dashboard's report list on a phone and downloads the workbook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openpyxl import load_workbook
from playwright.sync_api import expect

if TYPE_CHECKING:
    from browser_support import Browse

pytest_plugins = ["browser_support"]

PHONE = {"width": 390, "height": 800}


def test_an_auditor_writes_and_downloads_a_monthly_report_on_a_phone(browse: Browse, tmp_path) -> None:
    page = browse.sign_in("auditor", viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto("/dashboard")
    page.get_by_role("link", name="月度考核报告").click()
    expect(page.locator("h1")).to_have_text("月度考核报告")
    page.fill("#report-period", "2026-11")
    page.get_by_role("button", name="生成报告").click()
    expect(page.locator(".flash-success")).to_contain_text("2026-11 月度考核报告已生成")
    row = page.locator("#monthly-reports tbody tr").first
    expect(row).to_contain_text("2026-11")
    expect(row).to_contain_text("审计员")
    page.screenshot(path=str(tmp_path / "reports-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    with page.expect_download() as download:
        row.get_by_role("link", name="下载").click()
    assert download.value.suggested_filename == "月度考核报告-2026-11.xlsx"
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    book = load_workbook(saved)
    assert book.sheetnames[0] == "月度分析"


DESKTOP = {"width": 1280, "height": 900}


def test_the_dashboards_charts_draw_and_their_tables_drill_into_the_cases(
    browse: Browse, live_server, tmp_path
) -> None:
    gl = live_server.app.extensions["gridloop"]
    event = gl.report(
        "gw_hb1",
        {"category": "0101", "description": "路边有一堆暴露垃圾，无人清运", "grid": "330199001001001"},
    )
    [task] = [t for t in gl.event_detail("admin", event["id"])["tasks"] if t["status"] == "open"]
    gl.claim("intake", task["id"])
    gl.complete("intake", task["id"], {"decision": "accept"})
    # dispatched: a department's open task for the time-light board
    [dispatch] = [t for t in gl.event_detail("admin", event["id"])["tasks"] if t["status"] == "open"]
    gl.claim("dispatcher", dispatch["id"])
    gl.complete("dispatcher", dispatch["id"], {"department": "DH-HW"})
    gl.supervise()
    for viewport, extra in ((DESKTOP, {}), (PHONE, {"is_mobile": True, "has_touch": True})):
        page = browse.sign_in("auditor", viewport=viewport, **extra)
        page.goto("/dashboard")
        for chart in ("trend", "categories", "channels", "ranking", "heat", "lights"):
            expect(page.locator(f"#chart-{chart} canvas")).to_have_count(1)
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.screenshot(path=f"/tmp/dashboard-{viewport['width']}.png", full_page=True)
    page.locator("#table-categories").locator("xpath=..").locator("summary").click()
    page.locator("#table-categories a").first.click()
    expect(page.locator("h1")).to_have_text("统计口径下的案件")
    expect(page.locator(f'#figure-cases tr[data-event="{event["id"]}"]')).to_be_visible()
    page.screenshot(path=str(tmp_path / "cases-390.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
