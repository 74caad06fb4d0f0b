"""The evaluation dashboard (考核评价) through Flask's test client, on a real SQLite file: the engine's counts and
rates per group as a table, for evaluators only, with bad dates refused next to their field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import GRID_HB1, GRID_LA1
from web_support import app_with_staff, at_handle, complete, html, report, staff

from engine.app import Gridloop
from engine.evaluation import metrics
from engine.reads.labels import display_names

STAFF = ("evaluator", "auditor", "gw_hb1")
NOVEMBER = "/dashboard?from=2026-11-01&to=2026-11-30"
NOVEMBER_RANGE = (datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC))  # Shanghai


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    """The app with an evaluator, an auditor and a grid worker who can sign in."""
    yield from app_with_staff(tmp_path, STAFF)


@pytest.fixture
def gl(app: Any) -> Gridloop:
    """The app's engine, with a case closed on time by DH-HW and a rejected report (not a case), both reported
    by gw_hb1 on Monday 2026-11-23."""
    engine: Gridloop = app.extensions["gridloop"]
    closed = at_handle(engine)
    complete(engine, "h_dh_hw", closed, "handle", {"action": "done", "result": "已清运"})
    complete(engine, "gw_hb1", closed, "verify", {"passed": True})
    complete(engine, "leader", closed, "close", {"opinion": "同意"})
    complete(engine, "intake", closed, "follow_up", {"satisfaction": "satisfied"})
    rejected = report(engine)["id"]
    complete(engine, "intake", rejected, "accept", {"decision": "reject", "reason": "重复上报"})
    return engine


def row(page: str, group: str) -> str:
    """The table row of ``group``."""
    start = page.index(f'<tr data-group="{group}">')
    return page[start : page.index("</tr>", start)]


def cell(page: str, group: str, column: str) -> str:
    """The text of one cell of ``group``'s row, tags removed."""
    found = re.search(rf'data-col="{column}">(.*?)</td>', row(page, group), re.S)
    assert found, (group, column)
    return re.sub(r"<[^>]+>|\s+", "", found.group(1))


def test_an_evaluator_sees_each_department_with_its_counts_and_rates(app, gl):
    client = staff(app, "evaluator")
    response = client.get(NOVEMBER)
    assert response.status_code == 200
    page = html(response)
    assert "东湖街道环卫所" in row(page, "DH-HW")
    counts = [cell(page, "DH-HW", c) for c in ("opened", "due", "closed", "closed_on_time")]
    assert counts == ["1", "1", "1", "1"]
    assert cell(page, "DH-HW", "closure_rate") == "100.00%"
    assert cell(page, "DH-HW", "on_time_rate") == "100.00%"
    assert cell(page, "DH-HW", "rework_rate") == "0.00%"
    assert cell(page, "DH-HW", "satisfaction_rate") == "100.00%"
    assert 'data-col="task_on_time_rate"' in row(page, "DH-HW")
    assert re.findall(r'<tr data-group="([^"]*)"', page) == ["DH-HW"], "a rejected report is no case"
    assert "应结案数" in page and "结案率 = 结案数 ÷ 应结案数" in page, "the caption explains the definitions"
    assert 'class="table-scroll"' in page
    # without dates the period is the current month of the engine's clock (November 2026), by department
    default = html(client.get("/dashboard"))
    assert 'value="2026-11-01"' in default and 'value="2026-11-30"' in default
    assert cell(default, "DH-HW", "closure_rate") == "100.00%"
    # a period without the cases shows none
    empty = html(client.get("/dashboard?from=2026-10-01&to=2026-10-31"))
    assert 'data-group="DH-HW"' not in empty and "没有可统计的案件" in empty


def _one_closed_one_late(gl: Gridloop) -> tuple[int, int]:
    """Two more cases at DH-HW's handling: one closed, one left past its limit (4 working hours); three days on."""
    closed, late = at_handle(gl), at_handle(gl)
    complete(gl, "h_dh_hw", closed, "handle", {"action": "done", "result": "已清运"})
    complete(gl, "gw_hb1", closed, "verify", {"passed": True})
    complete(gl, "leader", closed, "close", {"opinion": "同意"})
    gl.clock.advance(timedelta(days=3))
    return closed, late


