"""The monthly evaluation report (月度考核报告) as a district sends it to its government: an XLSX workbook with the
standard's tables — the district, each handling level, each department, each grid worker with the rewards — and
a short written analysis of the month: the cases opened against the month before, the categories most reported
and how they changed, the slowest departments, and the places that keep coming back.

Every figure is :func:`engine.evaluation.metrics.evaluate`'s for the month (so the dashboard, ``gridloop metrics``
and the report agree); rates are fractions written with the number format ``0.00%``, as the standard prints them.
:func:`figures` reads, :func:`workbook` writes; the names people read (departments, units, categories, workers)
are given by the caller.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.evaluation import metrics, positions
from engine.privacy import mask_text
from engine.store.models import Event

TOP = 5  # categories, departments and places the analysis names
RATES = ("closure_rate", "on_time_rate", "rework_rate", "satisfaction_rate")
RATE_FORMAT = "0.00%"


def month_of(period: str) -> date:
    """The first day of ``period`` (``YYYY-MM``); ValueError for anything else."""
    year, _, month = period.partition("-")
    if len(year) != 4 or len(month) != 2 or not (year.isdigit() and month.isdigit()):
        raise ValueError(f"{period!r} is not a month (YYYY-MM)")
    return date(int(year), int(month), 1)


def bounds(first: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """``[first day 00:00, first day of the next month 00:00)`` in ``zone``."""
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return datetime.combine(first, time(), zone), datetime.combine(following, time(), zone)


def previous(first: date) -> date:
    """The first day of the month before."""
    return date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)


@dataclass
class Figures:
    """What the report says of one month."""

    period: str
    tables: dict[str, list[dict[str, Any]]]  # by grouping: district, level, department, worker
    opened: int
    opened_before: int
    categories: list[tuple[str, int, int]]  # (category, this month, the month before), most reported first
    slowest: list[dict[str, Any]]  # departments with late tasks, the lowest task on-time rate first
    places: list[tuple[str, int]]  # grids by cases opened, most first
    addresses: list[tuple[str, str, int]] = field(default_factory=list)  # (grid, address, cases) seen twice+


def _opened(session: Session, start: datetime, end: datetime) -> list[tuple[str, str, str | None]]:
    """(category, grid, address) of each case opened in ``[start, end)``."""
    rows = session.execute(
        select(Event.category, Event.grid_code, Event.address).where(
            Event.opened_at >= start, Event.opened_at < end, Event.state.not_in(metrics.NOT_CASES)
        )
    )
    return [(r.category, r.grid_code, r.address) for r in rows]


def figures(session: Session, period: str, zone: tzinfo, now: datetime) -> Figures:
    """The month ``period``'s figures, as the engine's clock says at ``now`` (a month still running counts only
    what has settled by then)."""
    first = month_of(period)
    start, end = bounds(first, zone)
    before_start, before_end = bounds(previous(first), zone)
    tables = {
        by: metrics.evaluate(session, start, end, by, now=now)
        for by in ("district", "level", "department", "worker")
    }
    tables["position"] = positions.evaluate(session, start, end, now=now)
    this, last = _opened(session, start, end), _opened(session, before_start, before_end)
    now_counts = Counter(c for c, _, _ in this)
    before_counts = Counter(c for c, _, _ in last)
    categories = [(c, n, before_counts.get(c, 0)) for c, n in now_counts.most_common(TOP)]
    slowest = sorted(
        (r for r in tables["department"] if r["group"] and r["tasks_late"]),
        key=lambda r: (r["task_on_time_rate"] if r["task_on_time_rate"] is not None else 1, str(r["group"])),
    )[:TOP]
    places = Counter(g for _, g, _ in this).most_common(TOP)
    addresses = Counter((g, a) for _, g, a in this if a)
    return Figures(
        period=period,
        tables=tables,
        opened=len(this),
        opened_before=len(last),
        categories=categories,
        slowest=slowest,
        places=places,
        addresses=[(g, a, n) for (g, a), n in addresses.most_common(TOP) if n > 1],
    )


# the columns of each table: (key, header); a rate's key is in RATES or ends in _rate
COUNTS = [
    ("opened", "立案数"),
    ("due", "应结案数"),
    ("closed", "结案数"),
    ("closed_on_time", "按期结案数"),
    ("closure_rate", "结案率"),
    ("on_time_rate", "按期结案率"),
    ("rework_rate", "返工率"),
    ("satisfaction_rate", "满意率"),
    ("voided", "作废数"),
    ("accurate_opening_rate", "准确立案率"),
    ("score", "综合得分"),
    ("band", "考核等级"),
]
# the score bands as the report names them (考核等级)
BAND_NAMES = {"excellent": "优秀", "good": "良好", "pass": "合格", "fail": "不合格"}
# the reports and the platform's own steps (受理, 派遣, 核实, 核查), after the counts of the district and levels
PLATFORM = [
    ("reported", "上报数"),
    ("reported_patrol", "网格员上报数"),
    ("reported_leader", "领导交办数"),
    ("reported_public", "公众举报数"),
    ("accepted_reports", "有效上报数"),
    ("valid_report_rate", "有效上报率"),
    ("self_handled", "自行处置数"),
    ("dispatches_due", "应派遣数"),
    ("dispatches", "派遣数"),
    ("dispatches_pending", "超时未派遣数"),
    ("dispatch_on_time_rate", "按时派遣率"),
    ("redispatches", "错误派遣数"),
    ("accurate_dispatch_rate", "准确派遣率"),
    ("verifications_due", "应核实数"),
    ("verifications", "核实数"),
    ("verifications_pending", "超时未核实数"),
    ("verification_on_time_rate", "按时核实率"),
    ("checks_due", "应核查数"),
    ("checks", "核查数"),
    ("checks_pending", "超时未核查数"),
    ("check_on_time_rate", "按时核查率"),
    ("extension_requests", "延期数"),
    ("hold_requests", "挂账数"),
    ("hold_hours", "挂账时长（小时）"),
    ("running_hold_hours", "挂账中时长（小时）"),
]
SHEETS = {
    "district": ("区县", "区县", [*COUNTS, *PLATFORM]),
    "level": ("各层级", "处置层级", [*COUNTS, *PLATFORM]),
    "department": (
        "各部门",
        "部门",
        [
            *COUNTS[:-1],
            ("tasks_due", "应办任务数"),
            ("tasks_late", "超期任务数"),
            ("task_on_time_rate", "任务按时率"),
            ("tasks_overdue_done", "超期处置数"),
            ("tasks_overdue_open", "超期未处置数"),
            ("handling_rate", "处置率"),
            ("sheets", "督办单数"),
            ("auto_sheets", "超时督办数"),
            ("leader_sheets", "领导督办数"),
            ("yellow_cards", "黄牌数"),
            ("red_cards", "红牌数"),
            ("upheld_appeals", "申诉成立数"),
            ("deductions", "督办扣分"),
            COUNTS[-1],
        ],
    ),
    "worker": (
        "网格员",
        "网格员",
        [
            ("opened", "立案数"),
            ("valid_reports", "有效上报数"),
            ("major_reports", "重大上报数"),
            ("reward", "奖励"),
        ],
    ),
}
# the position evaluation's sheet (岗位评价): a row per staff member and position, the columns of every position
# (a position's row leaves the others' empty)
POSITION_SHEET = "岗位评价"
POSITION_NAMES = {
    "intake": "受理员",
    "shift_leader": "值班长",
    "dispatcher": "派遣员",
    "supervisor": "监督员/网格员",
}
POSITION_COLUMNS = [
    ("accepts", "受理数"),
    ("on_time_intake_rate", "按时受理率"),
    ("opened", "立案数"),
    ("on_time_opening_rate", "按时立案率"),
    ("accurate_opening_rate", "准确立案率"),
    ("check_dispatches", "核查派发数"),
    ("check_dispatch_on_time_rate", "按时派发核查率"),
    ("registrations", "立案审核数"),
    ("closes", "结案数"),
    ("on_time_closing_rate", "按时结案率"),
    ("dispatches", "派遣数"),
    ("misdispatches", "错误派遣数"),
    ("dispatch_on_time_rate", "按时派遣率"),
    ("accurate_dispatch_rate", "准确派遣率"),
    ("dispatch_count_score", "派遣数分值"),
    ("reported", "上报数"),
    ("valid_report_rate", "有效上报率"),
    ("verification_on_time_rate", "按时核实率"),
    ("check_on_time_rate", "按时核查率"),
    ("missed_reports", "漏报数"),
    ("missed_report_rate", "漏报率"),
    ("composite", "综合指标值"),
]
LEVELS = {"grid": "网格", "community": "社区", "town": "街镇", "district": "区县"}


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def analysis(found: Figures, names: dict[str, dict[str, str]]) -> list[str]:
    """The month's written analysis, a paragraph a line."""
    categories, departments, units = (
        names.get("category", {}),
        names.get("department", {}),
        names.get("unit", {}),
    )
    change = found.opened - found.opened_before
    lines = [
        f"{found.period} 共立案 {found.opened} 件，上月 {found.opened_before} 件，"
        + (f"增加 {change} 件。" if change > 0 else f"减少 {-change} 件。" if change < 0 else "持平。")
    ]
    if found.categories:
        told = "；".join(
            f"{categories.get(code, code)} {n} 件（上月 {before} 件，{'+' if n >= before else ''}{n - before}）"
            for code, n, before in found.categories
        )
        lines.append(f"上报最多的类别：{told}。")
    if found.slowest:
        told = "；".join(
            f"{departments.get(r['group'], r['group'])} 超期 {r['tasks_late']} 件 / 应办 {r['tasks_due']} 件，"
            f"任务按时率 {_percent(r['task_on_time_rate'])}"
            for r in found.slowest
        )
        lines.append(f"处置较慢的部门：{told}。")
    else:
        lines.append("本月没有部门超期。")
    if found.places:
        told = "；".join(f"{units.get(code, code)} {n} 件" for code, n in found.places)
        lines.append(f"立案最多的网格：{told}。")
    if found.addresses:
        # an address as typed may hold a phone or identity number: a report sent out masks it
        told = "；".join(f"{units.get(g, g)} {mask_text(a)} {n} 次" for g, a, n in found.addresses)
        lines.append(f"反复出现的地点：{told}。")
    return lines


