"""Many processes (issue 13): the registry's folder layout, a version's life cycle (draft → active → retired, roll
back), the start rules that choose the process a grid report starts, and starting a process that grid reports do
not start — run through the engine's commands on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from conftest import GRID_HB1, GRID_HB2, REPO
from sqlalchemy import select

from engine.app import Gridloop
from engine.audit import verification
from engine.bpmn.definitions import DefinitionError, build_deployable
from engine.bpmn.folders import collect_models, models_at
from engine.commands import tasks
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.store.models import AdminLogEntry, ProcessVersion

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "validation"
RUBBISH = {"category": "0101", "description": "路边有一堆暴露垃圾，无人清运"}
VISIT = {"grid": GRID_HB1, "household": "3幢2单元401室", "purpose": "care", "description": "独居老人"}


def _statuses(gl: Gridloop, process_id: str) -> dict[int, str]:
    with gl.db.reading() as session:
        rows = session.execute(
            select(ProcessVersion.id, ProcessVersion.status).where(ProcessVersion.process_id == process_id)
        )
        return dict(rows.all())


def _log(gl: Gridloop, action: str) -> list[dict]:
    with gl.db.reading() as session:
        return [e.data for e in session.scalars(select(AdminLogEntry).where(AdminLogEntry.action == action))]


def _visit_variant(tmp_path: Path, name: str) -> Path:
    """A copy of the shipped visit model whose review step has another name: a new version of it."""
    root = tmp_path / name
    shutil.copytree(REPO / "processes" / "household_visit", root / "processes" / "household_visit")
    bpmn = root / "processes" / "household_visit" / "household_visit.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace('name="审阅走访"', f'name="审阅走访{name}"'))
    return root / "processes" / "household_visit"


def _quick_check(tmp_path: Path) -> Path:
    """The ``ready`` fixture (a one-step report process) under another process id, as a second report model."""
    root = tmp_path / "quick"
    shutil.copytree(FIXTURES / "ready", root)
    bpmn = root / "processes" / "grid_event.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace('"grid_event"', '"quick_check"'))
    bpmn.rename(root / "processes" / "quick_check.bpmn")
    (root / "processes" / "process_model.json").write_text(
        json.dumps({"id": "quick_check", "name": "快速核查", "takes_reports": True}), encoding="utf-8"
    )
    return root


# --- the folder layout -----------------------------------------------------------------------------------------


def test_each_folder_under_processes_is_a_model_with_only_the_shared_forms_it_names():
    models = {m.model_id: m for m in collect_models(REPO)}
    assert set(models) == {"grid_event", "household_visit", "patrol", "sheet_appeal"}
    grid = models["grid_event"].files
    assert (
        "processes/grid_event/grid_event.bpmn" in grid and "processes/grid_event/joint_meeting.bpmn" in grid
    )
    assert "forms/report.json" in grid
    visit = models["household_visit"].files
    assert sorted(visit) == [
        "processes/household_visit/household_visit.bpmn",
        "processes/household_visit/process_model.json",
        "processes/household_visit/visit_plan.json",
        "processes/household_visit/visit_record.json",
        "processes/household_visit/visit_review.json",
    ], "the visit names no shared form, so none is in its version"


def test_a_model_folder_deploys_alone_keyed_as_under_its_root():
    [model] = models_at(REPO / "processes" / "household_visit")
    assert model.model_id == "household_visit"
    assert model.files == {m.model_id: m for m in collect_models(REPO)}["household_visit"].files


def test_a_model_file_that_names_no_process_of_its_folder_is_refused(tmp_path):
    folder = _visit_variant(tmp_path, "x")
    (folder / "process_model.json").write_text(json.dumps({"id": "visits", "name": "走访"}), encoding="utf-8")
    [model] = models_at(folder)
    with pytest.raises(DefinitionError) as info:
        build_deployable(model.files, model.model_id)
    assert [str(p) for p in info.value.problems] == [
        "processes/household_visit/process_model.json:-: id: the model's id 'visits' names no executable process "
        "of its BPMN files (defined: household_visit) — make the id that of the process that starts"
    ]


def test_a_model_file_of_the_wrong_shape_names_the_field(tmp_path):
    folder = _visit_variant(tmp_path, "x")
    (folder / "process_model.json").write_text(
        json.dumps({"id": "household_visit", "name": "走访", "start_roles": ["mayor"]}), encoding="utf-8"
    )
    with pytest.raises(DefinitionError) as info:
        build_deployable(models_at(folder)[0].files)
    [problem] = info.value.problems
    assert (problem.file, problem.element_id) == (
        "processes/household_visit/process_model.json",
        "start_roles.0",
    )
    assert "'mayor' is not one of" in problem.message


# --- the life cycle --------------------------------------------------------------------------------------------


def test_a_deploy_is_a_draft_until_activated_and_new_instances_start_on_the_active_one(gl, tmp_path):
    [active] = _statuses(gl, "household_visit")
    [draft] = gl.deploy(_visit_variant(tmp_path, "v2"))
    assert (draft.status, draft.created) == ("draft", True)
    started = gl.start("gw_hb1", "household_visit", VISIT)
    assert gl.event_detail("gw_hb1", started["id"])["process_version_id"] == active
    done = gl.activate("designer", draft.id)
    assert done.status == "active"
    assert _statuses(gl, "household_visit") == {active: "retired", draft.id: "active"}
    again = gl.start("gw_hb1", "household_visit", VISIT)
    assert gl.event_detail("gw_hb1", again["id"])["process_version_id"] == draft.id
    # the instance on the retired version goes on to its end there
    task = started["next"][0]
    gl.claim("gw_hb1", task)
    gl.complete("gw_hb1", task, {"met": True, "findings": "一切正常"})
    assert gl.event_detail("gw_hb1", started["id"])["state"] == "closed"
    assert _log(gl, "activate")[-1] == {"process": "household_visit", "version": draft.id, "previous": active}


def test_rollback_walks_back_one_activation_at_a_time_and_says_when_there_is_none(gl, tmp_path):
    [first] = _statuses(gl, "household_visit")
    second = gl.deploy(_visit_variant(tmp_path, "v2"), activate=True)[0].id
    third = gl.deploy(_visit_variant(tmp_path, "v3"), activate=True)[0].id
    assert gl.rollback("designer", "household_visit").id == second
    assert _statuses(gl, "household_visit") == {first: "retired", second: "active", third: "retired"}
    assert gl.rollback("admin", "household_visit").id == first
    with pytest.raises(Conflict) as info:
        gl.rollback("designer", "household_visit")
    assert info.value.code == "version.no_previous"
    assert _statuses(gl, "household_visit")[first] == "active", "a refused rollback changes nothing"
    assert [e["to"] for e in _log(gl, "rollback")] == [second, first]


def test_retiring_the_active_version_stops_new_starts_with_a_clear_error(gl):
    [active] = _statuses(gl, "household_visit")
    gl.retire("designer", active)
    with pytest.raises(Conflict) as info:
        gl.start("gw_hb1", "household_visit", VISIT)
    assert (info.value.code, info.value.params) == (
        "process.no_active_version",
        {"process": "household_visit"},
    )
    with pytest.raises(NotFound):
        gl.start("gw_hb1", "nonesuch", VISIT)
    with pytest.raises(Conflict) as nothing:
        gl.rollback("designer", "household_visit")
    assert nothing.value.code == "version.nothing_active"
    with pytest.raises(Conflict) as twice:
        gl.retire("designer", active)
    assert twice.value.code == "version.already_retired"
    assert gl.activate("designer", active).status == "active"
    assert gl.start("gw_hb1", "household_visit", VISIT)["state"] == "open"


def test_only_designers_and_administrators_change_versions_and_nothing_changes_otherwise(gl, tmp_path):
    draft = gl.deploy(_visit_variant(tmp_path, "v2"))[0].id
    before = _statuses(gl, "household_visit")
    for username, change in (("gw_hb1", gl.activate), ("leader_hb", gl.retire)):
        with pytest.raises(Forbidden) as info:
            change(username, draft)
        assert info.value.code == "version.designer_only"
    with pytest.raises(Forbidden):
        gl.rollback("intake", "household_visit")
    with pytest.raises(Forbidden):
        gl.deploy_files("gw_hb1", dict(collect_models(REPO)[1].files))
    assert _statuses(gl, "household_visit") == before


def test_activate_refuses_a_stored_version_that_would_not_deploy_today_changing_nothing(gl):
    from engine.bpmn.definitions import build_bundle
    from engine.bpmn.folders import collect_files
    from engine.commands import versions
    from engine.commands.pipeline import system

    bundle = build_bundle(collect_files(FIXTURES / "no_diagram"))  # as deployed before the diagram check
    bundle.process_id = "grid_event"
    stored = gl.pipeline.run(system("test"), versions.deploy, bundle)
    before = _statuses(gl, "grid_event")
    with pytest.raises(ValidationFailed) as info:
        gl.activate("designer", stored.id)
    assert info.value.code == "version.not_deployable"
    assert "has no diagram (BPMNDI)" in info.value.params["problems"]
    assert _statuses(gl, "grid_event") == before


def test_a_refused_deploy_of_several_models_deploys_none_of_them(gl, tmp_path):
    root = tmp_path / "set"
    shutil.copytree(REPO / "processes", root / "processes")
    shutil.copytree(REPO / "forms", root / "forms")
    (root / "processes" / "household_visit" / "household_visit.bpmn").write_text(
        (root / "processes" / "household_visit" / "household_visit.bpmn")
        .read_text(encoding="utf-8")
        .replace('value="visit_review.json"', 'value="missing.json"')
    )
    (root / "processes" / "grid_event" / "grid_event.bpmn").write_text(
        (root / "processes" / "grid_event" / "grid_event.bpmn")
        .read_text(encoding="utf-8")
        .replace('name="核查"', 'name="现场核查"')
    )
    before = {pid: _statuses(gl, pid) for pid in ("grid_event", "household_visit")}
    with pytest.raises(DefinitionError) as info:
        gl.deploy(root, activate=True)
    assert [p.element_id for p in info.value.problems] == ["review_visit"]
    assert {pid: _statuses(gl, pid) for pid in before} == before


# --- the start rules -------------------------------------------------------------------------------------------


def test_the_start_rules_choose_the_process_a_report_starts_by_its_category(gl, tmp_path):
    [quick] = gl.deploy(_quick_check(tmp_path), activate=True)
    gl.change_setting(
        "designer",
        "report_processes",
        [{"category": "02", "process": "quick_check"}, {"process": "grid_event"}],
    )
    versions = {v.process_id: v for v in _versions(gl)}
    rubbish = gl.report("gw_hb1", RUBBISH)
    other = gl.report("gw_hb1", {"category": "0201", "description": "井盖缺失，存在安全隐患"})
    assert gl.event_detail("gw_hb1", rubbish["id"])["process_version_id"] == versions["grid_event"].id
    assert gl.event_detail("gw_hb1", other["id"])["process_version_id"] == quick.id


def _versions(gl: Gridloop) -> list[ProcessVersion]:
    with gl.db.reading() as session:
        return list(session.scalars(select(ProcessVersion).where(ProcessVersion.status == "active")))


def test_a_start_rule_may_only_name_a_deployed_process_that_takes_reports(gl):
    for process, code in (
        ("nonesuch", "start.process_unknown"),
        ("household_visit", "start.process_takes_no_reports"),
    ):
        with pytest.raises(ValidationFailed) as info:
            gl.change_setting("designer", "report_processes", [{"process": process}])
        assert [e.code for e in info.value.errors["report_processes.0.process"]] == [code]
    with pytest.raises(Forbidden):
        gl.change_setting("leader_hb", "report_processes", [{"process": "grid_event"}])
    with pytest.raises(Forbidden):
        gl.change_setting("designer", "report_rewards", {"valid": 1.0})
    assert gl.get_setting("report_processes") == [{"process": "grid_event"}]


def test_a_process_that_takes_no_reports_cannot_be_reported_and_a_report_process_started_is_reported(gl):
    with pytest.raises(ValidationFailed) as info:
        gl.pipeline.run("gw_hb1", tasks.report, RUBBISH, "household_visit")
    assert info.value.code == "report.not_a_report_process"
    reported = gl.start("gw_hb1", "grid_event", RUBBISH)
    assert gl.event_detail("gw_hb1", reported["id"])["history"][0]["action"] == "report"


# --- starting a process that grid reports do not start ----------------------------------------------------------


def test_a_household_visit_runs_through_its_lanes_with_inbox_rows_history_and_audit(gl):
    started = gl.start("gw_hb1", "household_visit", VISIT)
    rows, _ = gl.inbox("gw_hb1", "claimable")
    [row] = [r for r in rows if r["event_id"] == started["id"]]
    assert (row["name"], row["due_at"] is not None) == ("入户走访", True)
    gl.claim("gw_hb1", row["id"])
    review = gl.complete(
        "gw_hb1", row["id"], {"met": True, "findings": "热水器老化", "needs_follow_up": True}
    )
    assert review["state"] == "open"
    leaders, _ = gl.inbox("leader_hb", "claimable")
    [review_row] = [r for r in leaders if r["event_id"] == started["id"]]
    others, _ = gl.inbox("leader_la", "claimable")
    assert all(r["event_id"] != started["id"] for r in others), "offered to the visited grid's community only"
    gl.claim("leader_hb", review_row["id"])
    gl.complete("leader_hb", review_row["id"], {"instruction": "联系物业更换热水器"})
    detail = gl.event_detail("gw_hb1", started["id"])
    assert (detail["state"], detail["completed"]) == ("closed", True)
    assert [h["action"] for h in detail["history"]] == ["start", "claim", "complete", "claim", "complete"]
    assert detail["history"][0]["data"]["start"]["starter"] == "gw_hb1"
    audit = verification.verify_all(gl, workers=1)
    assert (audit["verified"], audit["mismatches"]) == (1, [])


def test_who_may_start_a_process_is_a_setting_with_roles_and_units(gl):
    with pytest.raises(Forbidden) as info:
        gl.start("intake", "household_visit", VISIT)
    assert info.value.code == "start.role_not_allowed"
    with pytest.raises(Forbidden) as outside:
        gl.start("gw_hb1", "household_visit", dict(VISIT, grid=GRID_HB2))
    assert outside.value.code == "start.unit_outside_scope"
    gl.change_setting(
        "admin", "process_starters", {"household_visit": {"roles": ["intake"], "units": [GRID_HB2]}}
    )
    with pytest.raises(Forbidden):
        gl.start("gw_hb1", "household_visit", VISIT)
    with pytest.raises(Forbidden) as unit:
        gl.start("intake", "household_visit", VISIT)
    assert unit.value.code == "start.unit_outside_scope"
    assert gl.start("intake", "household_visit", dict(VISIT, grid=GRID_HB2))["state"] == "open"


def test_a_start_form_that_fails_its_schema_gives_field_errors_and_changes_nothing(gl):
    with pytest.raises(ValidationFailed) as info:
        gl.start("gw_hb1", "household_visit", {"grid": GRID_HB1, "purpose": "party"})
    assert set(info.value.errors) == {"household", "purpose"}
    assert gl.list_events("gw_hb1")[1] == 0


# --- the command line ------------------------------------------------------------------------------------------


def _command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # noqa: ANN202
    """``gridloop`` on a SQLite file of the test's own: argv → (exit status, stdout, stderr)."""
    from webui.cli import main

    url = f"sqlite:///{tmp_path}/cli.sqlite3"

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main(["--db", url, *argv])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_the_life_cycle_and_a_start_on_the_command_line(tmp_path, capsys):
    run = _command_line(tmp_path, capsys)
    assert run("init", "--demo")[0] == 0
    status, out, _ = run("deploy", str(_visit_variant(tmp_path, "v2")))
    assert status == 0 and out.startswith("household_visit: version 5 (") and out.endswith(" new, draft\n")
    lines = run("versions")[1].splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        ["grid_event", "version 1", "active"],
        ["household_visit", "version 5", "draft"],
        ["household_visit", "version 2", "active"],
        ["patrol", "version 3", "active"],
        ["sheet_appeal", "version 4", "active"],
    ]
    assert run("activate", "5")[1].endswith("active\n")
    status, out, err = run("rollback", "household_visit")
    assert (status, out.split()[:3]) == (0, ["household_visit:", "version", "2"])
    status, _, err = run("rollback", "household_visit")
    assert status == 2 and "nothing to roll back to" in err
    status, out, _ = run("start", "household_visit", "--data", json.dumps(VISIT), "--as", "gw_hb1")
    assert status == 0 and json.loads(out)["state"] == "open"
    status, _, err = run("start", "household_visit", "--data", '{"grid": 1}', "--as", "gw_hb1")
    assert status == 2 and "household" in err


