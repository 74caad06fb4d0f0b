"""The staff's working day (issue 12): the inbox opens on the tab that has work, its badges say what they count,
and the report page offers self-handling only to the grid worker who patrols."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import GRID_HB1
from web_support import app_with_staff, html, staff

STAFF = ("gw_hb1", "intake")
RUBBISH = {"category": "0101", "description": "路边有暴露垃圾一堆", "grid": GRID_HB1}


@pytest.fixture
def app(tmp_path: Path, backend: str) -> Iterator[Any]:
    yield from app_with_staff(tmp_path, STAFF, backend)


def engine(app: Any) -> Any:
    return app.extensions["gridloop"]


def test_the_inbox_opens_on_the_tab_with_work_and_its_badges_say_what_they_count(app):
    engine(app).report("gw_hb1", RUBBISH)  # an acceptance task waits to be claimed by intake
    intake = staff(app, "intake")
    page = html(intake.get("/inbox"))
    assert '<a href="/inbox?view=claimable" class="active" aria-current="page">' in page
    assert "可认领 1" in page and "我的 0" in page
    # asked for by name, the empty tab is shown; and once a task is one's own, the inbox opens on it
    assert '<a href="/inbox?view=mine" class="active" aria-current="page">' in html(
        intake.get("/inbox?view=mine")
    )
    [task] = engine(app).inbox("intake", "claimable")[0]
    engine(app).claim("intake", task["id"])
    assert '<a href="/inbox?view=mine" class="active" aria-current="page">' in html(intake.get("/inbox"))


def test_only_a_grid_worker_is_offered_self_handling_on_the_report_page(app):
    assert 'name="self_handle"' in html(staff(app, "gw_hb1").get("/report"))
    assert 'name="self_handle"' not in html(staff(app, "intake").get("/report"))
