"""The ``gridloop`` command line, run in-process on a SQLite file.

``init --demo`` hashes the demo password for every account (scrypt, on purpose slow), so it runs once per
module into a template database; every test works on its own copy.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from pathlib import Path

import click
import pytest
from conftest import GRID_HB1, REPO
from sqlalchemy import select

from engine.app import Gridloop
from engine.demo.district import DEMO_PASSWORD
from engine.org import people
from engine.store.db import Database
from engine.store.models import User
from webui.cli import cli, main


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """A database made by ``gridloop init --demo``: its path, the exit status and what it printed."""
    path = tmp_path_factory.mktemp("cli") / "template.sqlite3"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["--db", f"sqlite:///{path}", "init", "--demo"])
    return path, status, out.getvalue()


@pytest.fixture
def db(demo_template: tuple[Path, int, str], tmp_path: Path) -> str:
    """The URL of this test's own copy of the demo database."""
    copy = tmp_path / "x.sqlite3"
    source, target = sqlite3.connect(demo_template[0]), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return f"sqlite:///{copy}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI; return its exit status, standard output and standard error."""
    capsys.readouterr()
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def users(capsys: pytest.CaptureFixture[str], db: str) -> dict[str, dict]:
    status, out, _ = run(capsys, "--db", db, "users", "list", "--json")
    assert status == 0
    return {row["username"]: row for row in json.loads(out)}


def password_hash(db: str, username: str) -> str | None:
    database = Database(db)
    try:
        with database.reading() as session:
            return session.scalar(select(User.password_hash).where(User.username == username))
    finally:
        database.dispose()


def test_init_demo_prints_the_password_and_deploys(demo_template, db):
    _, status, out = demo_template
    assert status == 0
    assert f"password for all: {DEMO_PASSWORD}" in out
    assert "grid_event: version 1 (" in out and "household_visit: version 2 (" in out
    assert out.rstrip().endswith("new, active")
    gl = Gridloop(db)
    try:
        assert gl.bundle().process_id == "grid_event"
    finally:
        gl.db.dispose()
    assert people.check_password(password_hash(db, "gw_hb1"), DEMO_PASSWORD)


def test_init_again_keeps_the_organisation_and_the_version(capsys, db):
    status, out, _ = run(capsys, "--db", db, "init", "--demo")
    assert status == 0
    assert "demo district not added again" in out
    assert "already deployed" in out


def test_users_list_json_shows_role_and_scope(capsys, db):
    listed = users(capsys, db)
    assert listed["gw_hb1"]["roles"] == ["grid_worker"]
    assert listed["gw_hb1"]["scope"] == GRID_HB1
    assert listed["gw_hb1"]["department"] is None
    assert (listed["h_dh_hw"]["roles"], listed["h_dh_hw"]["department"]) == (["handler"], "DH-HW")
    assert "newbie" not in listed


def test_users_add_then_listed(capsys, db):
    status, out, _ = run(
        capsys, "--db", db, "users", "add", "newbie", "--role", "intake", "--scope", "330199"
    )
    assert status == 0
    assert "newbie" in out
    newbie = users(capsys, db)["newbie"]
    assert (newbie["roles"], newbie["scope"], newbie["active"]) == (["intake"], "330199", True)


def test_users_add_with_an_unknown_scope_fails_cleanly(capsys, db):
    status, _, err = run(capsys, "--db", db, "users", "add", "ghost", "--role", "intake", "--scope", "999999")
    assert status == 2
    assert "999999" in err
    assert "ghost" not in users(capsys, db)


def test_users_set_password_reads_stdin(capsys, monkeypatch, db):
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    status, out, _ = run(capsys, "--db", db, "users", "set-password", "gw_hb1")
    assert status == 0
    assert "gw_hb1" in out
    stored = password_hash(db, "gw_hb1")
    assert people.check_password(stored, "correct horse battery")
    assert not people.check_password(stored, DEMO_PASSWORD)


def test_users_set_password_refuses_a_short_one(capsys, monkeypatch, db):
    before = password_hash(db, "gw_hb1")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    status, _, err = run(capsys, "--db", db, "users", "set-password", "gw_hb1")
    assert status == 2
    assert "8 characters" in err
    assert password_hash(db, "gw_hb1") == before


