"""Signing in and out, and the rule that every page but a few needs a signed-in user.

Passwords, the throttles on failed sign-ins and the sessions a sign-in issues are the engine's
(:mod:`engine.org.auth`); this module keeps the signed-in username and the session's id in the session cookie
(signed, HttpOnly, SameSite=Lax, Secure over HTTPS: see :mod:`webui.security`), checks on every request that
the session is still live — signing out, a password or role change, an admin's revocation end it at once,
whatever copies of the cookie exist — and turns the engine's answer into a message. The JSON API
authenticates its own way.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from engine.errors import NotFound
from engine.org.auth import AuthenticationFailed, TooManyAttempts
from webui.i18n import local_time, translate
from webui.links import local_url

bp = Blueprint("auth", __name__)

# endpoints anyone may reach; the API blueprint checks its bearer tokens itself
PUBLIC_ENDPOINTS = frozenset({"auth.login", "static", "status.health", "i18n.switch"})


@bp.before_app_request
def load_user() -> Response | None:
    """Put the signed-in user on ``g.user``; send anyone else to the sign-in page."""
    g.user = None
    if request.blueprint == "api":  # bearer tokens only: a session cookie never reaches the API
        return None
    username, session_id = session.get("user"), session.get("sid")
    if username:
        try:
            if not isinstance(session_id, str):
                raise NotFound("a session from before sessions were recorded", code="auth.revoked")
            g.user = current_app.extensions["gridloop"].load_actor(username, session_id)
        except (NotFound, AuthenticationFailed):
            lang = session.get("lang")
            session.clear()
            if lang:
                session["lang"] = lang
    if g.user is not None or request.endpoint in PUBLIC_ENDPOINTS:
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
        signed_in = gl.sign_in(
            username,
            request.form.get("password", ""),
            address=request.remote_addr or "unknown",
            kind="session",
            lifetime=current_app.permanent_session_lifetime,
        )
    except AuthenticationFailed as exc:
        status = 429 if isinstance(exc, TooManyAttempts) else 401
        if isinstance(exc, TooManyAttempts) and exc.locked_until is not None:
            error = translate("auth.too_many_attempts", until=local_time(exc.locked_until))
        elif exc.locked_until is not None:
            error = translate("auth.locked", until=local_time(exc.locked_until))
        else:
            error = translate("auth.wrong_password")
        return render_template("login.html", next=target, username=username, error=error), status
    session.clear()
    session.permanent = True
    session["user"] = signed_in.actor.username
    session["sid"] = signed_in.token_id
    session["lang"] = gl.user_language(signed_in.actor.username)
    return redirect(target, code=303)


@bp.post("/logout")
def logout() -> Response:
    """Sign out: end the session in the database (so that no copy of the cookie works any more) and forget
    it here."""
    lang = session.get("lang")
    if g.user is not None and isinstance(session.get("sid"), str):
        current_app.extensions["gridloop"].sign_out(g.user.username, session["sid"])
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"), code=303)
