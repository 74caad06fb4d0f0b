"""No machine text where staff read (issue 12, point 4): actors that are no user read as 系统, every action has
its label, times are the district's local time to the minute, photo hints say nothing of attachment ids, and an
event's code carries the district's date."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from web_support import REPO, app_with_staff, at_handle, complete, html, report, staff

from engine.app import Gridloop

STAFF = ("gw_hb1", "intake", "dispatcher", "h_dh_hw", "leader")
SCHEDULER = "vm:15272"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    yield from app_with_staff(tmp_path, STAFF)


@pytest.fixture
def gl(app: Any) -> Gridloop:
    return app.extensions["gridloop"]


def timeline(page: str) -> str:
    return page.split('<ol class="timeline">')[1].split("</ol>")[0]


def test_a_colour_change_by_the_scheduler_reads_as_a_labelled_system_action(app: Any, gl: Gridloop) -> None:
    event_id = at_handle(gl)
    gl.clock.advance(timedelta(days=30))
    assert gl.supervise(fired_by=SCHEDULER)["lights"] >= 1
    assert any(
        h["action"] == "light" and h["actor"] == SCHEDULER
        for h in gl.event_detail("admin", event_id)["history"]
    )
    page = html(staff(app, "leader").get(f"/events/{event_id}"))
    entries = timeline(page)
    assert SCHEDULER not in entries and ">light<" not in entries
    assert "时限灯变色" in entries and "系统" in entries
    audit = html(staff(app, "leader").get(f"/audit/events/{event_id}"))
    records = audit.split('class="list records"')[1]
    assert f">{SCHEDULER}<" not in records and "时限灯变色" in records and "系统" in records


def test_a_sheet_the_scheduler_issued_reads_as_the_systems_with_its_limit_in_local_time(
    app: Any, gl: Gridloop
) -> None:
    at_handle(gl)
    gl.clock.advance(timedelta(days=30))
    assert gl.supervise(fired_by=SCHEDULER)["issued"] >= 1
    board = html(staff(app, "leader").get("/supervision"))
    assert SCHEDULER not in board and "超时督办 · 系统 于" in board
    assert "+00:00" not in board and not re.search(r"\d{2}:\d{2}:\d{2}\.\d", board)


def test_the_hold_review_date_reads_in_local_time_on_the_event_and_audit_pages(
    app: Any, gl: Gridloop
) -> None:
    event_id = at_handle(gl)
    review = {
        "action": "hold",
        "hold_reason": "涉及产权纠纷，待法院判决",
        "review_date": "2026-10-15T17:02:00+00:00",
    }
    complete(gl, "h_dh_hw", event_id, "handle", review)
    page = html(staff(app, "leader").get(f"/events/{event_id}"))
    assert "2026-10-15T17:02" not in page and "2026-10-16 01:02" in page
    handle_seq = gl.event_detail("admin", event_id)["history"][-1]["seq"]
    audit = html(staff(app, "leader").get(f"/audit/events/{event_id}?step={handle_seq}"))
    difference = audit.split('class="list diff"')[1].split("</table>")[0]
    assert "2026-10-15T17:02" not in difference and "2026-10-16 01:02" in difference
    shown = audit.split('class="data json-values audit-data-after"')[1].split("</dl>")[0]
    assert "2026-10-15T17:02" not in shown


def test_the_overview_shows_the_deploy_time_to_the_minute_in_local_time(app: Any, gl: Gridloop) -> None:
    page = html(staff(app, "leader").get("/"))
    cells = re.findall(r'<td data-label="部署时间">([^<]*)</td>', page)
    assert cells and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", c) for c in cells), cells
    assert "2026-11-23 09:00" in cells


def test_no_form_tells_staff_that_photos_are_a_list_of_attachment_ids(app: Any, gl: Gridloop) -> None:
    hints = [
        prop.get("description", "")
        for path in sorted((REPO / "forms").glob("*.json"))
        for prop in json.loads(path.read_text(encoding="utf-8")).get("properties", {}).values()
    ]
    assert not [h for h in hints if "附件编号" in h]
    event_id = at_handle(gl)
    task = gl.event_detail("admin", event_id)["tasks"][-1]["id"]
    assert "附件编号" not in html(staff(app, "h_dh_hw").get(f"/tasks/{task}"))
    assert "附件编号" not in html(staff(app, "gw_hb1").get("/report"))


def test_an_event_code_carries_the_district_date_not_the_utc_date(app: Any, gl: Gridloop) -> None:
    gl.clock.set(datetime(2026, 11, 29, 22, 5, tzinfo=UTC))  # 06:05 on the 30th in Shanghai
    assert report(gl)["code"].startswith("E20261130")
