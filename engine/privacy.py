"""Personal data as it is masked for those who do not need it: names, phone numbers and identity numbers — in
the fields that hold them and wherever they were typed into free text. The reads apply it
(:mod:`engine.reads.contacts`), and so does every export the engine writes (the monthly report's texts)."""

from __future__ import annotations

import re


def mask_name(name: str) -> str:
    """The first character kept, the rest starred: 张三 → 张*, 张先生 → 张**."""
    return name[:1] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_phone(phone: str) -> str:
    """The first three and last four characters kept, four stars between: 13812345678 → 138****5678,
    0571-88001234 → 057****1234; a number too short to keep anything is all stars."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "****"


def mask_id_number(number: str) -> str:
    """A resident identity card number with its first four and last four characters kept:
    330102199001011234 → 3301**********1234."""
    return f"{number[:4]}{'*' * (len(number) - 8)}{number[-4:]}" if len(number) > 8 else "*" * len(number)


# personal numbers typed into free text (a description, a note, a reply), found by their pattern, standing
# alone (no letter or digit either side: an event code, a grid code, a hash or an attachment id never matches):
# an 18-digit resident identity number (6-digit area, birth date, sequence, check digit or X), a mainland mobile
# number, a landline with its area code
_ALONE_BEFORE, _ALONE_AFTER = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])"
ID_NUMBER = re.compile(
    _ALONE_BEFORE
    + r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
    + _ALONE_AFTER
)
PHONE = re.compile(_ALONE_BEFORE + r"(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})" + _ALONE_AFTER)


def mask_text(text: str) -> str:
    """``text`` with every identity number and phone number in it masked (:data:`ID_NUMBER`, :data:`PHONE`)."""
    if not any(c.isdigit() for c in text):
        return text
    text = ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    return PHONE.sub(lambda m: mask_phone(m.group(0)), text)
