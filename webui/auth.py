"""Signing in and out, and the rule that every page but a few needs a signed-in user.

Passwords and the lock-out after repeated failures are the engine's (:mod:`engine.org.auth`); this module keeps
the signed-in username in the session cookie (signed, HttpOnly, SameSite=Lax, Secure outside the demo: see
:mod:`webui.security`) and turns the engine's answer into a message. The JSON API authenticates its own way.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from engine.errors import NotFound
from engine.org.auth import AuthenticationFailed
from webui.i18n import local_time, translate
from webui.links import local_url

bp = Blueprint("auth", __name__)

# endpoints anyone may reach; the API blueprint checks its bearer tokens itself
PUBLIC_ENDPOINTS = frozenset({"auth.login", "static", "status.health", "i18n.switch"})


@bp.before_app_request
def load_user() -> Response | None:
    """Put the signed-in user on ``g.user``; send anyone else to the sign-in page."""
    g.user = None
    username = session.get("user")
    if username:
        try:
            g.user = current_app.extensions["gridloop"].load_actor(username)
        except NotFound:
            session.clear()
    if g.user is not None or request.blueprint == "api" or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if request.endpoint is None:
        return None
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


@bp.route("/login", methods=("GET", "POST"))
def login() -> Response | str | tuple[str, int]:
    """The sign-in form; a wrong password and a locked account each get a clear message."""
    target = local_url(request.values.get("next"), url_for("inbox.index"))
    if request.method == "GET" and g.user is not None:
        return redirect(target)
    if request.method == "GET":
        return render_template("login.html", next=target, username="", error=None)
    username = request.form.get("username", "").strip()
    gl = current_app.extensions["gridloop"]
    try:
        actor = gl.sign_in(username, request.form.get("password", ""))
    except AuthenticationFailed as exc:
        if exc.locked_until is not None:
            error = translate("auth.locked", until=local_time(exc.locked_until))
        else:
            error = translate("auth.wrong_password")
        return render_template("login.html", next=target, username=username, error=error), 401
    session.clear()
    session.permanent = True
    session["user"] = actor.username
    session["lang"] = gl.user_language(actor.username)
    return redirect(target, code=303)


@bp.post("/logout")
def logout() -> Response:
    """Sign out: forget the session entirely."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"), code=303)