def test_what_if_and_a_mapped_migration_on_the_command_line(tmp_path, capsys):
    run = _command_line(tmp_path, capsys)
    assert run("init", "--demo")[0] == 0
    started = json.loads(run("start", "household_visit", "--data", json.dumps(VISIT), "--as", "gw_hb1")[1])
    variant = _visit_variant(tmp_path, "v2")
    bpmn = variant / "household_visit.bpmn"
    bpmn.write_text(
        bpmn.read_text(encoding="utf-8")
        .replace('"record_visit"', '"record_it"')
        .replace(">record_visit<", ">record_it<"),
        encoding="utf-8",
    )
    assert run("deploy", str(variant))[0] == 0  # version 5, a draft (the appeal is version 4)
    status, out, _ = run("what-if", "5", "--as", "designer")
    assert status == 0 and json.loads(out)["first"].endswith("-01"), "last month by default"
    today = date.today().isoformat()
    status, out, _ = run("what-if", "5", "--from", "2020-01-01", "--to", "2030-12-31", "--as", "designer")
    assert (status, json.loads(out)["played"], json.loads(out)["outcomes"]["same"]) == (0, 1, 1)
    assert run("what-if", "5", "--from", today)[0] == 2, "half a period is a usage error"
    status, _, err = run("what-if", "5", "--as", "gw_hb1")
    assert status != 0 and "designers" in err

    status, out, _ = run(
        "migrate", "--event", str(started["id"]), "--to", "5", "--dry-run", "--map", "record_visit=record_it"
    )
    assert status == 0 and json.loads(out)["aligned"] == {"record_visit": "record_it"}
    assert run("migrate", "--event", str(started["id"]), "--to", "5", "--map", "record_visit")[0] == 2
    status, out, _ = run("migrate", "--from", "2", "--to", "5", "--map", "record_visit=record_it")
    assert (status, json.loads(out)) == (0, {"migrated": [started["id"]], "refused": []})
