"""What-if (issue 13): a period's household visits played through draft versions of their process before they go
live — per step how many reach it and on time, per case whether it would run the same, end earlier, wait at a step
the records never reach, diverge or fail — on SQLite and PostgreSQL. The expected figures are worked out by hand
from three visits on the manual clock (see ``period``)."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import GRID_HB1, REPO

from engine.app import Gridloop
from engine.errors import Forbidden, NotFound

VISIT = {"grid": GRID_HB1, "household": "3幢2单元401室", "purpose": "care", "description": "独居老人"}
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


def _draft(gl: Gridloop, tmp_path: Path, name: str, edit: Any, form_edit: Any = None) -> int:
    """A draft of the visit model whose BPMN (and visit_record.json, with ``form_edit``) is edited."""
    folder = tmp_path / name / "processes" / "household_visit"
    shutil.copytree(REPO / "processes" / "household_visit", folder)
    bpmn = folder / "household_visit.bpmn"
    bpmn.write_text(edit(bpmn.read_text(encoding="utf-8")), encoding="utf-8")
    if form_edit is not None:
        form = folder / "visit_record.json"
        form.write_text(json.dumps(form_edit(json.loads(form.read_text(encoding="utf-8")))), encoding="utf-8")
    return gl.deploy(folder)[0].id


def _visit(gl: Gridloop) -> tuple[int, int]:
    """A visit started by gw_hb1, claimed: its id and its record_visit row."""
    started = gl.start("gw_hb1", "household_visit", VISIT)
    rows, _ = gl.inbox("gw_hb1", "claimable", per_page=100)
    [row] = [r for r in rows if r["event_id"] == started["id"]]
    gl.claim("gw_hb1", row["id"])
    return started["id"], row["id"]


@pytest.fixture
def period(gl: Gridloop) -> dict[str, Any]:
    """Monday 09:00: visits A, B and C start. A is recorded at once, needing follow-up, and reviewed an hour later
    (ends after 1 h). B is recorded on Wednesday at 10:00 (49 h on), within its 3 working days, needing none (ends
    after 49 h). C still waits to be recorded. Every visit's record step is due 3 working days on: Thursday 09:00."""
    a, a_row = _visit(gl)
    b, b_row = _visit(gl)
    c, _ = _visit(gl)
    gl.complete("gw_hb1", a_row, {"met": True, "findings": "热水器老化", "needs_follow_up": True})
    gl.clock.advance(timedelta(hours=1))
    leaders, _ = gl.inbox("leader_hb", "claimable", per_page=100)
    [review] = [r for r in leaders if r["event_id"] == a]
    gl.claim("leader_hb", review["id"])
    gl.complete("leader_hb", review["id"], {"instruction": "联系物业更换热水器"})
    gl.clock.advance(timedelta(hours=48))
    gl.complete("gw_hb1", b_row, {"met": True, "findings": "一切正常", "needs_follow_up": False})
    return {"a": a, "b": b, "c": c}


def _steps(found: dict[str, Any]) -> dict[str, tuple[int, int, float | None, float | None]]:
    """Per step: reached as recorded, reached on the draft, on-time share as recorded, on the draft."""
    return {
        row["step"]: (
            row["recorded"]["reached"],
            row["draft"]["reached"],
            row["recorded"]["on_time_share"],
            row["draft"]["on_time_share"],
        )
        for row in found["steps"]
    }


