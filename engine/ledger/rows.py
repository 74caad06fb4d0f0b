"""The ledger's import template (人房台账导入模板): one row per person, read from CSV (UTF-8, a byte-order mark
allowed) or XLSX, every cell checked before anything is stored.

Columns (Chinese headers, or the English keys): 网格编码 ``grid``, 楼栋 ``building``, 单元 ``unit``, 房号 ``room``,
姓名 ``name``, 身份证号 ``id_number``, 联系电话 ``phone``, 人员类别 ``kind`` (户籍 / 流动 / 境外), 标签 ``flags``
(any of 重点人员, 独居老人, 残疾人, 低保户, 留守儿童, separated by 、 ; , or spaces), 地址 ``address`` (the
building's). Grid, building, room, name and kind are required; the numbers are optional and checked when given.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from openpyxl import load_workbook

from engine.errors import FieldError, FieldErrors, ValidationFailed
from engine.ledger.numbers import id_number_problem, phone_problem

COLUMNS = {
    "网格编码": "grid",
    "楼栋": "building",
    "单元": "unit",
    "房号": "room",
    "姓名": "name",
    "身份证号": "id_number",
    "联系电话": "phone",
    "人员类别": "kind",
    "标签": "flags",
    "地址": "address",
}
REQUIRED = ("grid", "building", "room", "name", "kind")
KINDS = {"户籍": "registered", "流动": "migrant", "境外": "foreign"}
FLAGS = {
    "重点人员": "key_person",
    "独居老人": "elderly_alone",
    "残疾人": "disabled",
    "低保户": "low_income",
    "留守儿童": "left_behind_child",
}
LIMITS = {"grid": 32, "building": 100, "unit": 16, "room": 16, "name": 64, "address": 200}
# why an identity number is refused (engine.ledger.numbers.id_number_problem), as the field's error
ID_ERRORS = {
    "shape": FieldError("ledger.id_shape"),
    "birth_date": FieldError("ledger.id_birth_date"),
    "check_digit": FieldError("ledger.id_check_digit"),
}
_SEPARATORS = re.compile(r"[、;；,，\s]+")


@dataclass(frozen=True)
class Row:
    """A checked row: where the person lives and who they are."""

    number: int  # the row's line in the file (the header is 1)
    grid: str
    building: str
    unit: str
    room: str
    name: str
    kind: str
    flags: tuple[str, ...]
    id_number: str | None
    phone: str | None
    address: str | None


def read_table(filename: str, content: bytes) -> list[dict[str, str]]:
    """The rows of a CSV or XLSX file as column key → text (headers translated to keys; unknown ones kept)."""
    if filename.lower().endswith(".xlsx"):
        try:
            sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
        except Exception as exc:  # openpyxl raises many kinds on a file that is no workbook
            raise ValidationFailed(
                "{file} is no XLSX workbook",
                {"file": [FieldError("ledger.not_a_table")]},
                code="ledger.invalid",
                file=filename,
            ) from exc
        cells = [
            ["" if v is None else str(v).strip() for v in row] for row in sheet.iter_rows(values_only=True)
        ]
    else:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed(
                "{file} is not UTF-8 text",
                {"file": [FieldError("ledger.not_utf8")]},
                code="ledger.invalid",
                file=filename,
            ) from None
        cells = [[v.strip() for v in row] for row in csv.reader(io.StringIO(text))]
    if not cells:
        raise ValidationFailed(
            "{file} is empty", {"file": [FieldError("ledger.empty")]}, code="ledger.invalid", file=filename
        )
    header = [COLUMNS.get(h, h) for h in cells[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValidationFailed(
            "{file} lacks the column(s) {columns}",
            {"file": [FieldError("ledger.columns_missing", {"columns": ", ".join(missing)})]},
            code="ledger.invalid",
            file=filename,
            columns=", ".join(missing),
        )
    return [dict(zip(header, row, strict=False)) for row in cells[1:] if any(row)]


def check(table: list[dict[str, str]]) -> tuple[list[Row], FieldErrors]:
    """Every row checked: the rows that read well, and each bad cell's error (``rows.<line>.<column>``)."""
    good: list[Row] = []
    errors: FieldErrors = {}
    for offset, raw in enumerate(table):
        line = offset + 2
        values = {key: (raw.get(key) or "").strip() for key in (*COLUMNS.values(),)}
        problems: dict[str, FieldError] = {}
        for key in REQUIRED:
            if not values[key]:
                problems[key] = FieldError("required")
        for key, limit in LIMITS.items():
            if len(values[key]) > limit:
                problems[key] = FieldError("max_length", {"limit": limit})
        if values["kind"] and values["kind"] not in KINDS and values["kind"] not in KINDS.values():
            problems["kind"] = FieldError(
                "ledger.kind", {"value": values["kind"], "choices": "、".join(KINDS)}
            )
        flags = [f for f in _SEPARATORS.split(values["flags"]) if f]
        unknown = [f for f in flags if f not in FLAGS and f not in FLAGS.values()]
        if unknown:
            problems["flags"] = FieldError(
                "ledger.flag", {"value": "、".join(unknown), "choices": "、".join(FLAGS)}
            )
        number = values["id_number"].upper()
        if number and (why := id_number_problem(number)):
            problems["id_number"] = ID_ERRORS[why]
        if values["phone"] and phone_problem(values["phone"]):
            problems["phone"] = FieldError("phone")
        for key, error in problems.items():
            errors[f"rows.{line}.{key}"] = [error]
        if problems:
            continue
        good.append(
            Row(
                line,
                values["grid"],
                values["building"],
                values["unit"],
                values["room"],
                values["name"],
                KINDS.get(values["kind"], values["kind"]),
                tuple(sorted({FLAGS.get(f, f) for f in flags})),
                number or None,
                values["phone"] or None,
                values["address"] or None,
            )
        )
    return good, errors


def template() -> bytes:
    """The import template: its header row and one example row, as CSV with a byte-order mark."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(list(COLUMNS))
    writer.writerow(
        [
            "330199001001001",
            "湖滨花园3幢",
            "2",
            "401",
            "张三",
            "330102199001011234",
            "13812345678",
            "户籍",
            "独居老人",
            "湖滨路88号",
        ]
    )
    return ("\ufeff" + out.getvalue()).encode()


def as_dict(row: Row) -> dict[str, Any]:
    """A checked row's fields (for previews)."""
    return {
        k: getattr(row, k) for k in ("number", "grid", "building", "unit", "room", "name", "kind", "flags")
    }
