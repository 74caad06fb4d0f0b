"""Personal data in free text (issue 15, part 9): a phone or identity number typed into a description, a note or
an address is masked wherever a reporter's contact is — on the pages of those who do not need it, and in every
export (the history's JSON and CSV, the API's event list, the monthly report) unless a role that may read it
asked for it whole; event codes, grid codes, hashes and attachment ids are never taken for one."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

from conftest import GRID_HB1
from openpyxl import load_workbook
from web_support import app_fixtures, html, staff

from engine.app import Gridloop
from engine.privacy import mask_text

STAFF = ("gw_hb1", "intake", "admin", "evaluator")
PHONE, ID_NUMBER = "13912345678", "330102199001011234"
MASKED_PHONE, MASKED_ID = "139****5678", "3301**********1234"
SAID = f"楼道堆满杂物，业主说可打{PHONE}联系，身份证{ID_NUMBER}"


app, gl = app_fixtures(STAFF)


def test_numbers_in_text_are_masked_and_codes_hashes_and_ids_are_not() -> None:
    assert mask_text(SAID) == f"楼道堆满杂物，业主说可打{MASKED_PHONE}联系，身份证{MASKED_ID}"
    assert mask_text("座机 0571-88001234 或 010-12345678") == "座机 057****1234 或 010****5678"
    assert mask_text("身份证 11010519491231002X") == "身份证 1101**********002X"
    attachment = str(uuid.uuid4())
    untouched = [
        "E20261202000001",
        GRID_HB1,
        "a13912345678b",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        attachment,
        "第1391234567号",  # ten digits: no phone
        "139123456789",  # twelve digits: no phone
    ]
    assert [mask_text(t) for t in untouched] == untouched


def _reported(gl: Gridloop) -> int:
    payload = {"category": "0101", "description": SAID, "grid": GRID_HB1, "address": f"湖滨路8号 联系{PHONE}"}
    return gl.report("gw_hb1", payload)["id"]


def test_pages_mask_numbers_in_text_for_those_who_do_not_need_them(app: Any, gl: Gridloop) -> None:
    event_id = _reported(gl)
    worker = html(staff(app, "gw_hb1").get(f"/events/{event_id}"))
    assert MASKED_PHONE in worker and MASKED_ID in worker
    assert PHONE not in worker and ID_NUMBER not in worker
    clerk = html(staff(app, "intake").get(f"/events/{event_id}"))  # a role that reads contacts whole
    assert PHONE in clerk and ID_NUMBER in clerk


def test_exports_mask_unless_a_role_that_may_asks_for_them_whole(app: Any, gl: Gridloop) -> None:
    event_id = _reported(gl)
    intake, worker = staff(app, "intake"), staff(app, "gw_hb1")
    exports = (f"/audit/events/{event_id}/history.json", f"/audit/events/{event_id}/history.csv")
    for path in exports:
        for client in (intake, worker):
            body = client.get(path).data.decode("utf-8-sig")
            assert MASKED_PHONE in body and PHONE not in body and ID_NUMBER not in body, path
        assert PHONE not in worker.get(path + "?contacts=whole").data.decode("utf-8-sig")
        whole = intake.get(path + "?contacts=whole").data.decode("utf-8-sig")
        assert PHONE in whole and ID_NUMBER in whole, path
    # the whole export is the history as stored: its records' data are the engine's own
    exported = json.loads(intake.get(exports[0] + "?contacts=whole").get_data(as_text=True))
    assert [r["data"] for r in exported["records"]] == [
        h["data"] for h in gl.event_detail("admin", event_id)["history"]
    ]

    def listed(client: Any, username: str, query: str = "") -> dict[str, Any]:
        token = client.post(
            "/api/v1/auth/token", json={"username": username, "password": "web-test-password"}
        )
        bearer = {"Authorization": f"Bearer {token.get_json()['token']}"}
        [item] = client.get(f"/api/v1/events{query}", headers=bearer).get_json()["items"]
        return item

    assert listed(intake, "intake")["description"] == mask_text(SAID)
    assert listed(intake, "intake", "?contacts=whole")["description"] == SAID
    assert listed(worker, "gw_hb1", "?contacts=whole")["description"] == mask_text(SAID)
    assert listed(intake, "intake", "?contacts=whole")["address"] == f"湖滨路8号 联系{PHONE}"


def test_the_monthly_report_masks_the_addresses_it_repeats(app: Any, gl: Gridloop) -> None:
    for _ in range(2):
        event_id = _reported(gl)
        accept = next(t for t in gl.event_detail("admin", event_id)["tasks"] if t["status"] == "open")
        gl.complete("intake", accept["id"], {"decision": "accept"})
    written = gl.write_monthly_report("evaluator", "2026-11")
    _name, content = gl.monthly_report("evaluator", written["id"])
    book = load_workbook(io.BytesIO(content))
    texts = " ".join(str(c.value) for sheet in book for row in sheet.iter_rows() for c in row if c.value)
    assert f"湖滨路8号 联系{MASKED_PHONE}" in texts and PHONE not in texts
