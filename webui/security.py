"""Browser-facing protections: CSRF tokens on every form, cookie flags, and response headers.

Every POST from a page carries a CSRF token (flask-wtf); the JSON API, authenticated by bearer tokens rather
than cookies, is exempted where the app is built. The session cookie is HttpOnly and SameSite=Lax always, and
Secure when ``GRIDLOOP_SECURE_COOKIES`` is true — it must be behind HTTPS in production and stays false by
default so that the local demo on plain http can sign in. The content security policy allows only this
site's own scripts and styles (bpmn-js is vendored, nothing comes from a CDN).
"""

from __future__ import annotations

import os

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response

csrf = CSRFProtect()

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def secure_cookies_from_env() -> bool:
    """Whether ``GRIDLOOP_SECURE_COOKIES`` asks for Secure cookies (1, true, yes, on)."""
    return os.environ.get("GRIDLOOP_SECURE_COOKIES", "").strip().lower() in ("1", "true", "yes", "on")


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def init_app(app: Flask) -> None:
    """Turn on CSRF protection and the security headers."""
    csrf.init_app(app)
    app.after_request(_headers)
