"""The household ledger's pages: the import with its dry run naming every bad row, the ledger of the reader's
scope masked, and a person's numbers whole on one answer only, for a permitted role."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from conftest import GRID_HB1, GRID_LA1
from test_ledger import GOOD, LI_ID, ZHANG_ID
from web_support import app_fixtures, html, staff, token

from engine.errors import ValidationFailed
from engine.store.models import AdminLogEntry, LedgerPerson

STAFF = ("gw_hb1", "leader_hb", "admin")
app, gl = app_fixtures(STAFF)


def _upload(client: Any, content: bytes, dry_run: bool) -> Any:
    data: dict[str, Any] = {
        "file": (io.BytesIO(content), "ledger.csv"),
        "csrf_token": token(client, "/ledger"),
    }
    if dry_run:
        data["dry_run"] = "1"
    return client.post("/ledger/import", data=data, content_type="multipart/form-data")


def test_an_upload_is_checked_first_then_imported_and_each_level_sees_its_own(app: Any, gl: Any) -> None:
    admin = staff(app, "admin")
    page = html(admin.get("/ledger"))
    assert "导入台账" in page and "下载导入模板" in page
    checked = _upload(admin, GOOD, dry_run=True)
    assert checked.status_code == 200 and "试导入：共 3 行均可导入" in html(checked)
    assert 'data-person="' not in html(checked)
    done = html(_upload(admin, GOOD, dry_run=False))
    assert "已导入 3 行" in done and done.count('data-person="') == 3
    assert "3301**********1234" in done and ZHANG_ID not in done and LI_ID not in done
    worker = html(staff(app, "gw_hb1").get("/ledger"))
    assert f'data-grid="{GRID_HB1}"' in worker and f'data-grid="{GRID_LA1}"' not in worker
    assert "查看完整信息" not in worker and "证件号和电话已脱敏显示" in worker
    bad = GOOD.decode("utf-8-sig").replace(ZHANG_ID, "330102199001011235").encode()
    refused = _upload(admin, bad, dry_run=True)
    assert refused.status_code == 400
    said = html(refused)
    assert 'data-line="2" data-column="id_number"' in said and "身份证号校验位不正确" in said


def test_a_permitted_role_sees_the_numbers_on_that_answer_only(app: Any, gl: Any) -> None:
    gl.import_ledger("admin", "ledger.csv", GOOD)
    leader = staff(app, "leader_hb")
    page = html(leader.get("/ledger"))
    person = re.search(r'action="/ledger/people/(\d+)/unmask"', page)
    assert person
    shown = leader.post(
        f"/ledger/people/{person.group(1)}/unmask", data={"csrf_token": token(leader, "/ledger")}
    )
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "private, no-store"
    assert ZHANG_ID in html(shown) and "已记录查看" in html(shown)
    assert ZHANG_ID not in html(leader.get("/ledger"))  # the next answer is masked again
    worker = staff(app, "gw_hb1")
    refused = worker.post(
        f"/ledger/people/{person.group(1)}/unmask", data={"csrf_token": token(worker, "/ledger")}
    )
    assert refused.status_code == 403 and ZHANG_ID not in html(refused)


def test_a_visit_raises_an_event_on_the_spot_with_its_grid_and_place(app: Any, gl: Any) -> None:
    visit = gl.start(
        "gw_hb1",
        "household_visit",
        {"grid": GRID_HB1, "household": "湖滨花园3幢2单元401室", "purpose": "care"},
    )
    task = next(t for t in gl.event_detail("admin", visit["id"])["tasks"] if t["status"] == "open")
    worker = staff(app, "gw_hb1")
    page = html(worker.get(f"/tasks/{task['id']}"))
    link = re.search(r'id="raise-event" href="([^"]+)"', page)
    assert link and "就地上报事件" in page
    form = html(worker.get(link.group(1).replace("&amp;", "&")))
    assert f'<option value="{GRID_HB1}" selected' in form and 'value="湖滨花园3幢2单元401室"' in form


def test_a_person_is_edited_on_the_page_each_value_checked(app: Any, gl: Any) -> None:
    gl.import_ledger("admin", "ledger.csv", GOOD)
    worker = staff(app, "gw_hb1")
    page = html(worker.get("/ledger"))
    person = re.search(r'action="/ledger/people/(\d+)" ', page) or re.search(
        r'action="/ledger/people/(\d+)"', page
    )
    assert person
    path = f"/ledger/people/{person.group(1)}"
    form = {
        "name": "张三",
        "kind": "registered",
        "flags": ["elderly_alone", "disabled"],
        "phone": "13900001111",
        "id_number": "",
        "csrf_token": token(worker, "/ledger"),
    }
    saved = worker.post(path, data=form)
    assert saved.status_code == 200 and "已保存" in html(saved)
    assert "139****1111" in html(saved) and "13900001111" not in html(saved)
    refused = worker.post(
        path, data={**form, "id_number": "330102199001011235", "csrf_token": token(worker, "/ledger")}
    )
    assert refused.status_code == 400 and "身份证号校验位不正确" in html(refused)
    with gl.db.reading() as session:
        person_row = session.get(LedgerPerson, int(person.group(1)))
        assert (
            person_row.flags == ["disabled", "elderly_alone"] and person_row.id_masked == "3301**********1234"
        )
        [logged] = session.query(AdminLogEntry).filter(AdminLogEntry.action == "ledger_edited").all()
    assert logged.data["changed"] == ["flags", "phone"]


def test_a_report_raised_from_a_duty_visit_names_the_household(app: Any, gl: Any) -> None:
    gl.import_ledger("admin", "ledger.csv", GOOD)
    gl.change_setting(
        "admin", "visit_duties", [{"flag": "elderly_alone", "every_days": 7, "purpose": "care"}]
    )
    [visit] = gl.start_due_visits()["events"]
    task = next(t for t in gl.event_detail("admin", visit)["tasks"] if t["status"] == "open")
    worker = staff(app, "gw_hb1")
    link = re.search(r'id="raise-event" href="([^"]+)"', html(worker.get(f"/tasks/{task['id']}")))
    assert link and "dwelling=" in link.group(1)
    form = html(worker.get(link.group(1).replace("&amp;", "&")))
    dwelling = re.search(r'name="dwelling" value="(\d+)"', form)
    assert dwelling and "本事件将关联台账中的住户" in form
    reported = gl.report(
        "gw_hb1",
        {
            "category": "0101",
            "description": "楼道堆放杂物，存在消防隐患",
            "grid": GRID_HB1,
            "dwelling": int(dwelling.group(1)),
        },
    )
    page = html(worker.get(f"/events/{reported['id']}"))
    assert "涉及住户" in page and "湖滨花园3幢 2-401" in page
    # a household of another grid, or none, is refused on its field
    with pytest.raises(ValidationFailed) as refused:
        gl.report(
            "gw_hb1", {"category": "0101", "description": "楼道堆放杂物", "grid": GRID_HB1, "dwelling": 999}
        )
    assert [e.code for e in refused.value.errors["dwelling"]] == ["report.dwelling_unknown"]


def test_a_person_is_added_to_a_dwelling_and_moved_out_on_the_page(app: Any, gl: Any) -> None:
    gl.import_ledger("admin", "ledger.csv", GOOD)
    worker = staff(app, "gw_hb1")
    page = html(worker.get("/ledger"))
    dwelling = re.search(r'action="/ledger/dwellings/(\d+)/people"', page)
    assert dwelling and page.count('data-person="') == 2
    path = f"/ledger/dwellings/{dwelling.group(1)}/people"
    form = {
        "name": "张大妈",
        "kind": "registered",
        "flags": ["elderly_alone"],
        "csrf_token": token(worker, "/ledger"),
    }
    added = worker.post(path, data=form)
    assert added.status_code == 200 and "已添加" in html(added) and html(added).count('data-person="') == 3
    refused = worker.post(path, data={**form, "name": "", "csrf_token": token(worker, "/ledger")})
    assert refused.status_code == 400 and 'data-column="name"' in html(refused)
    with gl.db.reading() as session:
        newcomer = session.query(LedgerPerson).filter(LedgerPerson.name == "张大妈").one()
    moved = worker.post(
        f"/ledger/people/{newcomer.id}/move-out", data={"csrf_token": token(worker, "/ledger")}
    )
    assert moved.status_code == 200 and "已登记迁出" in html(moved) and "张大妈" not in html(moved)
    gone = worker.post(
        f"/ledger/people/{newcomer.id}/move-out", data={"csrf_token": token(worker, "/ledger")}
    )
    assert gone.status_code == 404
    # a moved-out person is no longer visited
    gl.change_setting(
        "admin", "visit_duties", [{"flag": "elderly_alone", "every_days": 7, "purpose": "care"}]
    )
    assert gl.start_due_visits()["started"] == {"flag:elderly_alone": 1}  # 张三 only
    with gl.db.reading() as session:
        logged = [
            e.data["changed"]
            for e in session.query(AdminLogEntry).filter(AdminLogEntry.action == "ledger_edited")
        ]
    assert logged == [["added"], ["moved_out"]]
