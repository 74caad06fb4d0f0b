"""HTTPS in one setting and a TLS proxy in front: ``GRIDLOOP_HTTPS`` turns on Secure cookies, HSTS on every
response and https URLs together (``GRIDLOOP_SECURE_COOKIES`` still marks the cookie alone);
``GRIDLOOP_TRUSTED_PROXIES`` trusts the forwarded headers of that many proxies, and nothing trusts them
otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import request, url_for
from web_support import PASSWORD, app_with_staff

from webui import create_app

SETTINGS = ("GRIDLOOP_HTTPS", "GRIDLOOP_SECURE_COOKIES", "GRIDLOOP_TRUSTED_PROXIES")
HSTS = "max-age=31536000; includeSubDomains"
FORWARDED = {
    "X-Forwarded-For": "198.51.100.9, 203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "grid.example.cn",
}
PROXY = {"REMOTE_ADDR": "10.0.0.2"}


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Build the app (demo district, gw_hb1 with a password) under the given environment settings."""
    bodies: list[Iterator[Any]] = []

    def make(**settings: str) -> Any:
        for name in SETTINGS:
            monkeypatch.delenv(name, raising=False)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        folder = tmp_path / f"app{len(bodies)}"
        folder.mkdir()
        body = app_with_staff(folder, ("gw_hb1",))
        bodies.append(body)
        return next(body)

    yield make
    for body in bodies:
        next(body, None)


def session_cookie(response: Any) -> str:
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def sign_in_over_https(client: Any) -> Any:
    """Sign in as a browser does over HTTPS: with the Referer flask-wtf's strict check asks for."""
    page = client.get("/login", base_url="https://localhost")
    token = page.get_data(as_text=True).split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return client.post(
        "/login",
        base_url="https://localhost",
        data={"username": "gw_hb1", "password": PASSWORD, "csrf_token": token},
        headers={"Referer": "https://localhost/login"},
    )


def test_without_settings_there_is_no_hsts_no_secure_cookie_and_urls_are_http(make_app):
    app = make_app()
    response = app.test_client().get("/login")
    assert "Strict-Transport-Security" not in response.headers
    assert "Secure" not in session_cookie(response)
    assert "HttpOnly" in session_cookie(response) and "SameSite=Lax" in session_cookie(response)
    app.config["SERVER_NAME"] = "grid.example.cn"
    with app.app_context():
        assert url_for("auth.login", _external=True) == "http://grid.example.cn/login"


def test_gridloop_https_turns_on_secure_cookies_hsts_on_every_response_and_https_urls(make_app):
    app = make_app(GRIDLOOP_HTTPS="1")
    client = app.test_client()
    signed_in = sign_in_over_https(client)
    assert signed_in.status_code == 303
    assert "Secure" in session_cookie(signed_in) and "HttpOnly" in session_cookie(signed_in)
    for path in (
        "/login",
        "/inbox",
        "/healthz",
        "/static/css/gridloop.css",
        "/api/v1/tasks",
        "/no/such/page",
    ):
        response = client.get(path, base_url="https://localhost")
        assert response.headers.get("Strict-Transport-Security") == HSTS, path
        assert response.status_code == {"/login": 302, "/api/v1/tasks": 401, "/no/such/page": 404}.get(
            path, 200
        ), path
    assert client.get("/inbox", base_url="https://localhost").status_code == 200
    app.config["SERVER_NAME"] = "grid.example.cn"
    with app.app_context():
        assert url_for("auth.login", _external=True) == "https://grid.example.cn/login"


def test_secure_cookies_alone_is_still_the_older_setting_for_the_cookie_only(make_app):
    app = make_app(GRIDLOOP_SECURE_COOKIES="true")
    response = app.test_client().get("/login")
    assert "Secure" in session_cookie(response)
    assert "Strict-Transport-Security" not in response.headers
    assert app.config["PREFERRED_URL_SCHEME"] == "http"


def test_forwarded_headers_are_not_trusted_unless_configured(make_app):
    app = make_app(GRIDLOOP_HTTPS="1")
    with app.test_client() as client:
        client.get("/healthz", base_url="http://localhost", headers=FORWARDED, environ_base=PROXY)
        assert request.remote_addr == "10.0.0.2"
        assert (request.scheme, request.host) == ("http", "localhost")


def test_trusted_proxies_make_the_client_address_scheme_and_host_those_the_proxy_saw(make_app):
    app = make_app(GRIDLOOP_HTTPS="1", GRIDLOOP_TRUSTED_PROXIES="1")
    with app.test_client() as client:
        response = client.get("/healthz", base_url="http://localhost", headers=FORWARDED, environ_base=PROXY)
        # the one proxy trusted appended the address it saw; what the client wrote before it is not believed
        assert request.remote_addr == "203.0.113.7"
        assert (request.scheme, request.host) == ("https", "grid.example.cn")
        assert request.is_secure
    assert response.headers["Strict-Transport-Security"] == HSTS


def test_trusted_proxies_must_be_a_count(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDLOOP_TRUSTED_PROXIES", "nginx")
    with pytest.raises(ValueError, match="GRIDLOOP_TRUSTED_PROXIES is 'nginx'"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", "SECRET_KEY": "k"})
