"""``pybabel extract``'s method for gridloop's Python: the gettext calls, and the codes of errors.

An engine error or a field error names its catalog entry by a code, not by a gettext call, so Babel's own
Python extractor would not see it. This method (``webui/translations/babel.cfg`` maps engine/**.py and webui/*.py to it) reads
the source with :mod:`ast` and yields

- the message id of every call of a gettext keyword (``translate``, ``_``, ``N_`` …) whose first argument is
  a literal, or a conditional between two literals (``translate("common.yes" if value else "common.no")``,
  where Babel's own extractor would glue the two together); a key built at run time is named in
  :mod:`webui.runtime_ids` instead;
- ``error.<code>`` for every call with a literal ``code="…"`` keyword: an engine error raised, or a
  ``require_role(…, code=…)`` that raises one (the keyword ``code`` is kept for that in engine/ and webui/);
- ``field.<code>`` for every ``FieldError("<code>", …)``, and for every value of a table assigned to a name
  ending in ``FIELD_CODES`` (jsonschema's and pydantic's error types mapped to codes).

Each error's English message comes along as the entry's comment for translators. The tests use
:func:`coded_messages` to hold every code to an entry in both catalogs whose placeholders are the values the
raise site gives.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any


@dataclass(frozen=True)
class CodedMessage:
    """A catalog entry a code names: where, its msgid, the names of the values the raise site fills in (None
    when they are not written out there) and the English message beside it."""

    lineno: int
    msgid: str
    params: frozenset[str] | None
    english: str | None = None


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _error_of(call: ast.Call) -> CodedMessage | None:
    code = next((_literal(k.value) for k in call.keywords if k.arg == "code"), None)
    if code is None:
        return None
    named = {k.arg for k in call.keywords if k.arg not in (None, "code", "message")}
    spread = any(k.arg is None for k in call.keywords)
    english = _literal(call.args[0]) if call.args else None
    message = next((_literal(k.value) for k in call.keywords if k.arg == "message"), None)
    return CodedMessage(
        call.lineno, f"error.{code}", None if spread else frozenset(named), english or message
    )


def _field_error_of(call: ast.Call) -> CodedMessage | None:
    code = _literal(call.args[0]) if call.args else None
    if _callee(call) != "FieldError" or code is None:
        return None
    params: frozenset[str] | None = frozenset()
    if len(call.args) > 1:
        table = call.args[1]
        keys = [_literal(key) for key in table.keys] if isinstance(table, ast.Dict) else [None]
        params = None if None in keys else frozenset(key for key in keys if key is not None)
    return CodedMessage(call.lineno, f"field.{code}", params)


def gettext_ids(source: str, keywords: Collection[str]) -> Iterator[tuple[int, str]]:
    """``(line, msgid)`` of every call of one of ``keywords`` with a literal message id."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and _callee(node) in keywords:
            first = node.args[0]
            choices = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
            for choice in choices:
                msgid = _literal(choice)
                if msgid:
                    yield node.lineno, msgid


def coded_messages(source: str) -> Iterator[CodedMessage]:
    """Every ``error.<code>`` and ``field.<code>`` that ``source`` names."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            found = _error_of(node) or _field_error_of(node)
            if found is not None:
                yield found
        elif isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id.endswith("FIELD_CODES") for t in targets):
                for value in node.value.values:
                    code = _literal(value)
                    if code is not None:
                        # the values such a code takes are filled in by the code that reads the table
                        yield CodedMessage(value.lineno, f"field.{code}", None)


def extract(
    fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str], options: Mapping[str, Any]
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """The Babel extraction method: the gettext calls, then the codes."""
    source = fileobj.read().decode(options.get("encoding", "utf-8"))
    for lineno, msgid in gettext_ids(source, keywords):
        yield lineno, None, msgid, []
    for found in coded_messages(source):
        yield found.lineno, None, found.msgid, [found.english] if found.english else []
