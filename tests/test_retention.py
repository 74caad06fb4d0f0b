"""Retention: finished cases older than the cut-off move into archive files that `audit verify` still checks, on
every backend (engine/commands/retention.py).

What is archived is gone from the live database — its rows, and the attachments no remaining event uses —
and what stays is untouched; `audit verify` passes afterwards, with the archive folder and with checkpoints
written before the run; an edited, swapped or deleted archive file and an event deleted without archiving
are each named; a dry run and a failed run change nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import Driver
from sqlalchemy import func, select, text, update
from test_concurrency import together

from engine.app import Gridloop
from engine.audit import checkpoints, keys, verification
from engine.commands import retention
from engine.demo.simulate import simulate
from engine.errors import Conflict, GridloopError, ValidationFailed
from engine.store.models import (
    AdminLogEntry,
    Attachment,
    AttachmentLink,
    Event,
    HistoryEntry,
    SupervisionSheet,
    Task,
    Timer,
)
from webui.cli import cli

YEARS = timedelta(days=3 * 366)
TABLES = (Event, HistoryEntry, Task, Timer, SupervisionSheet, AttachmentLink, Attachment, AdminLogEntry)


@pytest.fixture(autouse=True)
def own_instance_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in a deployment folder of its own: instance/ holds its keys, checkpoints and archives."""
    for name in (
        keys.KEYS_ENV,
        keys.CHECKPOINT_KEY_ENV,
        checkpoints.DIRECTORY_ENV,
        verification.ARCHIVE_DIR_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def closed_case(driver: Driver, photo: str | None = None) -> int:
    """A case taken through the whole loop (with a photo in its handling, when given)."""
    event_id = driver.report("gw_hb1", photos=[photo] if photo else [])
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    handled = {"action": "done", "result": "已清运", **({"photos": [photo]} if photo else {})}
    driver.complete("h_dh_hw", event_id, "handle", handled)
    driver.complete("gw_hb1", event_id, "verify", {"passed": True})
    driver.complete("leader", event_id, "close", {"opinion": "同意"})
    driver.complete("intake", event_id, "follow_up", {"satisfaction": "satisfied"})
    return event_id


def open_case(driver: Driver, photo: str | None = None) -> int:
    """A case waiting at dispatch."""
    event_id = driver.report("gw_hb1", photos=[photo] if photo else [])
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    return event_id


def counts(gl: Gridloop, event_ids: list[int] | None = None) -> dict[str, int]:
    """Rows per table (of the events ``event_ids``, for the tables of events' rows, when given)."""
    found = {}
    with gl.db.reading() as session:
        for model in TABLES:
            query = select(func.count()).select_from(model)
            if event_ids is not None:
                if model in (Attachment, AdminLogEntry):
                    continue
                column = model.id if model is Event else model.event_id
                query = query.where(column.in_(event_ids))
            found[model.__tablename__] = session.scalar(query) or 0
    return found


def attachment_ids(gl: Gridloop) -> set[str]:
    with gl.db.reading() as session:
        return set(session.scalars(select(Attachment.id)))


def findings(gl: Gridloop, *options: str) -> list[str]:
    """What `audit verify` names, through the engine (with the default folders) and through the command line,
    which must agree and exit 1 exactly when something is named."""
    found = verification.verify_all(gl, workers=1)["mismatches"] if not options else None
    run = CliRunner().invoke(cli, ["--db", gl.db.url, "audit", "verify", "--json", *options])
    assert run.exit_code in (0, 1), run.output
    shown = json.loads(run.stdout)["mismatches"]
    if found is not None:
        assert shown == found
    assert run.exit_code == (1 if shown else 0), run.output
    return [f"{m['event'] if m['event'] is not None else m['code']}: {m['reason']}" for m in shown]


def lines(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


@pytest.fixture
def archived(driver: Driver) -> dict[str, Any]:
    """Two old closed cases (one with a photo of its own, one sharing a photo with a case still open), an old
    open case; three years on, a recent closed case and a new report; a checkpoint; then the archive run with
    ``retention_years`` = 2."""
    gl = driver.gl
    own, shared = driver.photo(), driver.photo()
    old = [closed_case(driver, own), closed_case(driver, shared)]
    old_open = open_case(driver, shared)
    gl.clock.advance(YEARS)
    recent = closed_case(driver)
    newest = driver.report("gw_hb1")
    checkpoint = gl.write_checkpoint()
    with gl.db.reading() as session:
        heads = {
            e.id: (e.history_length, e.history_head)
            for e in session.scalars(select(Event).where(Event.id.in_(old)))
        }
        macs = {
            e: list(
                session.scalars(
                    select(HistoryEntry.hash).where(HistoryEntry.event_id == e).order_by(HistoryEntry.seq)
                )
            )
            for e in old
        }
    before = counts(gl)
    gl.change_setting("admin", "retention_years", 2)
    cut = gl.retention_cut_off()
    assert cut is not None and cut == gl.now().replace(year=gl.now().year - 2)
    result = gl.archive("test", cut)
    return {
        "gl": gl,
        "old": old,
        "stay": [old_open, recent, newest],
        "own": own,
        "shared": shared,
        "heads": heads,
        "macs": macs,
        "before": before,
        "result": result,
        "checkpoint": checkpoint,
        "folder": Path("instance/archive").resolve(),
    }


# ------------------------------------------------------------------ what a run does


def test_old_finished_cases_are_archived_and_gone_while_open_and_recent_ones_stay(
    archived: dict[str, Any],
) -> None:
    gl, old, stay = archived["gl"], archived["old"], archived["stay"]
    result = archived["result"]
    assert (result.events, result.attachments, result.removed_attachments) == (2, 2, 1)
    assert result.records == sum(length for length, _ in archived["heads"].values())
    [path] = result.files
    assert path.parent == archived["folder"] and path.stat().st_size == result.bytes
    assert not list(archived["folder"].glob(".archive-*"))  # no temporary file is left
    assert set(counts(gl, old).values()) == {0}  # events, history, tasks, timers, sheets, links
    attachments = attachment_ids(gl)
    assert archived["own"] not in attachments and archived["shared"] in attachments
    with gl.db.reading() as session:
        assert sorted(session.scalars(select(Event.id))) == sorted(stay)
        log = session.scalars(select(AdminLogEntry).where(AdminLogEntry.action == "archived")).one()
    assert log.data["file"] == path.name
    assert log.data["events"] == [[e, *archived["heads"][e]] for e in old]
    assert log.data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    before = archived["before"]
    after = counts(gl)
    assert after["events"] == before["events"] - 2 and after["attachments"] == before["attachments"] - 1

    # the file holds everything: the rows as stored, the attachments' bytes, the versions they ran on
    header, *body = lines(path)
    assert header["format"] == verification.ARCHIVE_FORMAT and header["events"] == 2
    events = [line for line in body if line["kind"] == "event"]
    assert [line["event"]["id"] for line in events] == old
    for line in events:
        assert [r["hash"] for r in line["history"]] == archived["macs"][line["event"]["id"]]
        assert all(r["key_id"] and "data" in r for r in line["history"])
        assert line["event"]["workflow_state"] and line["tasks"]
    photos = {line["id"]: line for line in body if line["kind"] == "attachment"}
    assert set(photos) == {archived["own"], archived["shared"]}
    assert photos[archived["own"]]["removed"] and not photos[archived["shared"]]["removed"]
    assert [line["kind"] for line in body].count("version") == 1


def test_verify_passes_afterwards_with_the_archives_and_the_checkpoint_before_the_run(
    archived: dict[str, Any],
) -> None:
    gl = archived["gl"]
    result = verification.verify_all(gl, workers=1)
    assert result == {"instances": 5, "verified": 5, "mismatches": [], "archives": 1}
    assert findings(gl) == []
    assert findings(gl, "--archives", str(archived["folder"])) == []
    # another checkpoint after the run counts only the live events; both hold
    gl.write_checkpoint()
    assert findings(gl) == []


def test_verify_without_the_archive_folder_holds_the_checkpoints_to_the_admin_log(
    archived: dict[str, Any], tmp_path: Path
) -> None:
    gl = archived["gl"]
    archived["folder"].rename(tmp_path / "offline")
    assert verification.verify_all(gl, workers=1) == {
        "instances": 3,
        "verified": 3,
        "mismatches": [],
        "archives": 1,
    }
    assert findings(gl, "--archives", str(tmp_path / "offline")) == []


def test_a_simulated_district_is_archived_in_batches_and_verifies(driver: Driver) -> None:
    gl = driver.gl
    simulate(gl, 24, seed=5)
    gl.write_checkpoint()
    gl.clock.advance(YEARS)
    newest = driver.report("gw_hb1")
    with gl.db.reading() as session:
        finished = list(
            session.scalars(
                select(Event.id).where(Event.completed.is_(True), Event.id != newest).order_by(Event.id)
            )
        )
        live = list(session.scalars(select(Event.id).where(Event.completed.is_(False))))
    assert len(finished) > 14 and newest in live
    planned = gl.archive("test", gl.now() - timedelta(days=366), dry_run=True)
    result = gl.archive("test", gl.now() - timedelta(days=366), batch=7)
    assert result.events == planned.events == len(finished)
    assert result.records == planned.records
    # a photo used in several batches is written into each of their files, and removed with the last
    assert result.attachments >= planned.attachments
    assert result.removed_attachments == planned.removed_attachments
    assert len(result.files) == -(-len(finished) // 7)
    with gl.db.reading() as session:
        assert sorted(session.scalars(select(Event.id))) == sorted(live)
        logged = list(session.scalars(select(AdminLogEntry.data).where(AdminLogEntry.action == "archived")))
    assert [e[0] for data in logged for e in data["events"]] == finished
    assert [data["file"] for data in logged] == [path.name for path in result.files]
    verdict = verification.verify_all(gl, workers=1)
    assert verdict["mismatches"] == []
    assert verdict["instances"] == verdict["verified"] == len(finished) + len(live)
    assert gl.archive("test", gl.now() - timedelta(days=366)).events == 0  # nothing is left to archive


# ------------------------------------------------------------------ what verify names


def test_an_edited_archive_file_is_named(archived: dict[str, Any]) -> None:
    gl = archived["gl"]
    [path] = archived["result"].files
    rows = lines(path)
    rows[-1]["filename"] = "other.png"
    write_lines(path, rows)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert findings(gl) == [
        f"archive: archive {path.name}: its SHA-256 is {digest[:12]}…, but admin log record"
        f" {_log_id(gl)} wrote {_logged_sha(gl)[:12]}…: the file was changed or swapped"
    ]


def test_an_archive_rewritten_with_its_admin_log_record_is_named_in_the_records_and_the_log(
    archived: dict[str, Any],
) -> None:
    """Whoever rewrites a file and the admin log's record of its digest breaks the admin log's chain, and the
    archived records themselves fail their MACs and the replay."""
    gl = archived["gl"]
    [path] = archived["result"].files
    rows = lines(path)
    event = next(r for r in rows if r.get("kind") == "event")
    event["history"][0]["data"]["report"]["description"] = "改过的描述"
    write_lines(path, rows)
    data = dict(_logged(gl).data, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    with gl.db.engine.begin() as connection:
        connection.execute(update(AdminLogEntry).where(AdminLogEntry.id == _log_id(gl)).values(data=data))
    found = findings(gl)
    event_id = event["event"]["id"]
    assert any(f.startswith(f"admin_log: admin log record {_log_id(gl)} (archived) ") for f in found), found
    assert any(
        f.startswith(f"{event_id}: archived in {path.name}: history record 1 (report)") for f in found
    ), found
    assert f"archive: archive {path.name}: its body is not the one its header's SHA-256 names" in found


def test_a_deleted_archive_file_is_named(archived: dict[str, Any]) -> None:
    gl = archived["gl"]
    [path] = archived["result"].files
    path.unlink()
    assert findings(gl) == [
        f"archive: archive {path.name}, written by admin log record {_log_id(gl)} with 2 events, is missing"
        f" from {archived['folder']}"
    ]


def test_a_swapped_archive_file_and_a_stray_one_are_named(archived: dict[str, Any], tmp_path: Path) -> None:
    gl = archived["gl"]
    [path] = archived["result"].files
    rows = lines(path)
    stray = archived["folder"] / "archive-20200101T000000Z-1-1.jsonl.gz"
    write_lines(stray, rows)
    shutil.copyfile(stray, path)
    found = findings(gl)
    assert found[0].startswith(
        f"archive: archive {stray.name} in {archived['folder']} is named by no admin log record"
    )
    assert found[1].startswith(f"archive: archive {path.name}: its SHA-256 is ") and found[1].endswith(
        "the file was changed or swapped"
    )
    assert len(found) == 2


def test_an_event_deleted_without_archiving_is_still_named(archived: dict[str, Any]) -> None:
    gl = archived["gl"]
    gone = archived["stay"][0]  # the old open case, counted by the checkpoint before the run
    with gl.db.engine.begin() as connection:
        connection.execute(
            text("DELETE FROM outbox WHERE notice_id IN (SELECT id FROM notices WHERE event_id = :e)"),
            {"e": gone},
        )
        for table in ("notices", "history", "tasks", "timers", "supervision_sheets", "attachment_links"):
            connection.execute(text(f"DELETE FROM {table} WHERE event_id = :e"), {"e": gone})
        connection.execute(text("DELETE FROM events WHERE id = :e"), {"e": gone})
    claims = checkpoints.read(gl.parts.checkpoints.directory, gl.parts.checkpoints.public_key())
    counted = claims.events[gone][0]
    assert findings(gl) == [
        f"{gone}: the event is gone from the database, but checkpoint {archived['checkpoint'].name} counted"
        f" {counted} history records of it"
    ]


# ------------------------------------------------------------------ what changes nothing


def test_a_dry_run_changes_nothing(driver: Driver) -> None:
    gl = driver.gl
    old = closed_case(driver, driver.photo())
    gl.clock.advance(YEARS)
    driver.report("gw_hb1")
    before = counts(gl)
    result = gl.archive("test", gl.now() - timedelta(days=365), dry_run=True)
    assert (result.dry_run, result.events, result.attachments, result.removed_attachments) == (True, 1, 1, 1)
    assert result.files == [] and counts(gl) == before
    assert not Path("instance/archive").exists()
    run = CliRunner().invoke(
        cli, ["--db", gl.db.url, "archive", "--before", f"{gl.now():%Y-%m-%d}", "--dry-run", "--json"]
    )
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["events"] == 1 and counts(gl) == before
    assert gl.archive("test", gl.now() - timedelta(days=365)).events == 1
    assert counts(gl, [old])["events"] == 0


def test_an_unwritable_folder_changes_nothing(driver: Driver, tmp_path: Path) -> None:
    gl = driver.gl
    closed_case(driver, driver.photo())
    gl.clock.advance(YEARS)
    driver.report("gw_hb1")
    before = counts(gl)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    with pytest.raises(GridloopError) as refused:
        gl.archive("test", gl.now(), blocked)
    assert refused.value.code == "archive.unwritable"
    assert counts(gl) == before
    assert findings(gl) == []


def test_a_transaction_that_fails_after_the_file_is_written_removes_it_and_changes_nothing(
    driver: Driver,
) -> None:
    """The database refuses to delete the events (a trigger stands in for any failure after the file is
    durable): the transaction rolls back and the file goes."""
    gl = driver.gl
    closed_case(driver, driver.photo())
    gl.clock.advance(YEARS)
    driver.report("gw_hb1")
    before = counts(gl)
    with gl.db.engine.begin() as connection:
        if gl.db.dialect == "sqlite":
            connection.execute(
                text(
                    "CREATE TRIGGER keep_events BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'kept'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION keep_events() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'kept'; END $$"
                    " LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER keep_events BEFORE DELETE ON events FOR EACH ROW EXECUTE FUNCTION keep_events()"
                )
            )
    with pytest.raises(Exception, match="kept"):
        gl.archive("test", gl.now())
    assert counts(gl) == before
    folder = Path("instance/archive")
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert findings(gl) == []


def test_two_runs_at_once_archive_each_case_once(driver: Driver, make_gridloop: Any) -> None:
    gl = driver.gl
    old = [closed_case(driver) for _ in range(3)]
    gl.clock.advance(YEARS)
    driver.report("gw_hb1")
    other = make_gridloop()

    def attempt(engine: Gridloop) -> Any:
        try:
            return engine.archive("test", engine.now(), batch=1)
        except Conflict as exc:
            return exc

    outcomes = together(partial(attempt, gl), partial(attempt, other))
    archived = sum(o.events for o in outcomes if isinstance(o, retention.ArchiveResult))
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert all(o.code == "archive.running" for o in refused)
    assert counts(gl, old)["events"] == 0 or refused
    with gl.db.reading() as session:
        logged = [
            e[0]
            for d in session.scalars(select(AdminLogEntry.data).where(AdminLogEntry.action == "archived"))
            for e in d["events"]
        ]
    assert sorted(logged) == sorted(set(logged)) and len(logged) == archived
    if gl.db.dialect == "postgresql":  # while another run holds the lock, a run is refused at once
        with gl.db.engine.connect() as holder, holder.begin():
            holder.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": retention.ARCHIVE_LOCK})
            with pytest.raises(Conflict) as held:
                other.archive("test", other.now())
        assert held.value.code == "archive.running"
    gl.archive("test", gl.now())
    assert counts(gl, old)["events"] == 0
    assert findings(gl) == []


# ------------------------------------------------------------------ the setting and the command line


@pytest.mark.parametrize("value", [1, 10, None])
def test_retention_years_takes_a_positive_whole_number_or_null(gl: Gridloop, value: Any) -> None:
    assert gl.get_setting("retention_years") is None
    assert gl.retention_cut_off() is None
    gl.change_setting("admin", "retention_years", value)
    assert gl.get_setting("retention_years") == value


@pytest.mark.parametrize("value", [0, -1, 1.5, "5", True, [3]])
def test_retention_years_refuses_anything_else(gl: Gridloop, value: Any) -> None:
    with pytest.raises(ValidationFailed) as refused:
        gl.change_setting("admin", "retention_years", value)
    assert refused.value.errors["retention_years"][0].code == "setting.retention_years"
    assert gl.get_setting("retention_years") is None


def test_the_command_line_archives_by_the_setting_a_date_or_years_into_its_folder(
    driver: Driver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gl = driver.gl
    old = closed_case(driver)
    gl.clock.advance(YEARS)
    driver.report("gw_hb1")
    runner = CliRunner()
    unset = runner.invoke(cli, ["--db", gl.db.url, "archive"])
    assert unset.exit_code != 0 and "retention_years" in str(unset.exception or unset.output)
    both = runner.invoke(cli, ["--db", gl.db.url, "archive", "--older-than", "1", "--before", "2020-01-01"])
    assert both.exit_code == 2
    early = runner.invoke(cli, ["--db", gl.db.url, "archive", "--before", "2026-01-01", "--json"])
    assert early.exit_code == 0 and json.loads(early.stdout)["events"] == 0
    monkeypatch.setenv(verification.ARCHIVE_DIR_ENV, str(tmp_path / "kept"))
    run = runner.invoke(cli, ["--db", gl.db.url, "archive", "--before", f"{gl.now():%Y-%m-%d}", "--json"])
    assert run.exit_code == 0, run.output
    shown = json.loads(run.stdout)
    assert shown["events"] == 1 and Path(shown["files"][0]).parent == tmp_path / "kept"
    assert counts(gl, [old])["events"] == 0
    assert findings(gl) == []  # the folder of GRIDLOOP_ARCHIVE_DIR is the default of verify too
    assert findings(gl, "--archives", str(tmp_path / "elsewhere"))[0].endswith(
        f"is missing from {tmp_path / 'elsewhere'}"
    )


def _logged(gl: Gridloop) -> AdminLogEntry:
    with gl.db.reading() as session:
        return session.scalars(select(AdminLogEntry).where(AdminLogEntry.action == "archived")).one()


def _log_id(gl: Gridloop) -> int:
    return _logged(gl).id


def _logged_sha(gl: Gridloop) -> str:
    return str(_logged(gl).data["sha256"])
