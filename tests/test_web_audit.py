"""The audit pages through Flask's test client, on a real SQLite file: the step-through replay of an event with its
verdict and data differences, tampering shown, the JSON and CSV exports, and the auditor who reads everything in
scope but can act on nothing."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from conftest import GRID_LA1
from sqlalchemy import text
from web_support import app_with_staff, at_handle, closed_with_rework, html, open_task, post, report, staff

from engine.app import Gridloop
from engine.audit import history

STAFF = ("gw_hb1", "gw_la1", "intake", "dispatcher", "auditor", "admin")
VERDICT_OK = "历史记录完整未被篡改"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    """The app with an auditor, an administrator and some front-line staff who can sign in."""
    yield from app_with_staff(tmp_path, STAFF)


@pytest.fixture
def gl(app: Any) -> Gridloop:
    """The app's engine."""
    return app.extensions["gridloop"]


def section(page: str, marker: str, end: str = "</section>") -> str:
    """The part of ``page`` from ``marker`` to the next ``end`` tag."""
    start = page.index(marker)
    return page[start : page.index(end, start)]


def diff_rows(page: str) -> dict[str, tuple[str, str, str]]:
    """The data-difference table of the page: key → (kind, old text, new text)."""
    rows = re.findall(
        r'<tr class="diff-\w+" data-key="([^"]+)" data-kind="(\w+)">.*?<td[^>]*class="old">(.*?)</td>\s*'
        r'<td[^>]*class="new">(.*?)</td>',
        page,
        re.S,
    )

    def cell(text: str) -> str:
        return unescape(re.sub(r"<[^>]+>", "", text).strip())

    return {key: (kind, cell(old), cell(new)) for key, kind, old, new in rows}


def test_the_audit_page_steps_through_a_closed_event_and_shows_each_steps_difference(app, gl):
    event_id = closed_with_rework(gl)
    history = gl.event_detail("admin", event_id)["history"]
    assert len(history) == 9
    client = staff(app, "auditor")

    last = html(client.get(f"/audit/events/{event_id}"))
    verdict = section(last, 'id="verdict"')
    assert "verdict-ok" in last and VERDICT_OK in verdict and "9 条记录" in verdict
    steps = section(last, 'class="card audit-steps"', "</nav>")
    assert len(re.findall(r'<li class="[^"]*">', steps)) == 9
    for name in ("上报", "受理", "派遣", "处置", "核查", "结案归档", "回访"):
        assert name in steps, name
    assert re.search(r'class="active">\s*<a href="[^"]*step=9#step" aria-current="step"', steps)
    assert "第 9 / 9 步" in last and 'rel="next"' not in last and 'step=8#step" rel="prev"' in last
    for record in history:
        assert record["hash"] in last

    failed_verify = html(client.get(f"/audit/events/{event_id}?step=5"))
    assert "第 5 / 9 步" in failed_verify and "#5 办理 · 核查" in failed_verify
    assert "网格员 张伟" in section(failed_verify, 'id="step"')
    assert 'rel="prev"' in failed_verify and "step=4#step" in failed_verify and "step=6#step" in failed_verify
    changes = diff_rows(failed_verify)
    assert changes["rework_count"] == ("changed", "0", "1")
    assert changes["passed"] == ("added", "—", "false")
    assert changes["note"] == ("added", "—", '"仍有残留"')
    assert "result" not in changes and "department" not in changes
    marks = re.search(r'data-done="([^"]*)" data-current="([^"]*)"', failed_verify)
    done = json.loads(marks.group(1).replace("&#34;", '"'))
    assert {"start_report", "accept", "dispatch", "handle", "verify"} <= set(done)
    assert "close" not in done and "follow_up" not in done
    assert json.loads(marks.group(2).replace("&#34;", '"')) == ["handle"]

    first = html(client.get(f"/audit/events/{event_id}?step=1"))
    assert 'rel="prev"' not in first and diff_rows(first)["category"] == ("added", "—", '"0101"')


def test_a_tampered_counter_shows_the_mismatch_instead_of_the_ok_verdict(app, gl):
    event_id = closed_with_rework(gl)
    client = staff(app, "auditor")
    assert VERDICT_OK in html(client.get(f"/audit/events/{event_id}"))
    with gl.db.engine.begin() as connection:
        connection.execute(text("UPDATE events SET rework_count = 0 WHERE id = :e"), {"e": event_id})
    page = html(client.get(f"/audit/events/{event_id}"))
    verdict = section(page, 'id="verdict"')
    assert "verdict-bad" in page and VERDICT_OK not in page
    assert "rework_count is 0 but the history says 1" in verdict
    assert 'id="step"' in page, "the replay itself still works: the steps can be walked"

    with gl.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE history SET bpmn_id = 'close' WHERE event_id = :e AND seq = 4"), {"e": event_id}
        )
    broken = client.get(f"/audit/events/{event_id}?step=4")
    assert broken.status_code == 200
    verdict = section(html(broken), 'id="verdict"')
    assert "history record 4 (complete) was altered" in verdict
    assert "the history cannot be replayed" in verdict
    assert 'id="step"' not in html(broken) and "历史无法重放" in html(broken)
    assert html(broken).count('<tr data-seq="') == 9, "the stored records are still listed with their hashes"


