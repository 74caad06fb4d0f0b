"""``gridloop backup`` and ``gridloop restore`` on both databases: a backup taken while events keep being
reported is one consistent moment, restores into a fresh database that passes the audit, and a restore never
lands on a database that holds something unless told to replace it.

The restore target is a second SQLite file, or a second PostgreSQL schema in the test server's database; one
PostgreSQL case restores into the public schema of a database of its own.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import GRID_HB1, POSTGRES_URL, _schema_url
from seeding import empty_database
from sqlalchemy import text
from sqlalchemy.engine import make_url

from engine.app import Gridloop
from engine.audit.checkpoints import Checkpoints
from engine.store.db import alembic_config, make_engine
from webui.cli import main

EVENT_ROWS = "SELECT id, code, state, version, history_length, history_head FROM events ORDER BY id"
HISTORY_ROWS = "SELECT event_id, seq, action, hash FROM history ORDER BY event_id, seq"


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Another empty database of the test's backend: a SQLite file, or an empty PostgreSQL schema."""
    with empty_database(backend, tmp_path, POSTGRES_URL, name="restored") as url:
        yield url


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def drive_some_events(driver: Any) -> None:
    """Three events at different steps, one of them verified once and sent back (rework)."""
    first = driver.report("gw_hb1")
    driver.complete("intake", first, "accept", {"decision": "accept"})
    driver.complete("dispatcher", first, "dispatch", {"department": "DH-HW"})
    driver.complete("h_dh_hw", first, "handle", {"action": "done", "result": "已清运"})
    driver.complete("gw_hb1", first, "verify", {"passed": False, "note": "仍有残留"})
    second = driver.report("gw_hb1", description="井盖缺失，存在安全隐患")
    driver.complete("intake", second, "accept", {"decision": "accept"})
    driver.report("gw_hb1", description="商户占道经营，影响通行")


class Reporter(threading.Thread):
    """Reports events through an engine of its own until told to stop."""

    def __init__(self, gl: Gridloop) -> None:
        super().__init__(daemon=True)
        self.gl = gl
        self.reported = 0
        self.first = threading.Event()
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.gl.report(
                    "gw_hb1",
                    {
                        "category": "0101",
                        "description": f"路边垃圾堆放无人清运 {self.reported}",
                        "grid": GRID_HB1,
                    },
                )
                self.reported += 1
                self.first.set()
        except BaseException as exc:  # noqa: BLE001 (handed to the test, which fails on it)
            self.errors.append(exc)
            self.first.set()


def test_a_backup_taken_while_events_are_reported_restores_and_passes_the_audit(
    gl, driver, make_gridloop, db_url, fresh_url, tmp_path, capsys
):
    drive_some_events(driver)
    reporter = Reporter(make_gridloop())
    reporter.start()
    assert reporter.first.wait(60)
    before = rows(db_url, EVENT_ROWS)
    file = tmp_path / "backups" / "gridloop.backup"
    try:
        status, out, err = cli(capsys, "--db", db_url, "backup", str(file))
    finally:
        reporter.stop.set()
        reporter.join(60)
    assert reporter.errors == []
    assert status == 0, err
    assert out.startswith("backed up ") and str(file) in out
    assert sorted(os.listdir(file.parent)) == ["gridloop.backup"]  # no temporary file left beside it
    assert file.stat().st_mode & 0o077 == 0  # its owner's only, like the database

    status, out, err = cli(capsys, "restore", str(file), "--to", fresh_url)
    assert status == 0, out + err
    assert "the restored database passes the audit" in out

    source, restored = rows(db_url, EVENT_ROWS), rows(fresh_url, EVENT_ROWS)
    # one moment: everything reported before the backup began, and each event exactly as it was then (the
    # source has moved on since: the reporter kept reporting)
    assert before == restored[: len(before)]
    assert restored == source[: len(restored)]
    restored_ids = {row[0] for row in restored}
    assert rows(fresh_url, HISTORY_ROWS) == [
        row for row in rows(db_url, HISTORY_ROWS) if row[0] in restored_ids
    ]