def test_a_shorter_limit_runs_every_case_the_same_and_halves_the_record_steps_on_time_share(
    gl, period, tmp_path
):
    draft = _draft(gl, tmp_path, "short", lambda x: x.replace('3, "work_days"', '1, "work_days"'))
    found = gl.what_if("designer", draft, *NOVEMBER)
    assert (found["in_period"], found["played"], found["cases"]) == (3, 3, 3)
    assert found["outcomes"] == {
        "same": 3,
        "ended_earlier": 0,
        "waits_at_new_step": 0,
        "diverged": 0,
        "failed": 0,
    }
    # A recorded at once and B on Wednesday: both by Thursday (100 %); by Tuesday 09:00 only A (50 %); C not done
    assert _steps(found) == {"record_visit": (3, 3, 100.0, 50.0), "review_visit": (1, 1, None, None)}
    assert found["steps"][0]["name"] == "入户走访"
    # A ended after 1 h, B after 49 h: mean and median 25 h either way
    assert found["recorded"] == found["draft"] == {
        "ended": 2, "mean_hours": 25.0, "median_hours": 25.0, "due": 0, "on_time_share": None,
    }  # fmt: skip
    assert found["listed"] == []


def test_a_draft_that_always_reviews_leaves_the_unreviewed_case_waiting_at_a_step_the_records_never_reach(
    gl, period, tmp_path
):
    draft = _draft(gl, tmp_path, "always", lambda x: x.replace("needs_follow_up == True", "True"))
    found = gl.what_if("designer", draft, *NOVEMBER)
    assert found["outcomes"]["same"] == 2 and found["outcomes"]["waits_at_new_step"] == 1
    assert _steps(found)["review_visit"][:2] == (1, 2)
    assert found["draft"]["ended"] == 1 and found["draft"]["mean_hours"] == 1.0, "only A ends on the draft"
    [listed] = found["listed"]
    assert (listed["event"], listed["outcome"], listed["detail"]) == (
        period["b"],
        "waits_at_new_step",
        "review_visit",
    )


def test_a_draft_without_the_review_ends_the_reviewed_case_earlier(gl, period, tmp_path):
    draft = _draft(gl, tmp_path, "never", lambda x: x.replace("needs_follow_up == True", "False"))
    found = gl.what_if("designer", draft, *NOVEMBER)
    assert found["outcomes"]["ended_earlier"] == 1 and found["outcomes"]["same"] == 2
    assert _steps(found)["review_visit"][:2] == (1, 0)
    # A ends on the draft as soon as it is recorded (0 h); B after 49 h
    assert (found["draft"]["mean_hours"], found["draft"]["median_hours"]) == (24.5, 24.5)
    assert [(c["event"], c["outcome"]) for c in found["listed"]] == [(period["a"], "ended_earlier")]


def test_a_renamed_step_diverges_and_a_stricter_form_fails_naming_the_field(gl, period, tmp_path):
    renamed = _draft(gl, tmp_path, "renamed", lambda x: x.replace("review_visit", "review_visit_2"))
    found = gl.what_if("designer", renamed, *NOVEMBER)
    assert [(c["event"], c["outcome"], c["detail"]) for c in found["listed"]] == [
        (period["a"], "diverged", "review_visit: review_visit_2")
    ]

    def stricter(form: dict[str, Any]) -> dict[str, Any]:
        form["properties"]["household_size"] = {"type": "integer", "title": "户内人数"}
        form["required"] = [*form.get("required", []), "household_size"]
        return form

    strict = _draft(gl, tmp_path, "strict", lambda x: x, stricter)
    found = gl.what_if("designer", strict, *NOVEMBER)
    assert found["outcomes"]["failed"] == 2 and found["outcomes"]["same"] == 1, "C has submitted nothing yet"
    assert all("household_size: required" in c["detail"] for c in found["listed"])


def test_only_designers_play_a_period_its_bounds_count_and_an_unknown_version_is_404(gl, period, tmp_path):
    draft = _draft(gl, tmp_path, "short", lambda x: x.replace('3, "work_days"', '1, "work_days"'))
    with pytest.raises(Forbidden):
        gl.what_if("gw_hb1", draft, *NOVEMBER)
    assert gl.what_if("designer", draft, date(2026, 10, 1), date(2026, 10, 31))["in_period"] == 0
    assert gl.what_if("designer", draft)["first"] == "2026-10-01", "by default the last full month"
    with pytest.raises(NotFound):
        gl.what_if("designer", 9999, *NOVEMBER)
