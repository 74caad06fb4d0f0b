"""Similar cases (相似案件): a report of the same sub-category close by in place and time, described alike, is
proposed to intake with its distance and likeness; linked, it opens no case of its own (立案数 counts the problem
once), its reporter is recorded on the case and told when the case closes; a link to a case that is not open, of
another sub-category or unknown is refused naming the field, and nothing changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import GRID_HB1, GRID_HB2, Driver
from sqlalchemy import select

from engine.app import Gridloop
from engine.audit import verification
from engine.demo import boundaries
from engine.errors import ValidationFailed
from engine.evaluation import metrics
from engine.reads import similar
from engine.reads.events import event_page
from engine.reads.tasks import task_page
from engine.store.models import Event, HistoryEntry, Notice

SITE = boundaries.shapes()[GRID_HB1].representative_point()


def _near(metres_east: float) -> dict[str, float]:
    """A point ``metres_east`` of the site (a degree of longitude is about 96 km at 30°N)."""
    return {"lng": round(SITE.x + metres_east / 96_170, 7), "lat": round(SITE.y, 7)}


def _opened(driver: Driver, **data: Any) -> int:
    """A rubbish case at the site, reported by the grid worker, accepted and waiting to be dispatched."""
    event_id = driver.report("gw_hb1", location=_near(0), **data)
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    return event_id


def _district(gl: Gridloop, period: tuple[Any, Any]) -> dict[str, Any]:
    with gl.db.reading() as session:
        [row] = metrics.evaluate(session, *period, "district", now=gl.now())
    return row


def _proposals(gl: Gridloop, event_id: int, username: str = "intake") -> list[dict[str, Any]]:
    accept = next(t for t in gl.event_detail("admin", event_id)["tasks"] if t["status"] == "open")
    with gl.reading(username) as reader:
        page = task_page(reader, accept["id"])
    assert page["similar"] is not None and page["similar"]["field"] == "similar_to"
    return page["similar"]["cases"]


def test_descriptions_are_compared_by_their_words() -> None:
    same = similar.text_similarity("路边有一堆暴露垃圾，无人清运", "路边一堆垃圾无人清运")
    reworded = similar.text_similarity("路边有一堆暴露垃圾，无人清运", "小区门口路边的垃圾好几天没人清理")
    other = similar.text_similarity("路边有一堆暴露垃圾，无人清运", "井盖缺失，行人有跌落危险")
    assert same > 0.8 and 0.2 < reworded < 0.5 and other == 0.0
    assert similar.words("路边有一堆垃圾") == ("一堆", "垃圾", "路边")  # 有: a particle, left out
    assert 45 < similar.metres((SITE.x, SITE.y), (_near(50)["lng"], _near(50)["lat"])) < 55


def test_a_near_alike_report_is_proposed_with_its_distance_and_likeness(gl: Gridloop, driver: Driver) -> None:
    case = _opened(driver, description="路边有一堆暴露垃圾，无人清运")
    report = driver.report("gw_hb1", location=_near(30), description="路边一堆垃圾，好几天无人清运")
    [proposed] = _proposals(gl, report)
    assert proposed["id"] == case and 25 < proposed["distance_m"] < 35
    assert proposed["similarity"] > 0.5
    # too far, another sub-category, unlike text, or out of the window: not proposed
    far = driver.report("gw_hb1", location=_near(80), description="路边一堆垃圾，好几天无人清运")
    assert _proposals(gl, far) == []
    other = driver.report("gw_hb1", location=_near(10), category="0201", description="路边一堆垃圾无人清运")
    assert _proposals(gl, other) == []
    unlike = driver.report("gw_hb1", location=_near(10), description="绿化带里的树枝被风刮断挡路")
    assert _proposals(gl, unlike) == []
    gl.clock.advance(timedelta(hours=25))
    late = driver.report("gw_hb1", location=_near(10), description="路边一堆垃圾，好几天无人清运")
    assert _proposals(gl, late) == []
    # the setting widens the window and the distance
    gl.change_setting(
        "admin", "similar_cases", {"distance_m": 100, "window_hours": 48, "min_similarity": 0.2}
    )
    assert [c["id"] for c in _proposals(gl, late)] == [case]
    assert [c["id"] for c in _proposals(gl, far)] == [case]


def test_without_points_a_case_of_the_same_grid_is_proposed(gl: Gridloop, driver: Driver) -> None:
    case = driver.report("gw_hb1")
    driver.complete("intake", case, "accept", {"decision": "accept"})
    report = driver.report("gw_hb1", description="路边有一堆暴露垃圾，一直无人清运")
    [proposed] = _proposals(gl, report)
    assert (proposed["id"], proposed["distance_m"]) == (case, None)
    elsewhere = driver.report("gw_hb2", grid=GRID_HB2, description="路边有一堆暴露垃圾，一直无人清运")
    assert _proposals(gl, elsewhere, "intake") == []


def test_a_linked_report_opens_no_case_and_its_reporter_hears_when_the_case_closes(
    gl: Gridloop, driver: Driver
) -> None:
    case = _opened(driver)
    code = gl.event_detail("admin", case)["code"]
    month = (gl.now() - timedelta(days=1), gl.now() + timedelta(days=30))
    before = _district(gl, month)
    # a hotline caller reports the same pile: checked on site, then linked at intake
    report = gl.report(
        "intake",
        {
            "category": "0101",
            "description": "市民来电：路边有一堆暴露垃圾，无人清运",
            "channel": "hotline",
            "reporter_name": "孙女士",
            "reporter_phone": "13812340000",
            "location": _near(20),
        },
    )["id"]
    driver.complete("gw_hb1", report, "check_exists", {"exists": True})
    assert [c["id"] for c in _proposals(gl, report)] == [case]
    driver.complete("intake", report, "accept", {"decision": "similar", "similar_to": code})
    with gl.db.reading() as session:
        linked = session.get(Event, report)
        assert linked is not None and (linked.state, linked.opened_at, linked.completed) == (
            "linked",
            None,
            True,
        )
        records = session.scalars(
            select(HistoryEntry).where(HistoryEntry.event_id == case, HistoryEntry.action == "similar_linked")
        ).all()
    assert [(r.actor, r.data) for r in records] == [
        ("intake", {"event": report, "code": linked.code, "reporter": "intake", "channel": "hotline"})
    ]
    after = _district(gl, month)
    assert after["opened"] == before["opened"]  # 立案数 counts the problem once
    page = gl.event_detail("admin", case)
    with gl.reading("intake") as reader:
        shown = event_page(reader, case)["similar_reports"]
    assert [(r["id"], r["reporter_name"], r["reporter_phone"]) for r in shown] == [
        (report, "孙女士", "13812340000")
    ]
    with gl.reading("gw_hb1") as reader:
        masked = event_page(reader, case)["similar_reports"]
    assert [(r["reporter_name"], r["reporter_phone"]) for r in masked] == [("孙**", "138****0000")]
    assert page["state"] == "open"
    # the case runs its course; closing it tells the linked report's reporter (intake entered the call)
    driver.complete("dispatcher", case, "dispatch", {"department": "DH-HW"})
    driver.complete("h_dh_hw", case, "handle", {"action": "done", "result": "已清运"})
    driver.complete("gw_hb1", case, "verify", {"passed": True})
    driver.complete("leader", case, "close", {"opinion": "同意"})
    with gl.db.reading() as session:
        told = session.scalars(select(Notice).where(Notice.kind == "similar_closed")).all()
    assert [(n.username, n.event_id, n.data["event_code"]) for n in told] == [("intake", case, code)]
    assert verification.verify_all(gl, workers=1)["mismatches"] == []


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("unknown", "similar.unknown_case"),
        ("closed", "similar.not_open"),
        ("reported", "similar.not_open"),
        ("other", "similar.other_category"),
        ("itself", "similar.unknown_case"),
    ],
)
def test_a_link_to_a_case_that_is_not_an_open_one_of_the_sub_category_is_refused(
    gl: Gridloop, driver: Driver, target: str, expected: str
) -> None:
    report = driver.report("gw_hb1", location=_near(10))
    if target == "unknown":
        code = "E20261123999999"
    elif target == "itself":
        code = gl.event_detail("admin", report)["code"]
    else:
        if target == "other":
            other = _opened(driver, category="0201", description="井盖缺失，行人有跌落危险")
        elif target == "reported":
            other = driver.report("gw_hb1")
        else:
            other = _opened(driver)
            driver.complete("dispatcher", other, "dispatch", {"department": "DH-HW"})
            driver.complete("h_dh_hw", other, "handle", {"action": "done", "result": "已清运"})
            driver.complete("gw_hb1", other, "verify", {"passed": True})
            driver.complete("leader", other, "close", {"opinion": "同意"})
            driver.complete(
                "intake", other, "follow_up", {"satisfaction": "satisfied", "note": "居民表示满意"}
            )
        code = gl.event_detail("admin", other)["code"]
    with gl.db.reading() as session:
        records = session.scalar(select(HistoryEntry.id).order_by(HistoryEntry.id.desc()).limit(1))
    with pytest.raises(ValidationFailed) as refused:
        driver.complete("intake", report, "accept", {"decision": "similar", "similar_to": code})
    assert [e.code for e in refused.value.errors["similar_to"]] == [expected]  # type: ignore[union-attr]
    with gl.db.reading() as session:
        assert session.scalar(select(HistoryEntry.id).order_by(HistoryEntry.id.desc()).limit(1)) == records
        event = session.get(Event, report)
        assert event is not None and event.state == "reported"
