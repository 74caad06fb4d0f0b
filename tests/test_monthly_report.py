"""The monthly evaluation report (issue 14, part 7): an XLSX workbook with the standard's tables and the month's
written analysis, kept and in the admin log, written by evaluators or the scheduler — on SQLite and PostgreSQL.
The figures are worked out by hand from three reports on the manual clock (see ``month``)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import Driver
from openpyxl import load_workbook
from sqlalchemy import select

from engine.app import Gridloop
from engine.errors import Forbidden, ValidationFailed
from engine.store.models import AdminLogEntry
from engine.time.scheduler import TimerScheduler

ADDRESS = "东湖路12号"


def _closed(driver: Driver) -> int:
    event_id = driver.report("gw_hb1", address=ADDRESS)
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    driver.complete("h_dh_hw", event_id, "handle", {"action": "done", "result": "已清运"})
    driver.complete("gw_hb1", event_id, "verify", {"passed": True})
    driver.complete("leader", event_id, "close", {"opinion": "同意"})
    return event_id


@pytest.fixture
def month(gl: Gridloop, driver: Driver) -> dict[str, Any]:
    """Monday 2026-11-23: a case of 暴露垃圾 closed on time by 东湖街道环卫所 (DH-HW); another at the same address
    left at DH-HW's handling past its limit of 4 working hours; a report rejected (no case). Three days on."""
    closed = _closed(driver)
    late = driver.report("gw_hb1", address=ADDRESS)
    driver.complete("intake", late, "accept", {"decision": "accept"})
    driver.complete("dispatcher", late, "dispatch", {"department": "DH-HW"})
    rejected = driver.report("gw_hb1")
    driver.complete("intake", rejected, "accept", {"decision": "reject", "reason": "重复上报"})
    gl.clock.advance(timedelta(days=3))
    return {"closed": closed, "late": late}


def _book(gl: Gridloop, written: dict[str, Any]) -> Any:
    name, content = gl.monthly_report("evaluator", written["id"])
    assert name == f"月度考核报告-{written['period']}.xlsx"
    return load_workbook(io.BytesIO(content))


def _rows(sheet: Any) -> list[list[Any]]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_the_report_holds_the_standards_tables_and_the_months_analysis(gl, month):
    written = gl.write_monthly_report("evaluator", "2026-11")
    book = _book(gl, written)
    assert book.sheetnames == ["月度分析", "区县", "各层级", "各部门", "网格员", "岗位评价"]
    district = _rows(book["区县"])
    assert district[0][:6] == ["区县", "立案数", "应结案数", "结案数", "按期结案数", "结案率"]
    # two cases opened; both due (one closed on time, one past its limit): 50 % closed, 50 % on time
    assert district[1][:7] == ["清河区", 2, 2, 1, 1, 0.5, 0.5]
    assert book["区县"]["F2"].number_format == "0.00%", "rates print with two decimals"
    header, *department_rows = _rows(book["各部门"])
    departments = {row[0]: dict(zip(header, row, strict=True)) for row in department_rows}
    hw = departments["东湖街道环卫所"]
    # its two handling tasks: one done in time, one late → 1 late of 2, a task on-time rate of 50 %
    assert (hw["应办任务数"], hw["超期任务数"], hw["任务按时率"]) == (2, 1, 0.5)
    assert hw["考核等级"] in ("优秀", "良好", "合格", "不合格")
    assert (district[1][9], district[1][10]) == (0, 1.0), "none voided: every case opened was accurate"
    platform = dict(zip(district[0], district[1], strict=True))
    assert (platform["上报数"], platform["有效上报数"], platform["有效上报率"]) == (3, 2, 0.6667), (
        "one rejected"
    )
    assert (platform["派遣数"], platform["错误派遣数"], platform["准确派遣率"]) == (2, 0, 1.0)
    assert (hw["超期处置数"], hw["超期未处置数"]) == (0, 1), "the late one is still not done"
    workers = {row[0]: row for row in _rows(book["网格员"])[1:]}
    [worker] = [row for name, row in workers.items() if name.startswith("网格员")]
    assert worker[1:4] == [2, 2, 0], "two valid reports, none major"
    positions = _rows(book["岗位评价"])
    assert positions[0][:4] == ["岗位", "人员", "受理数", "按时受理率"]
    by_position = {(row[0], row[1]): dict(zip(positions[0], row, strict=True)) for row in positions[1:]}
    [(_, dispatcher)] = [(k, v) for k, v in by_position.items() if k[0] == "派遣员"]
    assert (dispatcher["派遣数"], dispatcher["错误派遣数"], dispatcher["综合指标值"]) == (2, 0, 100.0)
    [(_, intake)] = [(k, v) for k, v in by_position.items() if k[0] == "受理员"]
    assert (intake["受理数"], intake["立案数"]) == (3, 2), "three reports accepted, one of them rejected"
    analysis = [row[0] for row in _rows(book["月度分析"])]
    assert analysis[0] == "2026-11 网格化管理月度考核报告"
    assert analysis[1] == "2026-11 共立案 2 件，上月 0 件，增加 2 件。"
    assert analysis[2] == "上报最多的类别：市容环境 / 暴露垃圾 2 件（上月 0 件，+2）。"
    assert analysis[3] == "处置较慢的部门：东湖街道环卫所 超期 1 件 / 应办 2 件，任务按时率 50.00%。"
    assert analysis[4].startswith("立案最多的网格：") and analysis[4].endswith(" 2 件。")
    assert analysis[5].endswith(f"{ADDRESS} 2 次。"), "the same address twice is a recurring place"