def test_a_restore_onto_a_database_that_holds_something_is_refused_and_changes_nothing(
    gl, driver, db_url, fresh_url, tmp_path, capsys
):
    drive_some_events(driver)
    file = tmp_path / "gridloop.backup"
    assert cli(capsys, "--db", db_url, "backup", str(file))[0] == 0
    driver.report("gw_hb1", description="备份之后上报的事件")
    events, history = rows(db_url, EVENT_ROWS), rows(db_url, HISTORY_ROWS)

    status, _, err = cli(capsys, "restore", str(file), "--to", db_url)
    assert status == 2
    assert err.startswith("error: ") and "is not empty" in err and "--replace" in err
    assert rows(db_url, EVENT_ROWS) == events
    assert rows(db_url, HISTORY_ROWS) == history

    # a restored database holds something too
    assert cli(capsys, "restore", str(file), "--to", fresh_url)[0] == 0
    restored = rows(fresh_url, EVENT_ROWS)
    status, _, err = cli(capsys, "restore", str(file), "--to", fresh_url)
    assert status == 2 and "is not empty" in err
    assert rows(fresh_url, EVENT_ROWS) == restored


def test_replace_puts_the_backup_in_place_of_what_the_target_holds(gl, driver, db_url, tmp_path, capsys):
    drive_some_events(driver)
    file = tmp_path / "gridloop.backup"
    assert cli(capsys, "--db", db_url, "backup", str(file))[0] == 0
    events = rows(db_url, EVENT_ROWS)
    driver.report("gw_hb1", description="备份之后上报的事件")
    assert len(rows(db_url, EVENT_ROWS)) == len(events) + 1
    gl.db.dispose()  # the service is stopped for a restore that replaces its database

    status, out, err = cli(capsys, "restore", str(file), "--to", db_url, "--replace")
    assert status == 0, out + err
    assert "passes the audit" in out
    assert rows(db_url, EVENT_ROWS) == events


def test_a_restore_is_held_to_the_checkpoints_it_is_given(gl, driver, db_url, fresh_url, tmp_path, capsys):
    drive_some_events(driver)
    as_of_backup, later = Checkpoints(tmp_path / "as-of-backup"), Checkpoints(tmp_path / "later")
    with gl.db.reading() as session:
        as_of_backup.write(session, gl.now())
    file = tmp_path / "gridloop.backup"
    assert cli(capsys, "--db", db_url, "backup", str(file))[0] == 0
    second = rows(db_url, EVENT_ROWS)[1][0]
    driver.complete("dispatcher", second, "dispatch", {"department": "DH-HW"})
    with gl.db.reading() as session:
        later.write(session, gl.now())

    status, out, err = cli(
        capsys, "restore", str(file), "--to", fresh_url, "--checkpoints", str(as_of_backup.directory)
    )
    assert status == 0, out + err
    assert "the restored database passes the audit" in out
    # a checkpoint written after the backup counts a record the backup cannot hold: named, and a failure
    status, out, err = cli(
        capsys, "restore", str(file), "--to", fresh_url, "--replace", "--checkpoints", str(later.directory)
    )
    assert status == 1, out + err
    assert f"event {second} " in out and "the restored database FAILS the audit" in out


def test_a_failed_backup_leaves_the_file_as_it_was(gl, db_url, fresh_url, tmp_path, capsys):
    file = tmp_path / "gridloop.backup"
    assert cli(capsys, "--db", db_url, "backup", str(file))[0] == 0
    good = file.read_bytes()

    # an empty database (a mistyped URL, say) is refused before anything is written
    status, _, err = cli(capsys, "--db", fresh_url, "backup", str(file))
    assert status == 2 and "holds no gridloop schema" in err
    assert file.read_bytes() == good
    missing = tmp_path / "never.backup"
    assert cli(capsys, "--db", fresh_url, "backup", str(missing))[0] == 2
    assert not missing.exists()
    assert [name for name in os.listdir(tmp_path) if name.endswith(".partial")] == []