def test_rates_print_with_two_decimals_as_the_standard_prints_them(app, gl):
    # 2 of 3 closed
    closed, late = _one_closed_one_late(gl)
    page = html(staff(app, "evaluator").get(NOVEMBER))
    assert [cell(page, "DH-HW", c) for c in ("due", "closed")] == ["3", "2"]
    assert cell(page, "DH-HW", "closure_rate") == "66.67%"
    assert gl.event_detail("admin", late)["state"] != "closed"


def test_by_worker_shows_the_grid_workers_valid_reports_and_reward(app, gl):
    page = html(staff(app, "auditor").get(NOVEMBER + "&by=worker"))
    with gl.db.reading() as session:
        name = display_names(session, {"gw_hb1"})["gw_hb1"]
    assert name.startswith("网格员") and name in row(page, "gw_hb1")
    assert cell(page, "gw_hb1", "opened") == "1"
    assert cell(page, "gw_hb1", "valid_reports") == "1"
    assert cell(page, "gw_hb1", "reward") == "2.00"  # 1 valid report × 2.0 (report_rewards)
    assert 'data-col="task_on_time_rate"' not in page


def test_a_grid_worker_is_refused_and_not_offered_the_page(app, gl):
    worker = staff(app, "gw_hb1")
    assert 'href="/dashboard"' not in html(worker.get("/inbox"))
    assert worker.get("/dashboard").status_code == 403
    assert worker.get("/dashboard?from=never").status_code == 403
    assert 'href="/dashboard"' in html(staff(app, "evaluator").get("/inbox"))


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("from=2026-11-31&to=2026-11-30", "field-from", "请填写日期"),
        ("from=2026-11-01&to=tomorrow", "field-to", "请填写日期"),
        ("from=2026-11-30&to=2026-11-01", "field-to", "截止日不能早于起始日"),
        ("from=2026-11-01&to=2026-11-30&by=planet", "field-by", "请选择统计口径"),
    ],
)
def test_bad_dates_come_back_next_to_their_field(app, gl, query, field, message):
    response = staff(app, "evaluator").get(f"/dashboard?{query}")
    assert response.status_code == 400
    page = html(response)
    start = page.index(f'id="{field}"')
    assert message in page[start : page.index("</div>", start)]
    assert "<table" not in page


def test_every_count_drills_into_the_cases_behind_it(app, gl):
    closed, late = _one_closed_one_late(gl)
    client = staff(app, "evaluator")
    page = html(client.get(NOVEMBER))
    link = re.search(r'data-col="closed"><a href="([^"]+)"', row(page, "DH-HW"))
    assert link, "the count links to its cases"
    listed = html(client.get(link.group(1).replace("&amp;", "&")))
    codes = re.findall(r'<tr data-event="(\d+)"', listed)
    assert len(codes) == int(cell(page, "DH-HW", "closed")) == 2, "the list holds what the table counted"
    assert str(late) not in codes and str(closed) in codes
    due = html(client.get(link.group(1).replace("&amp;", "&").replace("figure=closed", "figure=due")))
    assert len(re.findall(r'<tr data-event="', due)) == 3
    assert (
        client.get("/dashboard/cases?from=2026-11-01&to=2026-11-30&by=department&figure=nothing").status_code
        == 400
    )
    assert client.get("/dashboard/cases?from=x&to=2026-11-30&by=department&figure=due").status_code == 400
    assert staff(app, "gw_hb1").get(link.group(1).replace("&amp;", "&")).status_code == 403


def test_the_charts_carry_the_tables_numbers_and_a_data_table_each(app, gl):
    page = html(staff(app, "evaluator").get(NOVEMBER))
    charts = json.loads(
        re.search(r'<script type="application/json" id="dashboard-charts">(.*?)</script>', page, re.S).group(
            1
        )
    )
    assert [m["month"] for m in charts["trend"]][-2:] == ["2026-10", "2026-11"] and len(charts["trend"]) == 12
    november = charts["trend"][-1]
    assert (november["opened"], november["closed"], november["closure_rate"]) == (1, 1, 1.0)
    assert [(c["group"], c["opened"]) for c in charts["categories"]] == [("0101", 1)]
    assert charts["channels"] == [{"channel": "grid", "opened": 1}]
    [hw] = charts["departments"]
    assert hw["group"] == "DH-HW" and round(sum(hw["terms"].values()), 2) == hw["score"], "the terms add up"
    for table in ("table-trend", "table-categories", "table-channels", "table-ranking"):
        assert f'id="{table}"' in page
    assert "2026-11</a>" in page and "暴露垃圾" in page


