"""The command log: one line per command the pipeline runs, on the logger ``gridloop.command`` at INFO.

Each line names the command (``report``, ``complete``, ``fire`` …), the actor it ran as, its outcome and how
long it took: ``ok``; ``abandoned`` (it found nothing to do: a timer another scheduler fired); ``refused``,
with the engine error's ``code`` (a conflict, a form that failed its checks, a task not offered — answers the
product gives on purpose); or ``failed``, with the exception's class (a bug, a database gone), whose
traceback the caller logs. How lines are written (text or JSON, and the request id a web request adds) is the
web layer's and the command line's business (``webui/logs.py``); without it only warnings are printed, so
this costs a command next to nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from engine.errors import GridloopError
from engine.org.people import Actor

log = logging.getLogger("gridloop.command")


@dataclass
class Outcome:
    """How the command ended, set by the pipeline when it is neither ``ok`` nor an exception."""

    value: str = "ok"


@contextmanager
def timed(command: Callable[..., Any], by: str | Actor) -> Iterator[Outcome]:
    """Time the block that runs ``command`` as ``by`` and log the line when it ends, however it ends."""
    started = time.perf_counter()
    outcome = Outcome()
    error: str | None = None
    try:
        yield outcome
    except GridloopError as exc:
        outcome.value, error = "refused", exc.code
        raise
    except BaseException as exc:
        outcome.value, error = "failed", type(exc).__name__
        raise
    finally:
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        name = getattr(command, "__name__", repr(command))
        actor = by.username if isinstance(by, Actor) else by
        log.info(
            "%s by %s: %s%s in %.1f ms",
            name,
            actor,
            outcome.value,
            f" ({error})" if error else "",
            duration_ms,
            extra={
                "command": name,
                "actor": actor,
                "outcome": outcome.value,
                "error": error,
                "duration_ms": duration_ms,
            },
        )
