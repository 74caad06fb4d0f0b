"""The Tasklist's working tools (issue 12): assign and delegate within the scope, comments, follow-up dates with
their own inbox view, saved inbox filters — at the engine, through the pages and through the JSON API."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from web_support import PASSWORD, app_with_staff, complete, html, open_task, post, report, staff

from engine.app import Gridloop
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.reads.inbox import inbox_page
from engine.reads.tasks import task_page
from engine.store.models import HistoryEntry, Task

DISTRICT = "330199"


def at_dispatch(driver: Any) -> int:
    """A rubbish report accepted by intake: its 派遣 task, offered to the community's and the district's
    dispatchers."""
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    return driver.open_task(event_id, "dispatch")["id"]


def task_row(gl: Gridloop, task_id: int) -> Task:
    with gl.db.reading() as session:
        task = session.get(Task, task_id)
        assert task is not None
        session.expunge(task)
        return task


def records(gl: Gridloop, task_id: int, action: str) -> list[HistoryEntry]:
    with gl.db.reading() as session:
        found = session.scalars(
            select(HistoryEntry).where(HistoryEntry.task_id == task_id, HistoryEntry.action == action)
        ).all()
        for entry in found:
            session.expunge(entry)
        return list(found)


def inbox_ids(gl: Gridloop, username: str, view: str) -> list[int]:
    return [row["id"] for row in gl.inbox(username, view)[0]]


# ------------------------------------------------------------------ assign


def test_a_leader_assigns_a_task_of_their_scope_to_a_colleague_it_is_offered_to(gl, driver):
    task_id = at_dispatch(driver)
    assert gl.assign("leader_dh", task_id, "dispatcher_hb", "请今天派遣") == {
        "task": task_id,
        "assignee": "dispatcher_hb",
        "delegated_by": None,
    }
    assert task_id in inbox_ids(gl, "dispatcher_hb", "mine")
    assert task_id not in inbox_ids(gl, "dispatcher", "claimable")
    [record] = records(gl, task_id, "assigned")
    assert record.actor == "leader_dh"
    assert record.data == {"task": task_id, "to": "dispatcher_hb", "from": None, "note": "请今天派遣"}
    # a leader re-assigns a held task: the record names whom it was taken from
    gl.assign("leader", task_id, "dispatcher")
    assert records(gl, task_id, "assigned")[-1].data["from"] == "dispatcher_hb"
    assert task_id in inbox_ids(gl, "dispatcher", "mine")


def test_assigning_is_refused_to_non_leaders_out_of_scope_and_to_whom_the_task_is_not_offered(gl, driver):
    task_id = at_dispatch(driver)
    with pytest.raises(Forbidden) as refused:  # a dispatcher does the task but does not lead
        gl.assign("dispatcher", task_id, "dispatcher_hb")
    assert refused.value.code == "task.assign_not_allowed"
    with pytest.raises(NotFound):  # another town's leader cannot see the task at all
        gl.assign("leader_xs", task_id, "dispatcher_hb")
    with pytest.raises(ValidationFailed) as wrong:  # a grid worker is not offered a dispatch
        gl.assign("leader", task_id, "gw_hb1")
    assert wrong.value.errors["to"][0].code == "task.not_a_colleague"
    with pytest.raises(ValidationFailed):  # another town's dispatcher is not offered it either
        gl.assign("leader", task_id, "dispatcher_xs")
    with pytest.raises(ValidationFailed):
        gl.assign("leader", task_id, "dispatcher_hb", "长" * 201)
    assert task_row(gl, task_id).assignee is None
    assert records(gl, task_id, "assigned") == []


def test_the_assigning_roles_are_a_setting(gl, driver):
    task_id = at_dispatch(driver)
    gl.change_setting("admin", "assign_roles", ["dispatcher"])
    gl.assign("dispatcher", task_id, "dispatcher_hb")
    with pytest.raises(Forbidden):
        gl.assign("leader", task_id, "dispatcher")
    with pytest.raises(ValidationFailed):
        gl.change_setting("admin", "assign_roles", ["chief"])


def test_assigning_a_task_completed_meanwhile_or_twice_is_a_conflict(gl, driver):
    task_id = at_dispatch(driver)
    gl.assign("leader", task_id, "dispatcher_hb")
    with pytest.raises(Conflict) as twice:
        gl.assign("leader", task_id, "dispatcher_hb")
    assert twice.value.code == "task.already_theirs"
    gl.complete("dispatcher_hb", task_id, {"department": "DH-HW"})
    with pytest.raises(Conflict) as late:
        gl.assign("leader", task_id, "dispatcher")
    assert late.value.code == "task.already_completed"
    assert task_row(gl, task_id).completed_by == "dispatcher_hb"


# ------------------------------------------------------------------ delegate


def test_the_holder_delegates_and_the_delegate_gives_it_back(gl, driver):
    task_id = at_dispatch(driver)
    gl.claim("dispatcher", task_id)
    gl.delegate("dispatcher", task_id, "dispatcher_hb", "请协助")
    row = task_row(gl, task_id)
    assert (row.assignee, row.delegated_by) == ("dispatcher_hb", "dispatcher")
    assert task_id in inbox_ids(gl, "dispatcher_hb", "mine")
    with pytest.raises(Conflict) as unclaimed:  # a delegate gives it back rather than to everyone
        gl.unclaim("dispatcher_hb", task_id)
    assert unclaimed.value.code == "task.delegated_give_back"
    with pytest.raises(Forbidden):  # nor delegates it on
        gl.delegate("dispatcher_hb", task_id, "dispatcher")
    gl.give_back("dispatcher_hb", task_id, "已看过")
    row = task_row(gl, task_id)
    assert (row.assignee, row.delegated_by) == ("dispatcher", None)
    delegated, returned = records(gl, task_id, "delegated")
    assert delegated.data == {"task": task_id, "to": "dispatcher_hb", "from": "dispatcher", "note": "请协助"}
    assert returned.actor == "dispatcher_hb"
    assert returned.data == {
        "task": task_id,
        "to": "dispatcher",
        "from": "dispatcher_hb",
        "note": "已看过",
        "returned": True,
    }
    with pytest.raises(Conflict):  # given back twice
        gl.give_back("dispatcher_hb", task_id)


def test_a_delegate_completes_and_the_completion_names_the_delegator(gl, driver):
    task_id = at_dispatch(driver)
    gl.claim("dispatcher", task_id)
    gl.delegate("dispatcher", task_id, "dispatcher_hb")
    gl.complete("dispatcher_hb", task_id, {"department": "DH-HW"})
    [done] = records(gl, task_id, "complete")
    assert done.actor == "dispatcher_hb" and done.data["delegated_by"] == "dispatcher"
    assert task_row(gl, task_id).delegated_by == "dispatcher"


def test_delegating_is_for_the_holder_and_to_a_colleague_it_is_offered_to(gl, driver):
    task_id = at_dispatch(driver)
    with pytest.raises(Conflict):  # nobody holds it yet
        gl.delegate("dispatcher", task_id, "dispatcher_hb")
    gl.claim("dispatcher", task_id)
    with pytest.raises(Conflict):  # someone else holds it
        gl.delegate("dispatcher_hb", task_id, "dispatcher")
    for wrong in ("dispatcher", "gw_hb1", "no_such_user"):
        with pytest.raises(ValidationFailed):
            gl.delegate("dispatcher", task_id, wrong)
    with pytest.raises(NotFound):
        gl.delegate("dispatcher_xs", task_id, "dispatcher_hb")
    assert task_row(gl, task_id).assignee == "dispatcher"


# ------------------------------------------------------------------ comments


def test_whoever_sees_a_task_comments_on_it_and_the_page_shows_it(gl, driver):
    task_id = at_dispatch(driver)
    gl.comment("supervisor", task_id, "  请注意安全  ")
    gl.comment("dispatcher_hb", task_id, "已联系环卫所")
    with gl.reading("dispatcher") as reader:
        tools = task_page(reader, task_id)["tools"]
    assert [(c["by"], c["text"]) for c in tools["comments"]] == [
        ("supervisor", "请注意安全"),
        ("dispatcher_hb", "已联系环卫所"),
    ]
    event = driver.event(driver.gl.task_detail("dispatcher", task_id)["task"]["event_id"])
    assert [h["data"]["text"] for h in event["history"] if h["action"] == "comment"] == [
        "请注意安全",
        "已联系环卫所",
    ]
    with pytest.raises(NotFound):
        gl.comment("gw_xs1", task_id, "看不到")
    for bad in ("", "   ", "x" * 1001, "a\x00b", "a\ud800b"):
        with pytest.raises(ValidationFailed) as refused:
            gl.comment("dispatcher", task_id, bad)
        assert "text" in refused.value.errors
    assert len(records(gl, task_id, "comment")) == 2


# ------------------------------------------------------------------ follow-up dates


def test_follow_up_dates_list_the_holders_tasks_due_ones_first_and_marked(gl, driver):
    first, second = at_dispatch(driver), at_dispatch(driver)
    for task_id in (first, second):
        gl.claim("dispatcher", task_id)
    today = gl.now().astimezone(gl.calendar.timezone).date()
    gl.set_follow_up("dispatcher", first, today + timedelta(days=3))
    gl.set_follow_up("dispatcher", second, datetime.combine(today, datetime.min.time()))
    rows = gl.inbox("dispatcher", "follow_up")[0]
    assert [r["id"] for r in rows] == [second, first]
    with gl.reading("dispatcher") as reader:
        marked = {r["id"]: r["follow_up_due"] for r in inbox_page(reader, "follow_up").rows}
    assert marked == {second: True, first: False}
    due = task_row(gl, first).follow_up_at
    assert due is not None and due.astimezone(gl.calendar.timezone).isoformat() == (
        f"{today + timedelta(days=3)}T00:00:00+08:00"
    )
    [record] = records(gl, first, "follow_up")
    assert record.data == {"task": first, "at": due.isoformat(), "before": None}
    gl.set_follow_up("dispatcher", first, None)
    assert inbox_ids(gl, "dispatcher", "follow_up") == [second]
    with pytest.raises(Conflict):  # not the holder
        gl.set_follow_up("dispatcher_hb", second, today)
    with pytest.raises(ValidationFailed):
        gl.set_follow_up("dispatcher", second, date(1, 1, 1))


# ------------------------------------------------------------------ saved filters


def test_saved_filters_are_per_user_named_and_checked(gl):
    saved = gl.save_filter("dispatcher", " 红灯 ", {"view": "mine", "colour": "red", "grid": ""})
    assert (saved["name"], saved["filters"]) == ("红灯", {"view": "mine", "colour": "red"})
    gl.save_filter("dispatcher_hb", "红灯", {"colour": "red"})  # another user's own
    assert [f["name"] for f in gl.saved_filters("dispatcher")] == ["红灯"]
    for name, filters, field in (
        ("", {}, "name"),
        ("x" * 65, {}, "name"),
        ("红灯", {}, "name"),
        ("颜色", {"colour": "purple"}, "filters.colour"),
        ("词", {"words": "垃圾"}, "filters.words"),
        ("a\x00", {}, "name"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            gl.save_filter("dispatcher", name, filters)
        assert field in refused.value.errors
    with pytest.raises(NotFound):  # another user's filter answers as none
        gl.delete_filter("dispatcher_hb", saved["id"])
    gl.delete_filter("dispatcher", saved["id"])
    assert gl.saved_filters("dispatcher") == []
    with pytest.raises(NotFound):
        gl.delete_filter("dispatcher", saved["id"])


# ------------------------------------------------------------------ through the pages and the API

WEB_STAFF = ("leader", "dispatcher", "dispatcher_hb", "gw_xs1")


@pytest.fixture
def app(tmp_path):
    yield from app_with_staff(tmp_path, WEB_STAFF)


def web_task(app: Any) -> int:
    gl = app.extensions["gridloop"]
    event_id = report(gl)["id"]
    complete(gl, "intake", event_id, "accept", {"decision": "accept"})
    return open_task(gl, event_id)["id"]


def test_the_task_page_offers_the_tools_and_they_work(app):
    gl = app.extensions["gridloop"]
    task_id = web_task(app)
    leader = staff(app, "leader")
    page = html(leader.get(f"/tasks/{task_id}"))
    assert f'action="/tasks/{task_id}/assign"' in page and 'value="dispatcher_hb"' in page
    assert f'action="/tasks/{task_id}/delegate"' not in page  # nobody holds it to delegate
    answer = post(leader, f"/tasks/{task_id}/assign", {"to": "dispatcher_hb"}, f"/tasks/{task_id}")
    assert answer.status_code == 303
    hb = staff(app, "dispatcher_hb")
    assert f'href="/tasks/{task_id}"' in html(hb.get("/inbox?view=mine"))
    page = html(hb.get(f"/tasks/{task_id}"))
    assert f'action="/tasks/{task_id}/delegate"' in page and f'action="/tasks/{task_id}/follow-up"' in page
    # a colleague it is not offered to is the field's error, shown beside the select; nothing changed
    refused = post(
        hb, f"/tasks/{task_id}/delegate", {"to": "gw_xs1", "tool": "delegate"}, f"/tasks/{task_id}"
    )
    assert refused.status_code == 400 and "请选择办理该任务的同事" in html(refused)
    assert (
        post(hb, f"/tasks/{task_id}/delegate", {"to": "dispatcher"}, f"/tasks/{task_id}").status_code == 303
    )
    dispatcher = staff(app, "dispatcher")
    page = html(dispatcher.get(f"/tasks/{task_id}"))
    assert "由 " in page and "委托" in page and f'action="/tasks/{task_id}/give-back"' in page
    assert f'action="/tasks/{task_id}/unclaim"' not in page
    post(dispatcher, f"/tasks/{task_id}/comments", {"text": "已联系环卫所"}, f"/tasks/{task_id}")
    post(dispatcher, f"/tasks/{task_id}/follow-up", {"follow_up_at": "2026-11-23"}, f"/tasks/{task_id}")
    follow = html(dispatcher.get("/inbox?view=follow_up"))
    assert f'href="/tasks/{task_id}"' in follow and "已到跟进日" in follow
    assert "2026-11-23" in follow and "2026-11-23 00:00" not in follow  # a day, said as a day
    assert re.search(r"待跟进\s*<span class=\"count\">1</span>", follow), "the tab says how many"
    bad = post(
        dispatcher,
        f"/tasks/{task_id}/follow-up",
        {"follow_up_at": "明天", "tool": "follow_up"},
        f"/tasks/{task_id}",
    )
    assert bad.status_code == 400
    assert post(dispatcher, f"/tasks/{task_id}/give-back", {}, f"/tasks/{task_id}").status_code == 303
    assert task_row(gl, task_id).assignee == "dispatcher_hb"
    event_page = html(dispatcher.get(f"/events/{task_row(gl, task_id).event_id}"))
    assert (
        "已联系环卫所" in html(hb.get(f"/tasks/{task_id}")) and "评论" in event_page and "委托" in event_page
    )
    # a stale assignment (the task completed meanwhile) says so, and changes nothing
    gl.complete("dispatcher_hb", task_id, {"department": "DH-HW"})
    stale = post(leader, f"/tasks/{task_id}/assign", {"to": "dispatcher"}, "/inbox")
    assert stale.status_code == 303
    assert "办结，本次操作未生效" in html(leader.get(stale.headers["Location"]))
    assert records(gl, task_id, "assigned")[-1].data["to"] == "dispatcher_hb"


def test_saved_filters_on_the_inbox(app):
    client = staff(app, "dispatcher")
    answer = post(client, "/inbox/filters", {"name": "红灯", "view": "mine", "colour": "red"}, "/inbox")
    assert answer.status_code == 303
    page = html(client.get("/inbox"))
    assert "红灯" in page and "view=mine" in page and "colour=red" in page
    again = post(client, "/inbox/filters", {"name": "红灯", "view": "claimable"}, "/inbox")
    assert "您已有同名的常用筛选" in html(client.get(again.headers["Location"]))
    [saved] = app.extensions["gridloop"].saved_filters("dispatcher")
    assert saved["filters"] == {"view": "mine", "colour": "red"}
    post(client, f"/inbox/filters/{saved['id']}/delete", {}, "/inbox")
    assert app.extensions["gridloop"].saved_filters("dispatcher") == []


def api_token(app: Any, username: str) -> dict[str, str]:
    answer = app.test_client().post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.get_json()['token']}"}


def test_the_api_assigns_delegates_comments_follows_up_and_keeps_filters(app):
    task_id = web_task(app)
    api = app.test_client()
    leader, hb, xs = (api_token(app, u) for u in ("leader", "dispatcher_hb", "gw_xs1"))
    answer = api.post(f"/api/v1/tasks/{task_id}/assign", json={"to": "dispatcher_hb"}, headers=leader)
    assert answer.status_code == 200 and answer.get_json()["assignee"] == "dispatcher_hb"
    assert (
        api.post(f"/api/v1/tasks/{task_id}/assign", json={"to": "dispatcher_hb"}, headers=leader).status_code
        == 409
    )
    assert (
        api.post(f"/api/v1/tasks/{task_id}/assign", json={"to": "dispatcher"}, headers=xs).status_code == 404
    )
    assert (
        api.post(f"/api/v1/tasks/{task_id}/delegate", json={"to": "dispatcher"}, headers=hb).status_code
        == 200
    )
    mine = api.get("/api/v1/tasks?view=mine", headers=api_token(app, "dispatcher")).get_json()["items"]
    assert [(t["id"], t["delegated_by"]) for t in mine] == [(task_id, "dispatcher_hb")]
    dispatcher = api_token(app, "dispatcher")
    comment = api.post(f"/api/v1/tasks/{task_id}/comments", json={"text": "a\u0000"}, headers=dispatcher)
    assert comment.status_code == 400 and "text" in comment.get_json()["errors"]
    assert (
        api.post(f"/api/v1/tasks/{task_id}/comments", json={"text": "好"}, headers=dispatcher).status_code
        == 201
    )
    follow = api.post(
        f"/api/v1/tasks/{task_id}/follow-up", json={"follow_up_at": "2026-11-25"}, headers=dispatcher
    )
    assert follow.get_json()["follow_up_at"] == "2026-11-24T16:00:00+00:00"
    listed = api.get("/api/v1/tasks?view=follow_up", headers=dispatcher).get_json()["items"]
    assert [t["id"] for t in listed] == [task_id]
    assert api.post(f"/api/v1/tasks/{task_id}/give-back", json={}, headers=dispatcher).status_code == 200
    saved = api.post("/api/v1/filters", json={"name": "我的红灯", "filters": {"colour": "red"}}, headers=hb)
    assert saved.status_code == 201
    dup = api.post("/api/v1/filters", json={"name": "我的红灯", "filters": {}}, headers=hb)
    assert dup.status_code == 400 and "name" in dup.get_json()["errors"]
    assert [f["name"] for f in api.get("/api/v1/filters", headers=hb).get_json()] == ["我的红灯"]
    filter_id = saved.get_json()["id"]
    assert api.delete(f"/api/v1/filters/{filter_id}", headers=leader).status_code == 404
    assert api.delete(f"/api/v1/filters/{filter_id}", headers=hb).status_code == 200
