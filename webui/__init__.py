"""gridloop's web UI: a Flask app factory. Thin: parse the request, call one engine service, render.

Every request reads through one read scope of the engine's database, opened before any other hook
(:mod:`webui.context`): one connection and one snapshot per page or API call.

Configuration comes from the environment (``GRIDLOOP_DATABASE_URL``, ``GRIDLOOP_SECRET_KEY``,
``GRIDLOOP_HTTPS``, ``GRIDLOOP_TRUSTED_PROXIES``, ``GRIDLOOP_SECURE_COOKIES``: see :mod:`webui.security`) or from
``test_config``. Without ``GRIDLOOP_SECRET_KEY`` a random key is made once
and kept in ``instance/secret_key``, so that every worker process of a server (gunicorn -w 4) signs sessions
and API tokens with the same key and a restart does not sign everybody out.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from werkzeug.routing import IntegerConverter, Map, UnicodeConverter, ValidationError

from engine.app import Gridloop
from engine.store.db import default_url

SECRET_KEY_FILE = Path("instance") / "secret_key"
# a form with a handful of phone photos (the engine checks each file's own size and type)
MAX_REQUEST_BYTES = 64 * 1024 * 1024
# the largest id a row can have: PostgreSQL's integer (SQLite's goes to 2**63 - 1, and Python's is unbounded)
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """The routes' ``<int:…>``: a row's id, 1 to :data:`MAX_ID`. Any other number matches no route (404, as for
    an id nobody has) instead of reaching a database that cannot take it."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int = 1, max: int = MAX_ID) -> None:
        super().__init__(map, fixed_digits, min, max)


class TextConverter(UnicodeConverter):
    """The routes' plain ``<name>`` segments (an attachment's id): a segment with a NUL, which no database
    stores, matches no route (404)."""

    def to_python(self, value: str) -> str:
        if "\x00" in value:
            raise ValidationError()
        return value


# every route's path arguments go through these: registered before any blueprint adds its routes
URL_CONVERTERS = {"int": IdConverter, "default": TextConverter, "string": TextConverter}


def instance_secret_key(path: Path = SECRET_KEY_FILE) -> str:
    """The key kept in ``path``, made on first use; created atomically, so concurrent workers agree on one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(
            candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
        )  # never readable by others
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    return path.read_text().strip()


class CompiledTemplates(BytecodeCache):
    """Compiled templates kept in memory for every app this process builds: Jinja keys each by the template's
    name and the checksum of its source, so an edited template compiles anew, and a second app (the one a CLI
    command or a test builds after another) renders its first pages without compiling them again."""

    def __init__(self) -> None:
        self._compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        compiled = self._compiled.get(bucket.key)
        if compiled is not None:
            bucket.bytecode_from_string(compiled)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._compiled[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: read config, attach one engine, register the blueprints."""
    app = Flask(__name__, instance_relative_config=False)
    app.jinja_options = {**app.jinja_options, "bytecode_cache": COMPILED_TEMPLATES}
    app.url_map.converters.update(URL_CONVERTERS)
    from webui import security

    app.config.from_mapping(
        DATABASE_URL=os.environ.get("GRIDLOOP_DATABASE_URL") or default_url(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=security.secure_cookies_from_env(),
        HTTPS=security.https_from_env(),
        TRUSTED_PROXIES=security.trusted_proxies_from_env(),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # a form's CSRF token lives as long as the session, so a task page left open for hours still submits
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
    )
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("GRIDLOOP_SECRET_KEY") or instance_secret_key()
    app.extensions["gridloop"] = Gridloop(app.config["DATABASE_URL"])

    from webui import (
        admin,
        api,
        attachments,
        audit,
        auth,
        context,
        dashboard,
        designer,
        display,
        errors,
        events,
        formdata,
        gridmap,
        i18n,
        inbox,
        ledger,
        limits,
        links,
        logs,
        notices,
        processes,
        report,
        status,
        supervision,
        tasklist,
        tasks,
    )

    context.init_app(app)
    logs.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    errors.register(app)
    notices.init_app(app)
    for blueprint in (
        auth.bp,
        i18n.bp,
        links.bp,
        display.bp,
        formdata.bp,
        inbox.bp,
        tasks.bp,
        tasklist.bp,
        report.bp,
        events.bp,
        gridmap.bp,
        ledger.bp,
        processes.bp,
        designer.bp,
        attachments.bp,
        audit.bp,
        supervision.bp,
        dashboard.bp,
        admin.bp,
        status.bp,
        notices.bp,
    ):
        app.register_blueprint(blueprint)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    security.csrf.exempt(api.bp)
    limits.init_app(app)
    return app