def test_each_report_is_kept_and_logged_and_only_evaluators_auditors_and_admins_have_them(gl, month):
    first = gl.write_monthly_report("evaluator", "2026-11")
    again = gl.write_monthly_report("auditor", "2026-11")
    assert first["id"] != again["id"], "a month written again is kept beside the first"
    listed = gl.monthly_reports("admin")
    assert [(r["id"], r["period"], r["written_by"]) for r in listed] == [
        (again["id"], "2026-11", "auditor"),
        (first["id"], "2026-11", "evaluator"),
    ]
    with gl.db.reading() as session:
        logged = [
            e.data
            for e in session.scalars(select(AdminLogEntry).where(AdminLogEntry.action == "monthly_report"))
        ]
    assert [(e["period"], e["report"], e["sha256"]) for e in logged] == [
        ("2026-11", first["id"], first["sha256"]),
        ("2026-11", again["id"], again["sha256"]),
    ]
    for refused in (
        lambda: gl.write_monthly_report("gw_hb1", "2026-11"),
        lambda: gl.monthly_reports("dispatcher"),
        lambda: gl.monthly_report("h_dh_hw", first["id"]),
    ):
        with pytest.raises(Forbidden):
            refused()
    for bad in ("2026-13", "November", "2027-01"):
        with pytest.raises(ValidationFailed):
            gl.write_monthly_report("evaluator", bad)
    assert len(gl.monthly_reports("admin")) == 2, "a refused report keeps nothing"


def test_the_scheduler_writes_the_month_just_ended_once(gl, month):
    gl.clock.set(datetime(2026, 12, 1, 1, 30, tzinfo=gl.now().tzinfo))  # 09:30 on 1 December in Shanghai
    written = gl.write_due_monthly_report("scheduler-a")
    assert written is not None and written["period"] == "2026-11"
    assert gl.write_due_monthly_report("scheduler-b") is None, "the second scheduler finds it written"
    scheduler = TimerScheduler(gl, name="scheduler-c", backstop=timedelta(hours=1))
    scheduler.start()
    try:
        assert [r["written_by"] for r in gl.monthly_reports("admin")] == ["scheduler-a"]
        job = scheduler._scheduler.get_job("gridloop-monthly-report")
        assert job is not None and str(job.trigger).startswith("cron[day='1', hour='1'")
    finally:
        scheduler.shutdown()
    assert _rows(_book(gl, written)["区县"])[1][1] == 2


def test_the_report_list_writes_and_downloads_a_month_on_the_pages(tmp_path):
    from web_support import app_with_staff, html, staff, token

    for app in app_with_staff(tmp_path, ("evaluator", "gw_hb1")):
        client = staff(app, "evaluator")
        assert 'href="/dashboard/reports"' in html(client.get("/dashboard"))
        page = html(client.get("/dashboard/reports"))
        assert 'value="2026-10"' in page and "还没有月度报告" in page, "last month, by the engine's clock"
        bad = client.post(
            "/dashboard/reports",
            data={"csrf_token": token(client, "/dashboard/reports"), "period": "2027-01"},
        )
        assert bad.status_code == 400 and "该月份尚未开始" in html(bad)
        written = client.post(
            "/dashboard/reports",
            data={"csrf_token": token(client, "/dashboard/reports"), "period": "2026-11"},
        )
        assert written.status_code == 303
        page = html(client.get("/dashboard/reports"))
        assert "2026-11 月度考核报告已生成" in page
        [report] = app.extensions["gridloop"].monthly_reports("evaluator")
        download = client.get(f"/dashboard/reports/{report['id']}.xlsx")
        assert download.status_code == 200 and download.mimetype.endswith("spreadsheetml.sheet")
        assert "filename*=UTF-8''%E6%9C%88" in download.headers["Content-Disposition"]
        assert load_workbook(io.BytesIO(download.data)).sheetnames[0] == "月度分析"
        worker = staff(app, "gw_hb1")
        assert 'href="/dashboard/reports"' not in html(worker.get("/inbox"))
        assert worker.get("/dashboard/reports").status_code == 403
        assert worker.get(f"/dashboard/reports/{report['id']}.xlsx").status_code == 403
        assert client.get("/dashboard/reports/999.xlsx").status_code == 404


def test_the_report_on_the_command_line(tmp_path, capsys):
    from webui.cli import main

    url = f"sqlite:///{tmp_path}/cli.sqlite3"
    assert main(["--db", url, "init", "--demo"]) == 0
    capsys.readouterr()
    out = tmp_path / "2026-11.xlsx"
    assert main(["--db", url, "report", "monthly", "--period", "2026-11", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert said.startswith("monthly report 2026-11: #1, ") and said.rstrip().endswith(f"written to {out}")
    assert load_workbook(out).sheetnames == ["月度分析", "区县", "各层级", "各部门", "网格员", "岗位评价"]
    assert main(["--db", url, "report", "monthly", "--period", "2026-13"]) != 0