def test_validate_the_repository_definitions(capsys):
    status, out, _ = run(capsys, "validate", str(REPO / "processes"), str(REPO / "forms"))
    assert status == 0
    assert "ok" in out


def test_validate_reports_a_dangling_flow_with_file_line_and_element(capsys, tmp_path):
    broken = tmp_path / "broken.bpmn"
    broken.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs"\n'
        '    targetNamespace="http://example.org/gridloop">\n'
        '  <bpmn:process id="broken" isExecutable="true">\n'
        '    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>\n'
        '    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end" />\n'
        '    <bpmn:endEvent id="end"><bpmn:incoming>f1</bpmn:incoming></bpmn:endEvent>\n'
        '    <bpmn:sequenceFlow id="f_lost" sourceRef="start" targetRef="nowhere" />\n'
        "  </bpmn:process>\n"
        "</bpmn:definitions>\n",
        encoding="utf-8",
    )
    status, out, err = run(capsys, "validate", str(broken))
    assert status == 1
    assert f"{broken}:8: f_lost: " in out
    line = next(line for line in out.splitlines() if line.startswith(f"{broken}:8: f_lost: "))
    assert "nowhere" in line
    assert "problem" in err


def test_simulate_prints_a_json_summary(capsys, db):
    status, out, _ = run(capsys, "--db", db, "simulate", "--events", "30", "--seed", "2", "--json")
    assert status == 0
    summary = json.loads(out)
    for key in ("events", "steps", "seconds", "by_outcome", "reworked", "reassigned", "reopened"):
        assert key in summary
    assert summary["events"] == 30
    assert {"closed", "rejected", "open"} <= set(summary["by_outcome"])
    assert sum(summary["by_outcome"].values()) == 30
    assert summary["steps"] >= 30
    assert 0 <= summary["reworked"] <= summary["by_outcome"]["closed"]


def test_events_list_and_show_print_the_event(capsys, db):
    gl = Gridloop(db)
    try:
        reported = gl.report("gw_hb1", {"category": "0101", "description": "命令行测试：路边暴露垃圾"})
    finally:
        gl.db.dispose()

    status, out, _ = run(capsys, "--db", db, "events", "list")
    assert status == 0
    assert reported["code"] in out
    assert "1 of 1 event(s)" in out

    status, out, _ = run(capsys, "--db", db, "events", "list", "--as", "gw_la1", "--json")
    assert status == 0
    assert json.loads(out)["total"] == 0

    status, out, _ = run(capsys, "--db", db, "events", "show", str(reported["id"]))
    assert status == 0
    assert reported["code"] in out
    assert "命令行测试：路边暴露垃圾" in out
    assert "accept" in out and "report" in out

    status, out, _ = run(capsys, "--db", db, "events", "show", str(reported["id"]), "--json")
    assert status == 0
    assert json.loads(out)["tasks"][0]["step"] == "accept"


