"""gridloop's web UI: a Flask app factory. Thin: parse the request, call one engine service, render."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from engine.db import default_url
from engine.services import Gridloop


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: read config, attach one engine, register the blueprints."""
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(
        DATABASE_URL=os.environ.get("GRIDLOOP_DATABASE_URL") or default_url(),
        SECRET_KEY=os.environ.get("GRIDLOOP_SECRET_KEY") or os.urandom(32),
    )
    if test_config:
        app.config.update(test_config)
    app.extensions["gridloop"] = Gridloop(app.config["DATABASE_URL"])

    from webui import status

    app.register_blueprint(status.bp)
    return app