def test_the_history_exports_as_json_and_csv_with_the_stored_hashes(app, gl):
    event_id = closed_with_rework(gl)
    detail = gl.event_detail("admin", event_id)
    client = staff(app, "auditor")

    exported = client.get(f"/audit/events/{event_id}/history.json")
    assert exported.status_code == 200 and exported.mimetype == "application/json"
    assert exported.headers["Content-Disposition"] == f'attachment; filename="{detail["code"]}-history.json"'
    body = json.loads(exported.get_data(as_text=True))
    assert body["event"] == {"id": event_id, "code": detail["code"], "process_version_id": 1}
    records = body["records"]
    assert len(records) == len(detail["history"]) == 9
    assert [r["hash"] for r in records] == [h["hash"] for h in detail["history"]]
    assert [r["seq"] for r in records] == list(range(1, 10))
    assert records[0]["at"] == detail["history"][0]["at"].isoformat()
    assert records[4]["step"] == "verify" and records[4]["data"]["changes"]["rework_count"] == [0, 1]

    table = client.get(f"/audit/events/{event_id}/history.csv")
    assert table.status_code == 200 and table.mimetype == "text/csv"
    assert table.headers["Content-Disposition"] == f'attachment; filename="{detail["code"]}-history.csv"'
    rows = list(csv.DictReader(io.StringIO(table.data.decode("utf-8-sig"))))
    assert len(rows) == len(detail["history"])
    keys = gl.parts.audit_keys
    signing_key = keys.secret(keys.signing_id)
    assert list(rows[0]) == [
        "seq", "at", "actor", "action", "step", "task", "process_version_id", "prev_hash", "hash", "data",
    ]  # fmt: skip
    for row, record in zip(rows, detail["history"], strict=True):
        assert row["hash"] == record["hash"]
        assert (int(row["seq"]), row["actor"], row["action"]) == (
            record["seq"],
            record["actor"],
            record["action"],
        )
        assert row["at"] == record["at"].isoformat() and row["step"] == (record["step"] or "")
        assert json.loads(row["data"]) == record["data"]
        # everything needed to recompute the record's MAC outside gridloop, given the audit key, is in the export
        assert row["prev_hash"] == (record["prev_hash"] or "")
        recomputed = history.record_hash(
            detail["id"],
            int(row["seq"]),
            datetime.fromisoformat(row["at"]),
            row["actor"],
            row["action"],
            int(row["process_version_id"]),
            row["step"] or None,
            int(row["task"]) if row["task"] else None,
            json.loads(row["data"]),
            row["prev_hash"] or None,
            key=signing_key,
        )
        assert recomputed == row["hash"]
    assert json.loads(rows[4]["data"])["form"] == {
        "passed": False,
        "note": "仍有残留",
        "rework_departments": [],
    }


def test_an_auditor_reads_everything_in_scope_and_can_act_on_nothing(app, gl):
    event_id = at_handle(gl)
    task = open_task(gl, event_id)
    auditor = staff(app, "auditor")

    event_page = html(auditor.get(f"/events/{event_id}"))
    assert f'href="/audit/events/{event_id}"' in event_page
    assert f"/tasks/{task['id']}" in event_page
    assert auditor.get(f"/audit/events/{event_id}").status_code == 200

    task_page = auditor.get(f"/tasks/{task['id']}")
    assert task_page.status_code == 200 and "处置" in html(task_page)
    assert "schema-form" not in html(task_page)
    assert f"/tasks/{task['id']}/claim" not in html(task_page)
    assert task["id"] not in [t["id"] for t in gl.inbox("auditor", "claimable")[0]]

    refused = post(auditor, f"/tasks/{task['id']}", {"action": "done", "result": "审计员试图办理"})
    assert refused.status_code == 403
    assert post(auditor, f"/tasks/{task['id']}/claim", {}, page="/inbox").status_code == 403
    assert open_task(gl, event_id)["assignee"] is None
    assert open_task(gl, event_id)["id"] == task["id"]

    worker = staff(app, "gw_hb1")
    assert f'href="/audit/events/{event_id}"' not in html(worker.get(f"/events/{event_id}"))


def test_the_audit_page_and_exports_of_another_grids_event_are_not_found(app, gl):
    other = report(gl, "gw_la1", grid=GRID_LA1, description="柳岸社区路灯损坏，夜间无照明")["id"]
    own = report(gl)["id"]
    worker = staff(app, "gw_hb1")
    for path in (
        f"/audit/events/{other}",
        f"/audit/events/{other}/history.json",
        f"/audit/events/{other}/history.csv",
    ):
        assert worker.get(path).status_code == 404, path
    assert worker.get(f"/audit/events/{own}").status_code == 200
    assert staff(app, "gw_la1").get(f"/audit/events/{other}").status_code == 200