def workbook(found: Figures, names: dict[str, dict[str, str]]) -> bytes:
    """The report as XLSX bytes: one sheet per table, and the analysis first."""
    book = Workbook()
    sheet = book.active
    sheet.title = "月度分析"
    sheet.append([f"{found.period} 网格化管理月度考核报告"])
    sheet["A1"].font = Font(bold=True, size=14)
    for line in analysis(found, names):
        sheet.append([line])
    sheet.column_dimensions["A"].width = 120
    for row in sheet.iter_rows(min_row=2):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")
    for by, (title, group_header, columns) in SHEETS.items():
        table = book.create_sheet(title)
        table.append([group_header, *(header for _, header in columns)])
        for cell in table[1]:
            cell.font = Font(bold=True)
        named = names.get("unit" if by == "district" else by, {})
        for row in found.tables[by]:
            group = row["group"]
            label = LEVELS.get(group, group) if by == "level" else named.get(group, group)
            table.append(
                [
                    label or "—",
                    *(
                        BAND_NAMES.get(str(row.get(key)), "—") if key == "band" else row.get(key)
                        for key, _ in columns
                    ),
                ]
            )
            for index, (key, _) in enumerate(columns, start=2):
                if key.endswith("_rate"):
                    table.cell(row=table.max_row, column=index).number_format = RATE_FORMAT
        table.column_dimensions["A"].width = 28
        for index in range(2, len(columns) + 2):
            table.column_dimensions[get_column_letter(index)].width = 12
        table.freeze_panes = "B2"
    table = book.create_sheet(POSITION_SHEET)
    table.append(["岗位", "人员", *(header for _, header in POSITION_COLUMNS)])
    for cell in table[1]:
        cell.font = Font(bold=True)
    people = names.get("worker", {})
    for row in found.tables["position"]:
        table.append(
            [
                POSITION_NAMES[row["position"]],
                people.get(row["staff"], row["staff"]),
                *(row.get(key) for key, _ in POSITION_COLUMNS),
            ]
        )
        for index, (key, _) in enumerate(POSITION_COLUMNS, start=3):
            if key.endswith(("_rate", "_score")):
                table.cell(row=table.max_row, column=index).number_format = RATE_FORMAT
    table.column_dimensions["A"].width = 14
    table.column_dimensions["B"].width = 20
    table.freeze_panes = "C2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
