"""Named errors of the engine's services, each with a stable code and the values to say it with.

Each one maps to one answer at the edge (the web layer turns them into HTTP status codes in one place,
the CLI into an exit status and a message); the engine itself never speaks HTTP, and never speaks to staff
either: an error carries a ``code`` (``task.not_offered``) and its ``params`` (``{"task": 12, "name": "受理"}``),
and the web layer says it in the reader's language from the catalog entry ``error.<code>``. The English
``message`` (``str(error)``) is for logs and the command line.

A raise site names its code with the ``code=`` keyword, a literal string: ``pybabel extract`` (babel.cfg,
webui/babel_extract.py) collects every ``code="…"`` into the catalogs, and tests/test_i18n.py holds each one to
an entry in both languages whose placeholders the raise site fills. Raise sites that give no code get their
class's generic one (``not_found``, ``conflict`` …).

Field errors of a refused submission are :class:`FieldError` values in the same way (``field.<code>`` in the
catalog); a plain string in their place is a message already in the reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """Why one field of a submission was refused: ``code`` (``required``, ``min_length`` …), said in the
    reader's language as the catalog's ``field.<code>`` with ``params`` filled in (``{"limit": 5}``).

    An engine error found while checking a field (a setting's working hours the calendar cannot read) becomes
    the field's error as it is (:meth:`of`): then ``kind`` is ``"error"`` and the entry is ``error.<code>``.
    """

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "field"

    @classmethod
    def of(cls, error: GridloopError) -> FieldError:
        """The engine error ``error`` as the error of a field."""
        return cls(error.code, error.params, kind="error")

    @property
    def msgid(self) -> str:
        """The catalog entry that says it: ``field.<code>`` (or ``error.<code>``)."""
        return f"{self.kind}.{self.code}"


FieldErrors = dict[str, list[FieldError | str]]
"""Field path (``location.lat``, ``photos.0``, ``_form``) → why it was refused."""


class GridloopError(Exception):
    """Base of every error the services raise on purpose.

    ``message`` is English with ``{name}`` placeholders filled from ``params``, and is ``str(error)`` (for logs
    and the CLI); ``code`` names the catalog entry ``error.<code>`` that staff read, filled from the same
    ``params``.
    """

    code = "engine"

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message.format(**params) if params else message)
        if code is not None:
            self.code = code
        self.params = params


class NotFound(GridloopError):
    """The thing does not exist, or lies outside the actor's scope (the two are indistinguishable on purpose)."""

    code = "not_found"


class Forbidden(GridloopError):
    """The actor may see the thing but may not do this to it."""

    code = "forbidden"


class Conflict(GridloopError):
    """The command raced another one or was based on a stale view: nothing was changed; reload and retry."""

    code = "conflict"


def changed_meanwhile() -> Conflict:
    """The conflict of a command that lost a race for its event: somebody else's change was committed first."""
    return Conflict(
        "the event was changed by someone else meanwhile; nothing was saved — reload and retry",
        code="event.changed_meanwhile",
    )


class ValidationFailed(GridloopError):
    """Submitted data failed its checks. ``errors`` maps a field path to why (:data:`FieldErrors`)."""

    code = "validation"

    def __init__(self, message: str, errors: FieldErrors, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message, code=code, **params)
        self.errors = errors


class NotDeployed(GridloopError):
    """No version of the process has been deployed yet."""

    code = "not_deployed"


class ProcessFailure(GridloopError):
    """The process itself failed while running (a broken script or expression): nothing was changed."""

    code = "process_failure"
