"""Visit duties (走访, issue 15 part 7): the ledger's dwellings and the people with a flag are visited on the
cycles the ``visit_duties`` setting gives — each duty starts a household visit on its date under the injected
clock, its task in the grid worker's inbox with its limit — once a cycle however often the schedulers ask."""

from __future__ import annotations

from datetime import timedelta

from conftest import Driver
from sqlalchemy import select
from test_ledger import GOOD

from engine.app import Gridloop
from engine.audit import verification
from engine.store.models import Event, LedgerVisit, Task


def _visit_tasks(gl: Gridloop, events: list[int]) -> list[Task]:
    with gl.db.reading() as session:
        return list(session.scalars(select(Task).where(Task.event_id.in_(events)).order_by(Task.event_id)))


def test_each_duty_starts_a_visit_on_its_date_once_a_cycle(gl: Gridloop, driver: Driver) -> None:
    gl.import_ledger("admin", "ledger.csv", GOOD)
    first = gl.start_due_visits()
    assert first["started"] == {"flag:elderly_alone": 1, "household": 2}
    tasks = _visit_tasks(gl, first["events"])
    assert [(t.bpmn_id, t.role, t.status) for t in tasks] == [("record_visit", "grid_worker", "open")] * 3
    assert all(t.due_at is not None and t.due_at > gl.now() for t in tasks)  # three working days
    with gl.db.reading() as session:
        purposes = {
            e.id: (e.grid_code, e.description)
            for e in session.scalars(select(Event).where(Event.id.in_(first["events"])))
        }
    care = next(
        t
        for t in tasks
        if "张三" in gl.event_detail("admin", t.event_id)["history"][0]["data"]["start"]["household"]
    )
    assert care.id in driver.claimable("gw_hb1") and care.id not in driver.claimable("gw_la1")
    assert gl.event_detail("admin", care.event_id)["history"][0]["data"]["start"]["purpose"] == "care"
    assert len(purposes) == 3
    # asked again the same day (another scheduler, a restart): nothing new
    assert gl.start_due_visits()["events"] == []
    # a week on, the person living alone is due again; the dwellings only after 90 days
    gl.clock.advance(timedelta(days=7))
    assert gl.start_due_visits()["started"] == {"flag:elderly_alone": 1}
    gl.clock.advance(timedelta(days=83))
    assert gl.start_due_visits()["started"] == {"flag:elderly_alone": 1, "household": 2}
    with gl.db.reading() as session:
        assert len(session.scalars(select(LedgerVisit.id)).all()) == 3 + 1 + 3
    # a visit is worked like any task
    driver.complete(
        "gw_hb1", care.event_id, "record_visit", {"met": True, "findings": "老人身体状况良好，家中整洁"}
    )
    assert verification.verify_all(gl, workers=1)["mismatches"] == []


def test_the_duties_are_a_setting(gl: Gridloop) -> None:
    gl.import_ledger("admin", "ledger.csv", GOOD)
    gl.change_setting(
        "admin", "visit_duties", [{"flag": "key_person", "every_days": 30, "purpose": "dispute"}]
    )
    done = gl.start_due_visits()
    assert done["started"] == {"flag:key_person": 1}
    [task] = _visit_tasks(gl, done["events"])
    assert task.scope_code == "330199001002001"  # 李四's grid
