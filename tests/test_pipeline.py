"""Every write goes through the one command pipeline (engine/commands/pipeline.py).

Statically: no module of the product but the pipeline opens a unit of work, appends history or writes the
admin log. Dynamically: a run that exercises every command produces every history and admin-log action the
pipeline declares, and every record stored was appended by the pipeline.
"""

from __future__ import annotations

import ast
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import GRID_HB2, REPO
from sqlalchemy import select
from test_ledger import GOOD as LEDGER
from test_redivision import split_second_grid

from engine.audit import history
from engine.commands import pipeline
from engine.commands.pipeline import system
from engine.demo import boundaries
from engine.demo.simulate import simulate
from engine.org import auth
from engine.store.models import AdminLogEntry, HistoryEntry, LedgerPerson

PRODUCT = [REPO / "engine", REPO / "webui"]
# (module, callable) → the only files allowed to call it
OWNERS = {
    ("db", "unit_of_work"): {"engine/commands/pipeline.py"},
    ("history", "append"): {"engine/commands/pipeline.py"},
    ("admin_log", "append"): {"engine/commands/pipeline.py"},
    ("statements", "insert_history"): {"engine/audit/history.py"},
}
CONSTRUCTED_ONLY_IN = {"AdminLogEntry": {"engine/audit/admin_log.py"}, "HistoryEntry": set()}


