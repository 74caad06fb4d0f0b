"""Restricted script engine for the Python that BPMN and DMN files carry.

Process designers write small scripts (script tasks, pre/post scripts) and expressions (gateway
conditions, timer expressions, DMN entries). SpiffWorkflow runs them with plain ``eval``/``exec``, so
a diagram could import ``os`` or walk ``().__class__`` to anything in the interpreter. Every script and
expression therefore passes two gates here:

1. a static check (:func:`script_problems`) that refuses imports, names and attributes starting with
   ``__``, interpreter-internal attributes (frames, code objects) and calls to ``eval``/``open``/...;
2. a run-time sandbox: the globals hold only :data:`SAFE_BUILTINS` and the functions the engine
   passes in, so even code that slipped past the check has no ``__import__`` and no ``open``.

A refused script raises :class:`ScriptError`, whose message names the task, the line and the fix.
SpiffWorkflow may wrap it (a DMN rule, for instance, re-raises as ``WorkflowTaskException``);
:func:`find_script_error` digs it out again for the runtime to show.
"""

import ast
import copy
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

SAFE_BUILTINS: dict[str, Any] = {
    "None": None,
    "True": True,
    "False": False,
    "abs": abs,
    "all": all,
    "any": any,
    "bool": bool,
    "dict": dict,
    "divmod": divmod,
    "enumerate": enumerate,
    "filter": filter,
    "float": float,
    "frozenset": frozenset,
    "int": int,
    "isinstance": isinstance,
    "len": len,
    "list": list,
    "map": map,
    "max": max,
    "min": min,
    "range": range,
    "reversed": reversed,
    "round": round,
    "set": set,
    "sorted": sorted,
    "str": str,
    "sum": sum,
    "tuple": tuple,
    "zip": zip,
    "Exception": Exception,
    "KeyError": KeyError,
    "TypeError": TypeError,
    "ValueError": ValueError,
}
"""The only builtins a process script sees: pure functions and types, nothing that reaches the
interpreter, the file system or other modules."""

FORBIDDEN_CALLS = frozenset(
    {
        "__import__",
        "compile",
        "delattr",
        "eval",
        "exec",
        "getattr",
        "globals",
        "locals",
        "open",
        "setattr",
        "vars",
    }
)

# Attributes that lead from an ordinary object to frames, code objects and thus to real module globals
# (for example ``(g.gi_frame.f_back.f_globals for g in ...)``); they need no leading underscore.
INTERNAL_ATTRIBUTES = frozenset(
    {
        "ag_code",
        "ag_frame",
        "cr_code",
        "cr_frame",
        "f_back",
        "f_builtins",
        "f_code",
        "f_globals",
        "f_locals",
        "gi_code",
        "gi_frame",
        "gi_yieldfrom",
        "tb_frame",
        "tb_next",
    }
)


# A '__name' inside a string: a key such as '__builtins__' or a format field such as '{0.__class__}'.
_DUNDER_IN_TEXT = re.compile(r"(?<!\w)__\w")


class ScriptError(Exception):
    """A process script or expression that the engine refuses to run.

    ``element_id`` is the BPMN element (task, gateway, ...) that holds the code, when known, and
    ``problems`` are the individual findings of :func:`script_problems`.
    """

    def __init__(self, message: str, *, element_id: str | None = None, problems: tuple[str, ...] = ()):
        super().__init__(message)
        self.element_id = element_id
        self.problems = problems


def script_problems(source: str, mode: str = "exec") -> list[str]:
    """Return what is not allowed in ``source``, one English sentence per finding (empty when fine).

    ``mode`` is ``"exec"`` for scripts and ``"eval"`` for expressions (conditions, timers), matching how
    SpiffWorkflow runs them. Results are cached by source, so checking before every run costs a lookup.
    """
    return list(_cached_problems(source, mode))


@functools.lru_cache(maxsize=4096)
def _cached_problems(source: str, mode: str) -> tuple[str, ...]:
    # eval() strips leading blanks from an expression, ast.parse() does not.
    text = source.lstrip(" \t") if mode == "eval" else source
    try:
        tree = ast.parse(text, mode=mode)
    except SyntaxError as err:
        return (f"syntax error: {err.msg}{_where(text.splitlines(), err.lineno)}",)
    lines = text.splitlines()
    found: list[str] = []
    for node in ast.walk(tree):
        for reason in _node_reasons(node):
            finding = f"{reason}{_where(lines, getattr(node, 'lineno', None))}"
            if finding not in found:
                found.append(finding)
    return tuple(found)


