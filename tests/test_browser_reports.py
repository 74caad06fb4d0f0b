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
