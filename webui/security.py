"""Browser-facing protections: CSRF tokens on every form, cookie flags, response headers, HTTPS and proxies.

Every POST from a page carries a CSRF token (flask-wtf); the JSON API, authenticated by bearer tokens rather
than cookies, is exempted where the app is built. The session cookie is HttpOnly and SameSite=Lax always. The
content security policy allows only this site's own scripts and styles (bpmn-js is vendored, nothing comes from
a CDN).

HTTPS is one setting, ``GRIDLOOP_HTTPS`` (config ``HTTPS``): it marks the session cookie Secure, sends
``Strict-Transport-Security`` with every response and makes ``https`` the scheme of URLs built outside a
request. Production must set it; it is off by default only so that the local demo on plain http can sign in.
``GRIDLOOP_SECURE_COOKIES`` still marks the cookie Secure alone (the setting of earlier releases).

Behind a TLS proxy, ``GRIDLOOP_TRUSTED_PROXIES=N`` (config ``TRUSTED_PROXIES``) trusts the ``X-Forwarded-For``,
``-Proto`` and ``-Host`` headers of the N proxies in front (werkzeug's ProxyFix), so that
``request.remote_addr`` is the client's address — what the sign-in throttle counts per address — and
``request.scheme`` is https. It is 0 by default: headers anyone can send are never trusted unless configured.
"""

from __future__ import annotations

import os

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

csrf = CSRFProtect()

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"
TRUE_WORDS = ("1", "true", "yes", "on")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUE_WORDS


def https_from_env() -> bool:
    """Whether ``GRIDLOOP_HTTPS`` says the site is served over HTTPS (1, true, yes, on)."""
    return _flag("GRIDLOOP_HTTPS")


def secure_cookies_from_env() -> bool:
    """Whether the session cookie is to be Secure: ``GRIDLOOP_HTTPS``, or its older alias
    ``GRIDLOOP_SECURE_COOKIES`` (1, true, yes, on)."""
    return https_from_env() or _flag("GRIDLOOP_SECURE_COOKIES")


def trusted_proxies_from_env() -> int:
    """How many proxies in front of the app ``GRIDLOOP_TRUSTED_PROXIES`` says to trust (0 when unset)."""
    value = os.environ.get("GRIDLOOP_TRUSTED_PROXIES", "").strip() or "0"
    if not (value.isascii() and value.isdigit()):
        raise ValueError(
            f"GRIDLOOP_TRUSTED_PROXIES is {value!r}: set it to the number of proxies in front of gridloop"
            " (1 for one nginx), or leave it unset"
        )
    return int(value)


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _strict_transport(response: Response) -> Response:
    response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    return response


def init_app(app: Flask) -> None:
    """Turn on CSRF protection and the security headers; with ``HTTPS``, Secure cookies, HSTS and https URLs;
    with ``TRUSTED_PROXIES``, the proxies' forwarded headers."""
    csrf.init_app(app)
    app.after_request(_headers)
    if app.config.get("HTTPS"):
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["PREFERRED_URL_SCHEME"] = "https"
        app.after_request(_strict_transport)
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
