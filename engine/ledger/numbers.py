"""Checking the personal numbers a ledger row gives: the resident identity number (GB 11643: 17 digits — the
6-digit area, the birth date, a 3-digit sequence — and the ISO 7064 MOD 11-2 check character) and a phone
number (a mainland mobile, or a landline with its area code)."""

from __future__ import annotations

import re
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
ID_SHAPE = re.compile(r"[1-9]\d{16}[\dX]")
PHONE_SHAPE = re.compile(r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}")


def id_number_problem(number: str) -> str | None:
    """Why ``number`` is no resident identity number (``shape``, ``birth_date`` or ``check_digit``), else
    None; a lower-case x is read as X."""
    number = number.strip().upper()
    if not ID_SHAPE.fullmatch(number):
        return "shape"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "birth_date"
    if born.year < 1900 or born > date.today():
        return "birth_date"
    total = sum(int(d) * w for d, w in zip(number[:17], WEIGHTS, strict=True))
    return None if CHECK[total % 11] == number[17] else "check_digit"


def phone_problem(phone: str) -> str | None:
    """``shape`` when ``phone`` is neither a mobile nor a landline with its area code, else None."""
    return None if PHONE_SHAPE.fullmatch(phone.strip()) else "shape"
