"""The household ledger (人房台账, issue 15 part 6): imported from the template with every bad row named first and
nothing stored; identity and phone numbers sealed so that the database alone does not hold them, shown masked;
read whole only by a permitted role, each viewing logged; every page scoped like everything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import GRID_HB1, GRID_HB2, GRID_LA1, Driver
from sqlalchemy import select, text

from engine.app import Gridloop
from engine.errors import Forbidden, NotFound, ValidationFailed
from engine.ledger import rows
from engine.ledger.numbers import id_number_problem
from engine.reads.ledger import ledger_page
from engine.store.models import AdminLogEntry, LedgerPerson

HEADER = "网格编码,楼栋,单元,房号,姓名,身份证号,联系电话,人员类别,标签,地址"
ZHANG_ID, LI_ID = "330102199001011234", "11010519491231002X"


def _csv(*lines: str) -> bytes:
    return ("\ufeff" + "\n".join((HEADER, *lines)) + "\n").encode()


GOOD = _csv(
    f"{GRID_HB1},湖滨花园3幢,2,401,张三,{ZHANG_ID},13812345678,户籍,独居老人,湖滨路88号",
    f"{GRID_HB1},湖滨花园3幢,2,401,张小明,,,户籍,,湖滨路88号",
    f"{GRID_LA1},柳岸新村1幢,1,102,李四,{LI_ID},0571-88001234,流动,重点人员、低保户,",
)


def test_identity_numbers_are_checked_by_their_check_digit_and_birth_date() -> None:
    assert id_number_problem(ZHANG_ID) is None and id_number_problem(LI_ID.lower()) is None
    assert id_number_problem("330102199001011235") == "check_digit"
    assert id_number_problem("330102199013011234") == "birth_date"
    assert id_number_problem("33010219900101123") == "shape"
    assert rows.template().decode("utf-8-sig").startswith(HEADER)


def test_an_import_stores_the_ledger_with_its_numbers_sealed(gl: Gridloop) -> None:
    preview = gl.import_ledger("admin", "ledger.csv", GOOD, dry_run=True)
    assert (preview["added"], preview["buildings"], preview["dwellings"]) == (3, 2, 2)
    with gl.db.reading() as session:
        assert session.scalars(select(LedgerPerson)).all() == []
    done = gl.import_ledger("admin", "ledger.csv", GOOD)
    assert (done["added"], done["updated"]) == (3, 0)
    # a dump of the database does not hold the numbers: every text and binary column of the ledger looked at
    with gl.db.reading() as session:
        dump = " ".join(
            repr(value)
            for table in ("ledger_people", "ledger_dwellings", "ledger_buildings")
            for row in session.execute(text(f"SELECT * FROM {table}"))
            for value in row
        )
        people = {p.name: p for p in session.scalars(select(LedgerPerson))}
    for number in (ZHANG_ID, LI_ID, "13812345678", "88001234", "1990010112"):
        assert number not in dump
    assert people["张三"].id_masked == "3301**********1234" and people["张三"].phone_masked == "138****5678"
    assert people["李四"].flags == ["key_person", "low_income"] and people["李四"].kind == "migrant"
    assert people["张小明"].id_cipher is None
    # imported again, with 张三 moved to 402: the same person, moved (found by the identity number's index)
    moved = GOOD.decode("utf-8-sig").replace(",401,张三,", ",402,张三,").encode()
    again = gl.import_ledger("admin", "ledger.csv", moved)
    assert (again["added"], again["updated"], again["dwellings"]) == (0, 3, 1)
    with gl.db.reading() as session:
        assert session.scalar(select(LedgerPerson.id).where(LedgerPerson.name == "张三")) == people["张三"].id
        logged = session.scalars(select(AdminLogEntry).where(AdminLogEntry.action == "ledger_imported")).all()
    assert [entry.data["added"] for entry in logged] == [3, 0]


def test_every_bad_row_is_named_by_line_and_column_and_nothing_is_imported(gl: Gridloop) -> None:
    bad = _csv(
        f"{GRID_HB1},湖滨花园3幢,2,401,张三,330102199001011235,13812345678,户籍,独居老人,",
        f"{GRID_HB1},湖滨花园3幢,2,402,,,12345,户籍,,",
        f"{GRID_HB1},湖滨花园3幢,2,403,王五,,,外地,爱心人士,",
        "999999999999999,某楼,1,101,赵六,,,户籍,,",
        f"{GRID_HB1},湖滨花园3幢,2,404,钱七,{ZHANG_ID},,户籍,,",
    )
    with pytest.raises(ValidationFailed) as refused:
        gl.import_ledger("admin", "ledger.csv", bad, dry_run=True)
    found = {path: [e.code for e in errors] for path, errors in refused.value.errors.items()}  # type: ignore[union-attr]
    assert found == {
        "rows.2.id_number": ["ledger.id_check_digit"],
        "rows.3.name": ["required"],
        "rows.3.phone": ["phone"],
        "rows.4.kind": ["ledger.kind"],
        "rows.4.flags": ["ledger.flag"],
        "rows.5.grid": ["ledger.not_a_grid"],
    }
    assert refused.value.params["count"] == 4
    # a grid worker imports their own grid only
    own = _csv(f"{GRID_HB2},湖滨花园5幢,1,101,孙八,,,户籍,,")
    with pytest.raises(ValidationFailed) as refused:
        gl.import_ledger("gw_hb1", "ledger.csv", own)
    assert [e.code for e in refused.value.errors["rows.2.grid"]] == ["ledger.grid_outside_scope"]  # type: ignore[union-attr]
    with pytest.raises(Forbidden):
        gl.import_ledger("h_dh_hw", "ledger.csv", GOOD)
    for content, name in (
        (b"\xff\xfe\x00", "x.csv"),
        (b"PK not a book", "x.xlsx"),
        ("姓名\n张三\n".encode(), "x.csv"),
    ):
        with pytest.raises(ValidationFailed):
            gl.import_ledger("admin", name, content)
    with gl.db.reading() as session:
        assert session.scalars(select(LedgerPerson)).all() == []


def _page(gl: Gridloop, username: str, **filters: Any) -> dict[str, Any]:
    with gl.reading(username) as reader:
        return ledger_page(reader, **filters)


def test_each_level_sees_its_own_ledger_masked(gl: Gridloop) -> None:
    gl.import_ledger("admin", "ledger.csv", GOOD)
    assert [g["code"] for g in _page(gl, "gw_hb1")["grids"]] == [GRID_HB1]
    assert [g["code"] for g in _page(gl, "gw_la1")["grids"]] == [GRID_LA1]
    assert [g["code"] for g in _page(gl, "leader_hb")["grids"]] == [GRID_HB1]  # its community's grids
    assert [g["code"] for g in _page(gl, "leader")["grids"]] == [GRID_HB1, GRID_LA1]
    district = _page(gl, "admin")
    people = [
        p for g in district["grids"] for b in g["buildings"] for d in b["dwellings"] for p in d["people"]
    ]
    assert {p["name"]: p["id_number"] for p in people}["张三"] == "3301**********1234"
    assert ZHANG_ID not in repr(district) and "13812345678" not in repr(district)
    assert [
        p["name"]
        for p in [
            p
            for g in _page(gl, "admin", flag="elderly_alone")["grids"]
            for b in g["buildings"]
            for d in b["dwellings"]
            for p in d["people"]
        ]
    ] == ["张三"]
    with pytest.raises(Forbidden):
        _page(gl, "h_dh_hw")


def test_a_permitted_role_reads_the_numbers_whole_and_the_viewing_is_logged(
    gl: Gridloop, driver: Driver
) -> None:
    gl.import_ledger("admin", "ledger.csv", GOOD)
    with gl.db.reading() as session:
        zhang = session.scalar(select(LedgerPerson.id).where(LedgerPerson.name == "张三"))
    assert gl.unmask_person("leader_hb", zhang) == {
        "id": zhang,
        "id_number": ZHANG_ID,
        "phone": "13812345678",
    }
    with gl.db.reading() as session:
        [viewed] = session.scalars(
            select(AdminLogEntry).where(AdminLogEntry.action == "personal_viewed")
        ).all()
    assert (viewed.actor, viewed.data) == (
        "leader_hb",
        {"person": zhang, "grid": GRID_HB1, "fields": ["id_number", "phone"]},
    )
    with pytest.raises(Forbidden):
        gl.unmask_person("gw_hb1", zhang)  # a grid worker sees the ledger masked
    with pytest.raises(NotFound):
        gl.unmask_person("leader_la", zhang)  # another community's person looks like none
    gl.change_setting("admin", "ledger_unmask_roles", ["grid_worker"])
    assert gl.unmask_person("gw_hb1", zhang)["id_number"] == ZHANG_ID


def test_the_demo_ledger_imports_cleanly(gl: Gridloop) -> None:
    shipped = (Path(__file__).resolve().parent.parent / "engine" / "demo" / "ledger.csv").read_bytes()
    checked = gl.import_ledger("admin", "ledger.csv", shipped, dry_run=True)
    assert (checked["added"], checked["buildings"]) == (10, 6)


def test_an_xlsx_file_imports_like_a_csv(gl: Gridloop) -> None:
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(list(rows.COLUMNS))
    sheet.append([GRID_HB1, "湖滨花园3幢", 2, 401, "张三", ZHANG_ID, 13812345678, "户籍", "独居老人", None])
    content = io.BytesIO()
    book.save(content)
    done = gl.import_ledger("admin", "ledger.xlsx", content.getvalue())
    assert (done["added"], done["dwellings"]) == (1, 1)
    with gl.db.reading() as session:
        [person] = session.scalars(select(LedgerPerson)).all()
    assert (person.name, person.id_masked, person.phone_masked) == (
        "张三",
        "3301**********1234",
        "138****5678",
    )