def _node_reasons(node: ast.AST) -> list[str]:
    """Why one AST node is refused (usually nothing)."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return ["imports are not allowed in process scripts"]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
        return [f"calling '{node.func.id}' is not allowed in process scripts"]
    reasons = []
    for name in _identifiers(node):
        if name.startswith("__"):
            reasons.append(f"names starting with '__' ('{name}') are not allowed in process scripts")
    if isinstance(node, ast.Attribute) and node.attr in INTERNAL_ATTRIBUTES:
        reasons.append(f"attribute '{node.attr}' exposes interpreter internals and is not allowed")
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _DUNDER_IN_TEXT.search(node.value):
        reasons.append("strings naming '__' attributes or keys are not allowed in process scripts")
    return reasons


def _identifiers(node: ast.AST) -> list[str]:
    """The identifiers a node binds or looks up, including attribute names and match-pattern attributes."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.keyword):
        return [node.arg] if node.arg else []
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return list(node.names)
    if isinstance(node, ast.MatchClass):
        return list(node.kwd_attrs)
    if isinstance(node, (ast.MatchAs, ast.MatchStar)):
        return [node.name] if node.name else []
    if isinstance(node, ast.MatchMapping):
        return [node.rest] if node.rest else []
    return []


def _where(lines: list[str], lineno: int | None) -> str:
    """`` (line N: <code>)`` for a message, or nothing when the line is unknown."""
    if not lineno:
        return ""
    code = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
    if len(code) > 80:
        code = code[:77] + "..."
    return f" (line {lineno}: {code})" if code else f" (line {lineno})"


def find_script_error(exc: BaseException | None) -> ScriptError | None:
    """Return the :class:`ScriptError` behind ``exc``, or None if a refused script did not cause it.

    SpiffWorkflow's ``WorkflowTaskException`` keeps only the wrapped exception's class name, not the
    exception itself; the original survives as the implicit ``__context__`` (it is raised inside an
    ``except`` block) or an explicit ``__cause__``, so both chains are walked.
    """
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ScriptError):
            return current
        pending.extend((current.__cause__, current.__context__))
    return None


class RestrictedEnvironment(TaskDataEnvironment):
    """Task-data environment that checks code before running it and always runs it with safe builtins.

    SpiffWorkflow calls the environment directly in a few places (process completion conditions,
    message correlation), bypassing the script engine, so the check lives here as well.
    """

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        """Evaluate an expression over task data; task data can never replace ``__builtins__``."""
        _refuse(expression, "eval", "expression", None, self.globals)
        my_globals = copy.copy(self.globals)
        self._prepare_context(context)
        my_globals.update(external_context or {})
        my_globals.update(context)
        my_globals["__builtins__"] = SAFE_BUILTINS
        return eval(expression, my_globals)

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        """Run a script over task data (the globals, which carry the safe builtins, win over task data)."""
        _refuse(script, "exec", "script", None, self.globals)
        return super().execute(script, context, external_context)


class RestrictedScriptEngine(PythonScriptEngine):
    """Script engine for process scripts: safe builtins plus the named functions the engine provides.

    ``functions`` are the small, documented helpers BPMN expressions may call (a due-time calculator,
    a routing lookup). The engine is not serialized with a workflow; set it again after every load.
    """

    def __init__(self, functions: Mapping[str, Callable] | None = None):
        super().__init__(
            environment=RestrictedEnvironment({**(functions or {}), "__builtins__": SAFE_BUILTINS})
        )

    def validate(self, expression: str) -> None:
        """Parse an expression as SpiffWorkflow's DMN engine expects (SyntaxError), then apply the check."""
        super().validate(expression)
        _refuse(expression, "eval", "expression", None, self.environment.globals)

    def evaluate(self, task: Any, expression: str, external_context: dict | None = None) -> Any:
        """Evaluate an expression for ``task`` after the check, naming the task if it is refused."""
        _refuse(expression, "eval", "expression", _element_id(task), self.environment.globals)
        return super().evaluate(task, expression, external_context)

    def execute(self, task: Any, script: str, external_context: dict | None = None) -> bool:
        """Run a script for ``task`` after the check, naming the task if it is refused."""
        _refuse(script, "exec", "script", _element_id(task), self.environment.globals)
        return super().execute(task, script, external_context)

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        """Refuse service tasks: this engine has no service connector, and BPMN should call functions."""
        raise ScriptError(
            f"service task '{_element_id(task)}': service tasks are not supported; "
            "use a script task that calls one of the functions the engine provides",
            element_id=_element_id(task),
        )


def _element_id(task: Any) -> str:
    spec = task.task_spec
    return getattr(spec, "bpmn_id", None) or spec.name


def _refuse(source: str, mode: str, kind: str, element_id: str | None, env_globals: Mapping) -> None:
    """Raise :class:`ScriptError` if ``source`` has problems; the message ends with what is allowed."""
    problems = script_problems(source, mode) if source else []
    if not problems:
        return
    where = f"{kind} in task '{element_id}'" if element_id else kind
    functions = sorted(name for name in env_globals if name != "__builtins__")
    allowed = ", ".join(functions) if functions else "none"
    raise ScriptError(
        f"{where}: {'; '.join(problems)}. Process scripts may use task data, basic builtins "
        f"(len, min, max, sorted, ...) and the engine's functions ({allowed}).",
        element_id=element_id,
        problems=tuple(problems),
    )
