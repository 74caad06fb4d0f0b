"""Who and what a request works with: the app's one engine, the signed-in user, and the request's one read.

Every request reads through one read scope of the engine's database (:meth:`engine.store.db.Database.read_scope`),
opened before anything else runs and closed at teardown — flaskr's one database handle per request: one
session on one pooled connection, one snapshot, whatever the page, its navigation and its filters read. A
command the request runs has its own unit of work; once it commits, the next read sees it.
"""

from __future__ import annotations

from contextlib import ExitStack

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from engine.app import Gridloop
from engine.org.people import Actor
from engine.reads.reader import Reader
from webui.i18n import current_language


def gridloop() -> Gridloop:
    """The engine the app was built with."""
    return current_app.extensions["gridloop"]


def username() -> str:
    """The signed-in user's username (every page but the public ones has one: see :mod:`webui.auth`)."""
    return g.user.username


def actor() -> Actor:
    """The signed-in user with their roles, loaded once for the request (see :mod:`webui.auth`)."""
    return g.user


def read_session() -> Session:
    """The request's read session (public pages read through it too: they have no user, hence no reader)."""
    return g.read_scope.session


def reader() -> Reader:
    """The signed-in user's reader on the request's read session, for the read models of :mod:`engine.reads`."""
    if "reader" not in g:
        g.reader = gridloop().reader(g.user, read_session(), current_language())
    return g.reader


def _open_read_scope() -> None:
    g.read_stack = ExitStack()
    g.read_scope = g.read_stack.enter_context(gridloop().db.read_scope())


def _close_read_scope(_error: BaseException | None) -> None:
    stack = g.pop("read_stack", None)
    if stack is not None:
        stack.close()


def init_app(app: Flask) -> None:
    """Open the request's read scope before each request and close it at its teardown (called before any other
    hook is registered, so that the scope is open before anything reads — the sign-in check included)."""
    app.before_request(_open_read_scope)
    app.teardown_request(_close_read_scope)
