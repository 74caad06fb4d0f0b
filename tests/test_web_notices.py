"""The notice centre through the web: the bell's unread count in the navigation, the list, opening a notice
(read, then its task), marking read and all read with CSRF, and the API's list and mark-read (own ones only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_support import PASSWORD, app_with_staff, html, post, report, staff

BELL = 'class="count bell-count">'


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    yield from app_with_staff(tmp_path, ("intake", "dispatcher"))


def test_the_bell_counts_unread_and_the_list_marks_them(app):
    gl = app.extensions["gridloop"]
    first = report(gl)
    report(gl)
    intake = staff(app, "intake")
    inbox = html(intake.get("/inbox"))
    assert BELL + "2<" in inbox
    page = html(intake.get("/notices"))
    assert page.count('class="notice unread"') == 2
    assert first["code"] in page and "新任务" in page
    assert BELL not in html(staff(app, "dispatcher").get("/inbox")), "the dispatcher has no notices"

    oldest = gl.notices("intake").rows[-1]
    opened = post(intake, f"/notices/{oldest['id']}/open", {}, page="/notices")
    assert opened.status_code == 303 and opened.headers["Location"].endswith(f"/tasks/{oldest['task_id']}")
    assert BELL + "1<" in html(intake.get("/notices"))

    assert post(intake, "/notices/read-all", {}, page="/notices").status_code == 303
    page = html(intake.get("/notices"))
    assert BELL not in page and 'class="notice unread"' not in page
    assert "没有未读通知" in html(intake.get("/notices?unread=1"))


def test_marking_needs_the_csrf_token_and_ones_own_notice(app):
    gl = app.extensions["gridloop"]
    report(gl)
    notice = gl.notices("intake").rows[0]
    intake = staff(app, "intake")
    assert intake.post(f"/notices/{notice['id']}/read").status_code == 400, "no CSRF token"
    dispatcher = staff(app, "dispatcher")
    assert post(dispatcher, f"/notices/{notice['id']}/read", {}, page="/notices").status_code == 404
    assert gl.notices("intake").counts["unread"] == 1, "nothing changed"


def _token(client: Any, username: str) -> dict[str, str]:
    answer = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.get_json()['token']}", "Accept-Language": "en"}


def test_the_api_lists_and_marks_only_ones_own(app):
    gl = app.extensions["gridloop"]
    report(gl)
    client = app.test_client()
    intake, dispatcher = _token(client, "intake"), _token(client, "dispatcher")
    listed = client.get("/api/v1/notices", headers=intake).get_json()
    assert (listed["total"], listed["unread"]) == (1, 1)
    [item] = listed["items"]
    assert (item["kind"], item["title"], item["unread"]) == ("task_offered", "New task", True)
    assert client.post(f"/api/v1/notices/{item['id']}/read", headers=dispatcher).status_code == 404
    read = client.post(f"/api/v1/notices/{item['id']}/read", headers=intake)
    assert read.status_code == 200 and read.get_json()["unread"] is False
    assert client.get("/api/v1/notices?unread=true", headers=intake).get_json()["total"] == 0
    assert client.get("/api/v1/notices?page=0", headers=intake).status_code == 400