def test_a_backup_fails_whole_when_its_database_cannot_be_read(db_url, tmp_path, capsys):
    file = tmp_path / "gridloop.backup"
    if db_url.startswith("sqlite"):
        broken = f"sqlite:///{tmp_path}/not-there/x.sqlite3"
    else:
        broken = db_url.replace("/test?", "/no_such_database_here?")
    status, _, err = cli(capsys, "--db", broken, "backup", str(file))
    assert status == 2 and err.startswith("error: ")
    assert not file.exists()
    assert [name for name in os.listdir(tmp_path) if "partial" in name] == []


def test_restore_refuses_what_is_no_backup_of_its_target_backend(gl, db_url, fresh_url, tmp_path, capsys):
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("这不是备份")
    status, _, err = cli(capsys, "restore", str(not_a_backup), "--to", fresh_url)
    assert status == 2 and "neither a SQLite backup nor a pg_dump archive" in err

    file = tmp_path / "gridloop.backup"
    assert cli(capsys, "--db", db_url, "backup", str(file))[0] == 0
    other = (
        "postgresql://nobody@127.0.0.1:1/none"
        if db_url.startswith("sqlite")
        else f"sqlite:///{tmp_path}/other.sqlite3"
    )
    status, _, err = cli(capsys, "restore", str(file), "--to", other)
    assert status == 2 and "backup: restore it --to a" in err
    assert not (tmp_path / "other.sqlite3").exists()


def test_a_backup_of_an_older_schema_is_restored_but_not_passed_as_verified(tmp_path, capsys):
    from alembic import command
    from alembic.script import ScriptDirectory

    url = f"sqlite:///{tmp_path}/old.sqlite3"
    engine = make_engine(url)
    try:
        config = alembic_config(engine)
        older = ScriptDirectory.from_config(config).get_revision("head").down_revision
        assert isinstance(older, str)
        command.upgrade(config, older)
    finally:
        engine.dispose()
    file = tmp_path / "old.backup"
    assert cli(capsys, "--db", url, "backup", str(file))[0] == 0
    status, out, err = cli(capsys, "restore", str(file), "--to", f"sqlite:///{tmp_path}/new.sqlite3")
    assert status == 1
    assert "restored " in out and f"the restored schema is at migration {older}" in err
    assert "gridloop --db URL init" in err


if POSTGRES_URL:

    @pytest.mark.postgres
    def test_a_schema_restores_into_a_database_of_its_own_and_that_database_backs_up_whole(tmp_path, capsys):
        """The production shape: a database of its own, gridloop in its public schema (no search_path)."""
        assert POSTGRES_URL is not None
        schema = f"t_{uuid.uuid4().hex}"
        database = f"gridloop_restore_{uuid.uuid4().hex[:12]}"
        server = make_engine(POSTGRES_URL)
        admin = server.execution_options(isolation_level="AUTOCOMMIT")
        whole = make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
                connection.execute(text(f'CREATE DATABASE "{database}"'))
            source_url = _schema_url(POSTGRES_URL, schema)
            gl = Gridloop(source_url)
            try:
                gl.init_schema()
                gl.create_demo_district("test", password=None)
                gl.deploy(Path(__file__).resolve().parent.parent, activate=True)
                gl.report("gw_hb1", {"category": "0101", "description": "路边垃圾无人清运", "grid": GRID_HB1})
            finally:
                gl.db.dispose()
            file = tmp_path / "schema.backup"
            assert cli(capsys, "--db", source_url, "backup", str(file))[0] == 0

            status, out, err = cli(capsys, "restore", str(file), "--to", whole)
            assert status == 0, out + err
            assert "1 of 1 event(s) verified: the restored database passes the audit" in out
            assert rows(whole, "SELECT current_schema()") == [("public",)]
            assert rows(whole, EVENT_ROWS) == rows(source_url, EVENT_ROWS)

            again = tmp_path / "whole.backup"
            status, out, _ = cli(capsys, "--db", whole, "backup", str(again))
            assert status == 0 and "(postgresql, " in out  # the whole database, no schema named
            target = f"r_{uuid.uuid4().hex}"
            status, out, err = cli(capsys, "restore", str(again), "--to", _schema_url(POSTGRES_URL, target))
            assert status == 0, out + err
            assert rows(_schema_url(POSTGRES_URL, target), EVENT_ROWS) == rows(source_url, EVENT_ROWS)
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA "{target}" CASCADE'))
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            server.dispose()
