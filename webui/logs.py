"""Logs an operator can search: a line per request and per command, as plain text or as JSON.

``GRIDLOOP_LOG_FORMAT=json`` makes every line one JSON object (python-json-logger): ``time`` (ISO 8601, UTC),
``level``, ``logger``, ``message``, ``process`` (the pid: which gunicorn worker) and the fields of what the
line is about. Plain text, the default, suits the demo's terminal. :func:`configure` sets the root logger up
for ``gridloop serve`` and ``gridloop scheduler``; gunicorn takes :func:`dict_config` from
``webui/gunicorn_conf.py``, for its own error log too.

Every request has an id: the ``X-Request-Id`` it came with when that is well-formed (the TLS proxy's, nginx's
``$request_id`` say), else a new one; it is sent back in the response's ``X-Request-Id``. Every line logged
while a request is handled carries ``request_id``, ``user``, ``method`` and ``path`` — the engine's line per
command (``gridloop.command``: ``command``, ``actor``, ``outcome``, ``duration_ms``, see
:mod:`engine.commands.command_log`) included — and when the request ends, ``gridloop.access`` logs it with its
``status``, ``duration_ms`` and ``remote_addr``. That line is the access log: the development server's own
lines are left out (:class:`QuietRequestHandler`), and gunicorn's access log stays off.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import IO, Any

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Response

FORMATS = ("text", "json")
REQUEST_ID_HEADER = "X-Request-Id"
# what an incoming request id may look like to be taken (a uuid, nginx's 32 hex digits, a trace id …): no
# spaces, quotes or line breaks that could forge a line or a header
WELL_FORMED_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d"
JSON_NAMES = {"asctime": "time", "levelname": "level", "name": "logger"}
# libraries whose INFO lines say nothing an operator needs (APScheduler logs every job it runs) or must not reach
# the log at all: SpiffWorkflow logs every task's change of state with the instance's whole data — reporters'
# names and phone numbers in clear, ten lines a step (found by bench/http_load.py under gunicorn)
QUIET_LOGGERS = ("apscheduler", "spiff")

access_log = logging.getLogger("gridloop.access")


def log_format(value: str | None = None) -> str:
    """``text`` or ``json``: ``value``, else ``GRIDLOOP_LOG_FORMAT``, else text."""
    chosen = (value if value is not None else os.environ.get("GRIDLOOP_LOG_FORMAT", "")).strip().lower()
    if chosen in ("", "plain"):
        return "text"
    if chosen not in FORMATS:
        raise ValueError(f"GRIDLOOP_LOG_FORMAT is {chosen!r}: set it to json, or to text (the default)")
    return chosen


class JsonLines(JsonFormatter):
    """python-json-logger's formatter with gridloop's field names, the time in ISO 8601 (UTC, milliseconds)
    and Chinese kept as it is."""

    def __init__(self) -> None:
        super().__init__(JSON_FIELDS, rename_fields=JSON_NAMES, json_ensure_ascii=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's name)
        """The record's time as ISO 8601 in UTC."""
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def formatter(kind: str | None = None) -> logging.Formatter:
    """The formatter of the log format ``kind`` (default: :func:`log_format`)."""
    return JsonLines() if log_format(kind) == "json" else logging.Formatter(TEXT_FORMAT)


class RequestFields(logging.Filter):
    """Adds the request's ``request_id``, ``user``, ``method`` and ``path`` to every record logged while a
    request is handled (a record that names them itself keeps its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the fields (never drops a record)."""
        if has_request_context():
            for key, value in request_fields().items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        return True


def request_fields() -> dict[str, Any]:
    """What identifies the current request in a log line."""
    return {
        "request_id": g.get("request_id"),
        "user": current_user(),
        "method": request.method,
        "path": request.path,
    }


def current_user() -> str | None:
    """The username the request acts as: the signed-in staff member, or the API token's user (None: nobody)."""
    user = g.get("user")
    if user is not None:
        return str(user.username)
    api_user = g.get("api_user")
    return str(api_user) if api_user else None


def handler(kind: str | None = None, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing lines of the format ``kind`` to ``stream`` (default: standard error)."""
    made = logging.StreamHandler(stream if stream is not None else sys.stderr)
    made.setFormatter(formatter(kind))
    made.addFilter(RequestFields())
    made.set_name("gridloop")
    return made


def configure(kind: str | None = None, stream: IO[str] | None = None) -> logging.Handler:
    """Send every logger's INFO lines and above to ``stream`` in the format ``kind`` (default:
    ``GRIDLOOP_LOG_FORMAT``); called again, it replaces the handler it installed before. Returns it."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "gridloop":
            root.removeHandler(existing)
    installed = handler(kind, stream)
    root.addHandler(installed)
    root.setLevel(logging.INFO)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return installed


def dict_config(kind: str | None = None) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` of the format ``kind`` (default: ``GRIDLOOP_LOG_FORMAT``) for
    gunicorn's ``logconfig_dict``: its error log and every other logger in that format on standard error; its
    access log off (``gridloop.access`` is the access log, with the request id and the user)."""
    shape: dict[str, Any] = {"()": JsonLines} if log_format(kind) == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"gridloop": shape},
        "filters": {"request": {"()": RequestFields}},
        "handlers": {
            "gridloop": {
                "class": "logging.StreamHandler",
                "formatter": "gridloop",
                "filters": ["request"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": "INFO", "handlers": ["gridloop"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            # gunicorn writes its access lines at INFO: none pass
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
            **{name: {"level": "WARNING"} for name in QUIET_LOGGERS},
        },
    }


def _start() -> None:
    g.request_started = time.perf_counter()
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = offered if WELL_FORMED_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


def _finish(response: Response) -> Response:
    if "request_id" not in g:  # a response made before the first hook ran
        _start()
    response.headers[REQUEST_ID_HEADER] = g.request_id
    duration_ms = round((time.perf_counter() - g.request_started) * 1000, 1)
    access_log.info(
        "%s %s %s %.1f ms",
        request.method,
        request.path,
        response.status_code,
        duration_ms,
        extra={
            **request_fields(),
            "status": response.status_code,
            "duration_ms": duration_ms,
            "remote_addr": request.remote_addr,
        },
    )
    return response


def init_app(app: Flask) -> None:
    """Give every request its id, send it back, and log each request when it ends (register it first after the
    read scope, so that the id is there for everything the other hooks log, and the duration covers them)."""
    app.before_request(_start)
    app.after_request(_finish)


class QuietRequestHandler(WSGIRequestHandler):
    """The development server's request handler without its own line per request (``gridloop.access`` logs
    each one); its errors are still logged."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing: the app has logged the request."""