def steps_cell(page: str, group: str, column: str) -> str:
    """The text of one cell of ``group``'s row in the second table (the reports and steps, or the tasks)."""
    start = page.index(f'<tr data-steps-group="{group}">')
    found = re.search(rf'data-col="{column}">(.*?)</td>', page[start : page.index("</tr>", start)], re.S)
    assert found, (group, column)
    return re.sub(r"<[^>]+>|\s+", "", found.group(1))


def test_the_second_table_shows_the_reports_and_steps_or_the_departments_tasks(app, gl):
    closed, late = _one_closed_one_late(gl)
    client = staff(app, "evaluator")
    district = html(client.get(NOVEMBER + "&by=district"))
    assert "上报与平台环节" in district
    # four reports (the fixture's closed case and rejected report, and two more), three of them cases
    assert [steps_cell(district, "330199", c) for c in ("reported", "accepted_reports")] == ["4", "3"]
    assert steps_cell(district, "330199", "valid_report_rate") == "75.00%"
    assert steps_cell(district, "330199", "reported_by_channel") == "网格员巡查4", "by channel, named"
    assert [steps_cell(district, "330199", c) for c in ("dispatches", "redispatches", "checks")] == [
        "3",
        "0",
        "2",
    ]
    assert steps_cell(district, "330199", "accurate_dispatch_rate") == "100.00%"
    link = re.search(r'data-col="reported"><a href="([^"]+)"', district)
    assert link, "each count drills down to its cases"
    cases = html(client.get(link.group(1).replace("&amp;", "&")))
    assert cases.count("<tr data-event=") == 4, "the rejected report is among the reports"
    departments = html(client.get(NOVEMBER))
    assert "部门任务" in departments and "超期未处置数" in departments
    assert [steps_cell(departments, "DH-HW", c) for c in ("tasks_late", "tasks_overdue_open")] == ["1", "1"]
    assert gl.event_detail("admin", late)["state"] != "closed"


def test_by_position_shows_a_table_per_position_with_its_composite(app, gl):
    page = html(staff(app, "evaluator").get(NOVEMBER + "&by=position"))
    for title in ("受理员", "值班长", "派遣员", "监督员 / 网格员", "岗位评价"):
        assert title in page
    tables = dict(re.findall(r'data-position="(\w+)">(.*?)</table>', page, re.S))
    assert set(tables) == {"intake", "shift_leader", "dispatcher", "supervisor"}

    def value(position: str, staff_member: str, column: str) -> str:
        start = tables[position].index(f'<tr data-staff="{staff_member}">')
        found = re.search(rf'data-col="{column}">(.*?)</td>', tables[position][start:], re.S)
        assert found, (position, staff_member, column)
        return re.sub(r"<[^>]+>|\s+", "", found.group(1))

    # the fixture: two reports accepted by intake (one rejected), one dispatched, checked and closed in time
    assert [value("intake", "intake", c) for c in ("accepts", "opened", "on_time_intake_rate")] == [
        "2",
        "1",
        "100.00%",
    ]
    assert value("dispatcher", "dispatcher", "dispatches") == "1"
    assert value("dispatcher", "dispatcher", "composite") == "100.00优秀", "with its band (考核等级)"
    assert value("shift_leader", "leader", "on_time_opening_rate") == "—", "the leader opened no case"
    assert [value("supervisor", "gw_hb1", c) for c in ("reported", "valid_report_rate")] == ["2", "50.00%"]
    assert 'data-group="' not in page, "no evaluation table by group"
    # a count opens the cases behind it: intake's two accepted reports, the case among them it opened
    client = staff(app, "evaluator")
    start = tables["intake"].index('<tr data-staff="intake">')
    for figure, count in (("accepts", 2), ("opened", 1)):
        link = re.search(rf'data-col="{figure}"><a href="([^"]+)"', tables["intake"][start:])
        assert link, figure
        listed = html(client.get(link.group(1).replace("&amp;", "&")))
        assert len(re.findall(r'<tr data-event="', listed)) == count, figure
    bad = "/dashboard/cases?from=2026-11-01&to=2026-11-30&by=position&group=intake&figure=composite"
    assert client.get(bad).status_code == 400, "a composite is no count"


