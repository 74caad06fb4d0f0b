"""The notice centre (通知): the bell with the unread count in the navigation, the list of one's notices, and
marking them read — and the texts of a notice in its reader's language, for the page and for the outbox.

The count is read through the request's one read session with the navigation's other counts; marking read is
a command (:mod:`engine.commands.notices`). Opening a notice from the list marks it read and goes to its task
(while the task is open) or its case.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine.app import Gridloop
from engine.reads.notices import notice_page, unread_count
from webui.api_schemas import MAX_PAGE
from webui.context import gridloop, reader, username
from webui.i18n import N_, translate_to

bp = Blueprint("notices", __name__)

PER_PAGE = 20
# the values a notice's texts may name (every text is given them all, an absent one as empty)
TEXT_VALUES = ("event", "step", "department", "colour", "card", "reason", "by")


@bp.app_context_processor
def navigation() -> dict:
    """``nav_unread()`` for the bell: the signed-in user's unread notices, read once per page."""

    def nav_unread() -> int:
        if g.get("user") is None:
            return 0
        if "nav_unread" not in g:
            g.nav_unread = unread_count(reader())
        return g.nav_unread

    return {"nav_unread": nav_unread, "notice_texts": texts}


def texts(kind: str, data: dict[str, Any], language: str | None) -> dict[str, str]:
    """A notice's title and text in ``language`` (None: the request's), from the catalog's ``notice.kind.*``
    and ``notice.text.*``."""
    values = {name: "" for name in TEXT_VALUES}
    values.update(
        event=data.get("event_code") or "",
        step=data.get("step") or translate_to(language, N_("notice.whole_case")),
        department=data.get("department") or "",
        reason=data.get("reason") or "",
        by=data.get("by") or "",
    )
    if data.get("colour"):
        values["colour"] = translate_to(language, f"light.{data['colour']}", default=data["colour"])
    if data.get("card"):
        values["card"] = translate_to(language, f"sheet.card.{data['card']}", default=data["card"])
    return {
        "title": translate_to(language, f"notice.kind.{kind}", default=kind),
        "text": translate_to(language, f"notice.text.{kind}", default="", **values),
    }


def outbox_texts(payload: dict[str, Any]) -> dict[str, str]:
    """An outbox message's title, text and link in its recipient's language; the link is absolute when
    ``GRIDLOOP_BASE_URL`` says where the site is served (e.g. ``https://grid.example.cn``)."""
    found = texts(payload["kind"], payload.get("data") or {}, payload.get("language") or "zh")
    path = target(payload["kind"], payload.get("task_id"), payload.get("event_id"))
    return {**found, "link": os.environ.get("GRIDLOOP_BASE_URL", "").rstrip("/") + path}


def target(kind: str, task_id: int | None, event_id: int | None) -> str:
    """Where a notice leads: its task's page (the tasks.show route), or for a sheet's reply or clearing and
    a notice without a task its case's page (events.show)."""
    if task_id is not None and kind not in ("sheet_replied", "sheet_cleared"):
        return f"/tasks/{task_id}"
    if event_id is not None:
        return f"/events/{event_id}"
    return "/notices"


def install(gl: Gridloop) -> Gridloop:
    """Give the engine the catalogs' texts for what its outbox sends."""
    gl.parts.notice_texts = outbox_texts
    return gl


def init_app(app: Flask) -> None:
    """Install the outbox's texts on the app's engine."""
    install(app.extensions["gridloop"])


@bp.get("/notices")
def index() -> str:
    """The signed-in user's notices, newest first, unread ones marked; ``?unread=1`` shows only those."""
    unread_only = request.args.get("unread") == "1"
    listing = notice_page(
        reader(),
        page=min(MAX_PAGE, max(1, request.args.get("page", 1, type=int))),
        per_page=PER_PAGE,
        unread_only=unread_only,
    )
    g.nav_unread = listing.counts["unread"]
    return render_template("notices.html", listing=listing, unread_only=unread_only)


@bp.post("/notices/<int:notice_id>/read")
def read(notice_id: int) -> Response:
    """Mark one notice read and come back to the list."""
    gridloop().mark_notice_read(username(), notice_id)
    back = url_for("notices.index", page=request.args.get("page"), unread=request.args.get("unread"))
    return redirect(back, code=303)


@bp.post("/notices/read-all")
def read_all() -> Response:
    """Mark every notice read."""
    gridloop().mark_all_notices_read(username())
    return redirect(url_for("notices.index"), code=303)


@bp.post("/notices/<int:notice_id>/open")
def open_notice(notice_id: int) -> Response:
    """Mark the notice read and go to its task, or its case (the task page says when it is done already)."""
    notice = gridloop().mark_notice_read(username(), notice_id)
    return redirect(target(notice["kind"], notice["task_id"], notice["event_id"]), code=303)
