"""Who and what a request works with: the app's one engine and the signed-in user."""

from __future__ import annotations

from flask import current_app, g

from engine.app import Gridloop


def gridloop() -> Gridloop:
    """The engine the app was built with."""
    return current_app.extensions["gridloop"]


def username() -> str:
    """The signed-in user's username (every page but the public ones has one: see :mod:`webui.auth`)."""
    return g.user.username
