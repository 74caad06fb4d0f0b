"""JUEL, the expression language of Camunda 7 (and Activiti, Flowable), read and written out as Python.

Camunda Modeler writes a gateway's conditions as ``${amount > 1000}`` or ``#{approved}``; gridloop's script engine
runs Python over task data. :func:`to_python` translates the simple expressions people write in conditions —
variables and dotted paths, literals, comparisons in either spelling (``==`` or ``eq``), ``&&`` ``||`` ``!``,
``empty``, arithmetic and parentheses — and raises :class:`Untranslatable`, saying why, for anything else (a
method call, the ternary operator, a lambda, Camunda's ``execution`` object). Nothing is ever evaluated here.
"""

import json
import re
from typing import NoReturn


class Untranslatable(Exception):
    """Why an expression cannot be translated, said as the end of a problem's message."""


def to_python(expression: str) -> str:
    """The Python expression for the inside of a JUEL ``${…}`` (``amount > 1000`` → ``amount > 1000``,
    ``!approved && order.total ge 10`` → ``not approved and order["total"] >= 10``)."""
    return _Juel(expression).translate()


_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<name>[^\W\d]\w*)|(?P<op>->|==|!=|<=|>=|&&|\|\||[-+*/%<>!()\[\].?:,=;{}]))"
)
# JUEL's operators that Python spells otherwise; then its binary operators, loosest first, with Python's
# precedence (``not`` is 3, unary minus 7, a name or literal 8).
_SYNONYMS = {"&&": "and", "||": "or", "!": "not", "empty": "not", "div": "/", "mod": "%"}
_SYNONYMS |= {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">="}
_BINARY = (
    ({"or"}, 1),
    ({"and"}, 2),
    ({"==", "!=", "<", ">", "<=", ">="}, 4),
    ({"+", "-"}, 5),
    ({"*", "/", "%"}, 6),
)
_LITERALS = {"true": "True", "false": "False", "null": "None"}
_REASONS = {
    "?": "it uses the ternary operator ?:",
    ":": "it uses the ternary operator ?:",
    "->": "it defines a lambda",
    "instanceof": "it uses instanceof",
    "=": "it assigns a variable",
    ";": "it holds several expressions",
}


class _Juel:
    """A recursive-descent reading of one JUEL expression, written out as Python (nothing is evaluated).

    Each piece is kept with its Python precedence and parenthesized only where Python would read it otherwise:
    JUEL's ``!`` binds tighter than ``==`` while Python's ``not`` binds looser, and Python chains comparisons.
    """

    def __init__(self, text: str):
        self.tokens: list[tuple[str, str]] = []
        at = 0
        while text[at:].strip():
            found = _TOKEN.match(text, at)
            if found is None:
                self.fail(text[at:].strip()[0])
            kind = found.lastgroup or ""
            token = found.group(kind)
            self.tokens.append((kind, _SYNONYMS.get(token, token) if kind in ("name", "op") else token))
            at = found.end()
        self.at = 0

    def translate(self) -> str:
        python, _ = self.binary(0)
        if self.at < len(self.tokens):
            self.fail(self.tokens[self.at][1])
        return python

    def fail(self, token: str) -> NoReturn:
        raise Untranslatable(_REASONS.get(token, f"it has an unexpected '{token}'"))

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise Untranslatable("it ends too early")
        self.at += 1
        return self.tokens[self.at - 1]

    def binary(self, level: int) -> tuple[str, int]:
        if level == len(_BINARY):
            return self.unary()
        operators, precedence = _BINARY[level]
        left = self.binary(level + 1)
        while (operator := self.peek()) in operators:
            self.at += 1
            right = self.binary(level + 1)
            least = precedence + 1 if precedence == 4 else precedence  # no chained comparisons
            left = f"{_wrap(left, least)} {operator} {_wrap(right, precedence + 1)}", precedence
        return left

    def unary(self) -> tuple[str, int]:
        token = self.peek()
        if token in ("not", "-"):
            self.at += 1
            precedence = 3 if token == "not" else 7
            return f"{'not ' if token == 'not' else '-'}{_wrap(self.unary(), precedence)}", precedence
        return self.primary()

    def primary(self) -> tuple[str, int]:
        kind, token = self.take()
        if token == "(":
            inner = self.binary(0)
            if (closing := self.take()[1]) != ")":
                self.fail(closing)
            return inner
        if kind in ("number", "string"):
            return (token if kind == "number" else _python_string(token)), 8
        if token in _LITERALS:
            return _LITERALS[token], 8
        if kind != "name" or token in _REASONS or token in _SYNONYMS.values():
            self.fail(token)
        return self.path(token), 8

    def path(self, name: str) -> str:
        """A variable and the keys into it: ``order.amount`` and ``order['amount']`` → ``order["amount"]``."""
        if self.peek() in ("(", ":"):  # f(x), or fn:f(x) with a function namespace
            raise Untranslatable(f"it calls a function: {name}")
        python = name
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                kind, key = self.take()
                if kind != "name":
                    self.fail(key)
                if self.peek() == "(":
                    raise Untranslatable(f"it calls a method: {key}")
                python += f"[{json.dumps(key, ensure_ascii=False)}]"
                continue
            kind, key = self.take()
            if kind not in ("string", "number") or self.take()[1] != "]":
                raise Untranslatable("it indexes with an expression")
            python += f"[{_python_string(key) if kind == 'string' else key}]"
        if name == "execution":
            raise Untranslatable("it reads Camunda's execution object")
        return python


def _wrap(piece: tuple[str, int], least: int) -> str:
    return piece[0] if piece[1] >= least else f"({piece[0]})"


def _python_string(token: str) -> str:
    """A JUEL string literal (quotes escaped by backslashes) as a Python one, in the house's double quotes."""
    return json.dumps(re.sub(r"\\(.)", r"\1", token[1:-1]), ensure_ascii=False)