def test_events_show_of_an_unknown_event_fails_cleanly(capsys, db):
    status, _, err = run(capsys, "--db", db, "events", "show", "999")
    assert status == 2
    assert "999" in err


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the CLI: (), ("init",), ("users",), ("users", "list") …"""
    paths = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = command_paths(cli)
# every command and sub-command the README's "Command line" table documents
DOCUMENTED = {
    ("init",),
    ("serve",),
    ("scheduler",),
    ("validate",),
    ("deploy",),
    ("migrate",),
    ("users", "list"),
    ("users", "add"),
    ("users", "set-password"),
    ("events", "list"),
    ("events", "show"),
    ("tick",),
    ("calendar", "due"),
    ("calendar", "set"),
    ("calendar", "list"),
    ("settings", "show"),
    ("settings", "set"),
    ("metrics",),
    ("audit", "verify"),
    ("audit", "replay"),
    ("simulate",),
}


def test_every_documented_command_exists():
    assert set(COMMANDS) >= DOCUMENTED


def test_gridloop_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: gridloop" in out
    listed = {line.split()[0] for line in out.split("Commands:", 1)[1].splitlines() if line.strip()}
    assert listed == {path[0] for path in COMMANDS if path}


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) or "gridloop" for c in COMMANDS])
def test_every_sub_command_has_help(capsys, command):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"Usage: {' '.join(('gridloop', *command))}" in out
    command_object = cli
    for name in command:
        command_object = command_object.commands[name]
    assert command_object.help, f"gridloop {' '.join(command)} has no docstring"
    assert command_object.help.split("\n")[0].strip() in " ".join(out.split())


def test_a_usage_error_exits_2_with_the_usage(capsys):
    assert main(["users", "add", "ghost", "--scope", "330199"]) == 2
    assert "Missing option '--role'" in capsys.readouterr().err


def test_migrate_needs_exactly_one_of_event_and_from(capsys, db):
    assert main(["--db", db, "migrate", "--to", "1"]) == 2
    assert "--event" in capsys.readouterr().err


def test_a_database_without_schema_is_named(capsys, tmp_path):
    status, _, err = run(capsys, "--db", f"sqlite:///{tmp_path / 'empty.sqlite3'}", "users", "list")
    assert status == 2
    assert err.startswith("error: ") and "gridloop init" in err


class _Terminal(io.StringIO):
    """Standard error as a terminal would be: progress bars are drawn on it."""

    def isatty(self) -> bool:
        return True


def test_simulate_and_audit_verify_draw_a_progress_bar_on_a_terminal(capsys, monkeypatch, db):
    for argv, label in (
        (["simulate", "--events", "3", "--json"], "simulating"),
        (["audit", "verify"], "verifying"),
    ):
        terminal = _Terminal()
        monkeypatch.setattr("sys.stderr", terminal)
        status, out, _ = run(capsys, "--db", db, *argv)
        assert status == 0
        assert label in terminal.getvalue() and "100%" in terminal.getvalue(), terminal.getvalue()
        if label == "simulating":
            assert json.loads(out)["events"] == 3
        else:
            assert "3 of 3 event(s) verified" in out


def test_boundaries_export_load_and_redivide_from_the_command_line(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    status, out, _ = run(capsys, "--db", db, "boundaries", "export")
    assert status == 0
    exported = json.loads(out)
    assert len(exported["features"]) == 19
    path = tmp_path / "b.geojson"
    path.write_text(out, encoding="utf-8")
    status, out, _ = run(capsys, "--db", db, "boundaries", "load", "--dry-run", str(path))
    assert status == 0 and "would change 0" in out
    assert "330199002001: " in out and "covered by none of its units" in out  # 西山村's hillside
    broken = dict(
        exported, features=[{**exported["features"][0], "geometry": {"type": "Point", "coordinates": [1, 2]}}]
    )
    path.write_text(json.dumps(broken), encoding="utf-8")
    status, _, err = run(capsys, "--db", db, "boundaries", "load", str(path))
    assert status == 2 and "features.0:" in err and "Polygon or MultiPolygon" in err
    path.write_text("{not json", encoding="utf-8")
    assert run(capsys, "--db", db, "boundaries", "load", str(path))[0] == 2
    from test_redivision import split_second_grid

    path.write_text(json.dumps(split_second_grid()), encoding="utf-8")
    status, out, _ = run(capsys, "--db", db, "boundaries", "redivide", "330199001001", str(path), "--dry-run")
    assert status == 0 and "would end 330199001001002" in out and "330199001001002 → 330199001001005" in out
    status, out, _ = run(capsys, "--db", db, "boundaries", "redivide", "330199001001", str(path), "--json")
    assert status == 0 and json.loads(out)["new"][0]["code"] == "330199001001004"


def test_the_ledger_imports_from_the_command_line_naming_each_bad_row(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    status, out, _ = run(capsys, "ledger", "template")
    assert status == 0 and out.startswith("网格编码,楼栋,单元,房号,姓名,身份证号")
    path = tmp_path / "ledger.csv"
    path.write_text(out, encoding="utf-8")
    status, out, _ = run(capsys, "--db", db, "ledger", "import", "--dry-run", str(path))
    assert status == 0 and "would add 1 people" in out
    path.write_text("网格编码,楼栋,房号,姓名,人员类别\n330199001001001,1幢,101,张三,外星\n", encoding="utf-8")
    status, _, err = run(capsys, "--db", db, "ledger", "import", str(path))
    assert status == 2 and "rows.2.kind" in err
