"""Named errors of the engine's services.

Each one maps to one answer at the edge (the web layer turns them into HTTP status codes in one place,
the CLI into an exit status and a message); the engine itself never speaks HTTP.
"""

from __future__ import annotations


class GridloopError(Exception):
    """Base of every error the services raise on purpose."""


class NotFound(GridloopError):
    """The thing does not exist, or lies outside the actor's scope (the two are indistinguishable on purpose)."""


class Forbidden(GridloopError):
    """The actor may see the thing but may not do this to it."""


class Conflict(GridloopError):
    """The command raced another one or was based on a stale view: nothing was changed; reload and retry."""


class ValidationFailed(GridloopError):
    """Submitted data failed its form's schema. ``errors`` maps a field path to its messages."""

    def __init__(self, message: str, errors: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.errors = errors


class NotDeployed(GridloopError):
    """No version of the process has been deployed yet."""


class ProcessFailure(GridloopError):
    """The process itself failed while running (a broken script or expression): nothing was changed."""
