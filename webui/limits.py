"""Rate limits per client address (flask-limiter): the JSON API as a whole, and the two sign-in doors.

Failed sign-ins are throttled exactly, in the database (:mod:`engine.org.auth`); these limits bound how often
one address may ask anything at all. They are counted in the storage ``GRIDLOOP_RATE_LIMIT_STORAGE`` names:
``memory://`` by default, which counts per worker process (a server of N workers lets N times as many
through); a shared ``redis://`` or ``memcached://`` storage counts exactly. The client's address is
``request.remote_addr`` — behind a TLS proxy, set ``GRIDLOOP_TRUSTED_PROXIES`` so that it is the client's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from webui import api

DEFAULT_API_LIMIT = "600 per minute"
DEFAULT_SIGN_IN_LIMIT = "30 per minute"
SIGN_IN_ENDPOINTS = ("auth.login", "api.issue_token")


def init_app(app: Flask) -> Limiter:
    """Apply the limits to the app's API blueprint and sign-in views (call once the blueprints are registered).

    ``RATE_LIMIT_API`` and ``RATE_LIMIT_SIGN_IN`` (from ``GRIDLOOP_RATE_LIMIT_API`` / ``…_SIGN_IN``) are
    flask-limiter rate strings, e.g. ``600 per minute``."""
    app.config.setdefault("RATE_LIMIT_API", os.environ.get("GRIDLOOP_RATE_LIMIT_API", DEFAULT_API_LIMIT))
    app.config.setdefault(
        "RATE_LIMIT_SIGN_IN", os.environ.get("GRIDLOOP_RATE_LIMIT_SIGN_IN", DEFAULT_SIGN_IN_LIMIT)
    )
    app.config.setdefault("RATELIMIT_STORAGE_URI", os.environ.get("GRIDLOOP_RATE_LIMIT_STORAGE", "memory://"))
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter = Limiter(get_remote_address, app=app)
    app.extensions["gridloop_limiter"] = limiter  # held by the app: flask-limiter keeps only a weak reference
    for endpoint in SIGN_IN_ENDPOINTS:  # the limit is checked by the wrapper, so the wrapper is the view
        view: Callable[..., Any] = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(
            lambda: app.config["RATE_LIMIT_SIGN_IN"], methods=["POST"]
        )(view)
    limiter.limit(lambda: app.config["RATE_LIMIT_API"])(api.bp)
    return limiter