def _calls(path: Path) -> list[tuple[str, str, int]]:
    """(owner, attribute, line) of every ``x.attr(...)`` call, where owner is the last name before the dot."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            found.append((name, node.func.attr, node.lineno))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            found.append(("", node.func.id, node.lineno))
    return found


def test_only_the_pipeline_opens_a_unit_of_work_or_writes_history_and_the_admin_log() -> None:
    offenders = []
    for root in PRODUCT:
        for path in root.rglob("*.py"):
            relative = str(path.relative_to(REPO))
            if "node_modules" in relative or "/migrations/" in relative:
                continue
            for owner, attr, line in _calls(path):
                allowed = OWNERS.get((owner, attr))
                if allowed is not None and relative not in allowed:
                    offenders.append(f"{relative}:{line}: {owner}.{attr}()")
                if owner == "" and attr in CONSTRUCTED_ONLY_IN and relative not in CONSTRUCTED_ONLY_IN[attr]:
                    offenders.append(f"{relative}:{line}: {attr}(...)")
                if attr == "unit_of_work" and relative != "engine/commands/pipeline.py":
                    offenders.append(f"{relative}:{line}: {owner}.unit_of_work()")
    assert offenders == []


HOTLINE_REPORT = {
    "category": "0101",
    "description": "市民来电：路边有一堆暴露垃圾",
    "channel": "hotline",
    "reporter_name": "周先生",
    "reporter_phone": "13812349999",
}


def test_every_action_is_produced_and_every_record_came_through_the_pipeline(
    driver: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    gl = driver.gl
    appended: list[str] = []
    append = history.append

    def counted(*args: Any, **kwargs: Any) -> str:
        appended.append(args[4])
        return append(*args, **kwargs)

    monkeypatch.setattr(pipeline.history, "append", counted)

    # staff's commands and the timers (the simulation reports, claims, completes every path, fires timers)
    result = simulate(gl, 40, seed=3)
    assert result["reworked"] and result["reopened"]
    event_id = driver.report("gw_hb1")
    task = driver.open_task(event_id, "accept")
    gl.claim("intake", task["id"])
    gl.unclaim("intake", task["id"])
    # the Tasklist's tools: a leader assigns, the holder comments and sets a follow-up date; a delegation
    gl.assign("leader", task["id"], "intake")
    gl.comment("intake", task["id"], "请核实地址")
    gl.set_follow_up("intake", task["id"], date(2026, 11, 24))
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    dispatch = driver.open_task(event_id, "dispatch")["id"]
    gl.claim("dispatcher", dispatch)
    gl.delegate("dispatcher", dispatch, "dispatcher_hb")
    gl.give_back("dispatcher_hb", dispatch)
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    # a leader's sheet, the department's reply; then the case goes overdue: lights, a sheet, its escalation
    sheet = gl.issue_sheet("supervisor", event_id, "DH-HW", "请加快处置")
    gl.reply_to_sheet("h_dh_hw", sheet["id"], "正在处置")
    gl.start(
        "h_dh_hw", "sheet_appeal", {"sheet": sheet["id"], "reason": "超时非本部门原因"}
    )  # sheet_appealed
    for days in (2, 5, 12):
        gl.clock.advance(timedelta(days=days))
        gl.supervise()
    driver.complete("h_dh_hw", event_id, "handle", {"action": "done", "result": "已清运"})
    # the check fails: the rework is the same step run anew, and its sheet carries on to it
    driver.complete("gw_hb1", event_id, "verify", {"passed": False, "note": "仍有残留"})
    gl.supervise()
    driver.complete("h_dh_hw", event_id, "handle", {"action": "done", "result": "已彻底清运"})
    driver.complete("gw_hb1", event_id, "verify", {"passed": True})
    driver.complete("leader", event_id, "close", {"opinion": "同意"})  # closing clears the sheets
    # a case on hold whose review date passes while it waits to be resumed: its timer fires
    held = driver.report("gw_hb1")
    driver.complete("intake", held, "accept", {"decision": "accept"})
    driver.complete("dispatcher", held, "dispatch", {"department": "DH-HW"})
    review = (gl.now() + timedelta(days=3)).isoformat()
    hold = {"action": "hold", "hold_reason": "等待管线改造", "review_date": review}
    driver.complete("h_dh_hw", held, "handle", hold)
    driver.complete("dispatcher", held, "approve_hold", {"hold_approved": True})
    gl.clock.advance(timedelta(days=4))
    assert gl.tick() >= 1
    # administration: a new version and a migration, settings, the calendar, staff accounts
    other = driver.report("gw_hb1")
    variant = tmp_path / "v2"
    shutil.copytree(REPO / "processes", variant / "processes")
    shutil.copytree(REPO / "forms", variant / "forms")
    bpmn = variant / "processes" / "grid_event" / "grid_event.bpmn"
    bpmn.write_text(
        bpmn.read_text(encoding="utf-8").replace('name="核查"', 'name="现场核查"'), encoding="utf-8"
    )
    gl.migrate_event("admin", other, gl.deploy(variant / "processes" / "grid_event")[0].id)
    # a process grid reports do not start, and a version's life cycle: activated, rolled back, retired
    gl.start(
        "gw_hb1",
        "household_visit",
        {"grid": "330199001001001", "household": "3幢401室", "purpose": "routine"},
    )
    visit = variant / "processes" / "household_visit" / "household_visit.bpmn"
    original = visit.read_text(encoding="utf-8")
    visit.write_text(original.replace('name="审阅走访"', 'name="社区审阅走访"'), encoding="utf-8")
    gl.activate("designer", gl.deploy(variant / "processes" / "household_visit")[0].id)
    gl.rollback("designer", "household_visit")
    visit.write_text(original.replace('name="审阅走访"', 'name="值班长审阅走访"'), encoding="utf-8")
    gl.retire("designer", gl.deploy(variant / "processes" / "household_visit")[0].id)
    gl.change_setting("admin", "rework_rate_base", "due")
    gl.set_calendar_day("admin", date(2027, 1, 4), False, "测试")
    gl.add_user("test", "gw_new", "新网格员", "grid_worker", "330199001001001")
    gl.set_password("test", "gw_new", "a-new-password")
    # signing in and out, lock-outs, revocations, disabling (engine.org.auth)
    for _ in range(auth.PAIR_LIMIT):
        with pytest.raises(auth.AuthenticationFailed):
            gl.sign_in("gw_new", "wrong", address="192.0.2.1")
    signed_in = gl.sign_in("gw_new", "a-new-password", address="192.0.2.2")
    gl.sign_out("gw_new", signed_in.token_id)
    api = gl.sign_in("gw_new", "a-new-password", address="192.0.2.2", kind="api")
    gl.revoke_token(system("test"), api.token_id)
    gl.sign_out_everywhere(system("test"), "gw_new")
    gl.set_user_active(system("test"), "gw_new", False)
    gl.set_user_active(system("test"), "gw_new", True)
    gl.write_monthly_report("evaluator", "2026-11")
    gl.set_boundaries("admin", boundaries.feature_collection())  # the map: the demo's own, loaded again
    # a report of the same problem as an open case, linked to it at intake (相似案件)
    same = driver.report("gw_hb1")
    code = gl.event_detail("admin", held)["code"]
    driver.complete("intake", same, "accept", {"decision": "similar", "similar_to": code})
    # a re-division of 湖滨's grids while a public report waits at its second grid's check (rescoped)
    gl.report("intake", {**HOTLINE_REPORT, "grid": GRID_HB2})
    gl.redivide("admin", "330199001001", split_second_grid())
    # the household ledger: an import, and a person's numbers read whole (logged)
    gl.import_ledger("admin", "ledger.csv", LEDGER)
    with gl.db.reading() as session:
        resident = session.scalars(select(LedgerPerson.id)).first()
    gl.unmask_person("admin", resident)
    gl.edit_person("admin", resident, {"name": "张三", "kind": "migrant", "flags": ""})

    with gl.db.reading() as session:
        actions = set(session.scalars(select(HistoryEntry.action)))
        stored = session.scalar(select(HistoryEntry.id).order_by(HistoryEntry.id.desc()).limit(1))
    # retention, last (it takes the finished cases' history out of the database)
    assert gl.archive("test", gl.now(), tmp_path / "archive").events
    with gl.db.reading() as session:
        logged = set(session.scalars(select(AdminLogEntry.action)))
    assert actions == pipeline.HISTORY_ACTIONS
    assert logged == pipeline.ADMIN_ACTIONS
    assert len(appended) == stored  # every record of the history table, and nothing else, was appended here