def test_the_light_board_counts_each_departments_open_tasks_by_light(app, gl):
    """One case left at DH-HW's handling past its limit (red once the scan has recorded it), another just
    arrived (green): the board shows DH-HW with one red and one green task, as its data table says."""
    closed, late = _one_closed_one_late(gl)
    fresh = at_handle(gl)  # a fresh one, inside its limit
    gl.supervise()  # the scheduler's scan records the lights
    client = staff(app, "evaluator")
    page = html(client.get(NOVEMBER))
    assert "时间灯看板" in page and 'id="chart-lights"' in page
    start = page.index('<tr data-lights="DH-HW">')
    row = page[start : page.index("</tr>", start)]
    counts = {c: re.sub(r"<[^>]+>", "", n) for c, n in re.findall(r'data-colour="(\w+)">(.*?)</td>', row)}
    assert (counts["red"], counts["green"], counts["yellow"]) == ("1", "1", "0")
    # each count opens the cases behind it: the department's open tasks of that colour, now
    for colour, expected in (("red", late), ("green", fresh)):
        link = re.search(rf'data-colour="{colour}"><a href="([^"]+)"', row)
        assert link, colour
        listed = html(client.get(link.group(1).replace("&amp;", "&")))
        assert re.findall(r'<tr data-event="(\d+)"', listed) == [str(expected)], colour
    assert 'data-colour="yellow"><a' not in row, "a zero is no link"
    bad = "/dashboard/cases?from=2026-11-01&to=2026-11-30&by=lights&group=DH-HW&figure=purple"
    assert client.get(bad).status_code == 400
    charts = json.loads(re.search(r'id="dashboard-charts">(.*?)</script>', page, re.S).group(1))
    [hw] = [d for d in charts["lights"]["departments"] if d["group"] == "DH-HW"]
    assert (hw["counts"]["red"], hw["total"]) == (1, 2), "the chart draws what the table says"
    assert gl.event_detail("admin", late)["state"] != "closed"


def test_the_grid_heat_map_colours_each_grid_by_its_cases_on_the_districts_boundaries(app, gl):
    """Every current grid is drawn from its stored boundary; a grid's count is its cases opened in the period, as
    the data table beside it says, and a grid without cases counts 0."""
    _one_closed_one_late(gl)
    page = html(staff(app, "evaluator").get(NOVEMBER))
    assert 'id="chart-heat"' in page and "网格热力图" in page
    charts = json.loads(re.search(r'id="dashboard-charts">(.*?)</script>', page, re.S).group(1))
    heat = charts["heat"]
    assert len(heat["map"]["features"]) == len(heat["grids"]) == 12
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in heat["map"]["features"])
    opened = {g["group"]: g["opened"] for g in heat["grids"]}
    with gl.db.reading() as session:
        [district] = metrics.evaluate(session, *NOVEMBER_RANGE, "district", now=gl.now())
    assert sum(opened.values()) == district["opened"] and opened[GRID_HB1] == district["opened"]
    assert opened[GRID_LA1] == 0
    start = page.index(f'<tr data-grid="{GRID_HB1}">')
    row = page[start : page.index("</tr>", start)]
    assert f">{opened[GRID_HB1]}</a>" in row


def test_the_level_flow_counts_drill_into_their_cases(app, gl):
    client = staff(app, "evaluator")
    page = html(client.get(NOVEMBER + "&by=level"))
    start = page.index('<tr data-level="grid">')
    grid_row = page[start : page.index("</tr>", start)]
    link = re.search(r'data-col="entered"><a href="([^"]+)"[^>]*>(\d+)</a>', grid_row)
    assert link, "the grid's count links to its cases"
    listed = html(client.get(link.group(1).replace("&amp;", "&")))
    assert len(re.findall(r'<tr data-event="', listed)) == int(link.group(2)) == 1, (
        "the case, not the rejected report"
    )
    bad = "/dashboard/cases?from=2026-11-01&to=2026-11-30&by=levels&group=planet&figure=entered"
    assert client.get(bad).status_code == 400
    assert staff(app, "gw_hb1").get(link.group(1).replace("&amp;", "&")).status_code == 403
