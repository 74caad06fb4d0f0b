"""Incremental audit: `audit verify` replays only what changed since the last verified anchor, finds a changed
fact or inbox row of an anchored case at once, holds the anchor's claims like a checkpoint's, names a damaged
anchor, and leaves to `--full` exactly what the anchor cannot see (engine.audit.anchors)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import text

from engine.audit import anchors, verification
from tests.conftest import GRID_HB1, Driver
from tests.test_audit import _closed_with_rework as _closed
from webui.cli import main


def _reported(driver: Driver) -> int:
    event_id = driver.report("intake", channel="hotline", grid=GRID_HB1)
    driver.complete("gw_hb1", event_id, "check_exists", {"exists": True})
    return event_id


def _verify(gl: Any, capsys: Any, *options: str) -> tuple[int, dict[str, Any]]:
    """`gridloop audit verify --json`: its exit code and its report."""
    capsys.readouterr()
    code = main(["--db", gl.db.url, "audit", "verify", "--json", *options])
    return code, json.loads(capsys.readouterr().out)


def _reasons(report: dict[str, Any], event_id: int | None) -> list[str]:
    return [m["reason"] for m in report["mismatches"] if m["event"] == event_id]


def _sql(gl: Any, statement: str, **params: Any) -> None:
    with gl.db.engine.begin() as connection:
        connection.execute(text(statement), params)


def _length(gl: Any, event_id: int) -> int:
    with gl.db.engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT history_length FROM events WHERE id = :e"), {"e": event_id}
            ).scalar_one()
        )


def _anchor_files(gl: Any) -> list[Path]:
    return sorted(gl.parts.checkpoints.directory.glob(anchors.FILE_GLOB), key=anchors.written_order)


def test_a_second_verify_replays_only_the_cases_that_changed_since_the_anchor(gl, driver, capsys):
    closed, reported = _closed(driver), _reported(driver)
    code, first = _verify(gl, capsys)
    assert code == 0 and (first["instances"], first["verified"], first["unchanged"]) == (2, 2, 0)
    assert first["anchor"] is None and first["anchored"] == _anchor_files(gl)[0].name

    code, second = _verify(gl, capsys)
    assert code == 0 and (second["instances"], second["verified"], second["unchanged"]) == (2, 2, 2)
    assert second["anchor"] == first["anchored"]

    driver.complete("intake", reported, "accept", {"decision": "accept"})  # its chain grows
    fresh = _reported(driver)
    code, third = _verify(gl, capsys)
    assert code == 0 and (third["instances"], third["verified"], third["unchanged"]) == (3, 3, 1)
    newest = anchors.newest(gl.parts.checkpoints.directory, gl.parts.checkpoints.public_key())
    assert newest.name == third["anchored"] and set(newest.events) == {closed, reported, fresh}
    assert newest.events[reported][0] == _length(gl, reported)
    assert not newest.full  # one case was held by the anchor before it

    # what it holds by the anchor it does not replay: a stored workflow state changed inside an unchanged case
    # is what only the full verification sees (the anchor does not read the states)
    _sql(gl, "UPDATE events SET workflow_state = '{}' WHERE id = :e", e=closed)
    code, incremental = _verify(gl, capsys)
    assert code == 0 and incremental["unchanged"] == 3
    code, full = _verify(gl, capsys, "--full")
    assert code == 1 and "unchanged" not in full
    assert _reasons(full, closed) and all("workflow state" in r for r in _reasons(full, closed))


def test_a_changed_fact_or_inbox_row_of_an_anchored_case_is_found_by_the_next_incremental_run(
    gl, driver, capsys
):
    closed, reported = _closed(driver), _reported(driver)
    assert _verify(gl, capsys)[0] == 0
    _sql(gl, "UPDATE events SET closed_on_time = NOT closed_on_time WHERE id = :e", e=closed)
    _sql(gl, "UPDATE tasks SET role = 'leader' WHERE event_id = :e AND status = 'open'", e=reported)
    code, report = _verify(gl, capsys)
    assert code == 1 and report["unchanged"] == 0
    assert any("closed_on_time" in r for r in _reasons(report, closed))
    assert any("role" in r for r in _reasons(report, reported))
    # no case was sound, so no anchor is written: the next run replays both again and still finds them
    assert "anchored" not in report and len(_anchor_files(gl)) == 1
    code, again = _verify(gl, capsys)
    assert code == 1 and again["unchanged"] == 0 and _reasons(again, closed) and _reasons(again, reported)


def test_the_anchor_holds_its_records_like_a_checkpoint(gl, driver, capsys):
    closed = _closed(driver)
    assert _verify(gl, capsys)[0] == 0
    length = _length(gl, closed)
    # a key holder cuts the last record and moves the head back: a chain that is intact in itself
    with gl.db.engine.begin() as connection:
        previous = connection.execute(
            text("SELECT hash FROM history WHERE event_id = :e AND seq = :s"), {"e": closed, "s": length - 1}
        ).scalar_one()
        connection.execute(
            text("DELETE FROM history WHERE event_id = :e AND seq = :s"), {"e": closed, "s": length}
        )
        connection.execute(
            text("UPDATE events SET history_length = :n, history_head = :h WHERE id = :e"),
            {"n": length - 1, "h": previous, "e": closed},
        )
    code, report = _verify(gl, capsys)
    anchor = _anchor_files(gl)[0].name
    assert code == 1
    assert (
        f"checkpoint {anchor} counted {length} history records, but only {length - 1} are stored"
        in _reasons(report, closed)
    )


def test_a_damaged_anchor_is_named_and_not_trusted(gl, driver, capsys):
    _closed(driver), _reported(driver)
    assert _verify(gl, capsys)[0] == 0
    (path,) = _anchor_files(gl)
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    # the line of one case rewritten to claim another digest (as whoever wants a changed case held would)
    event_id, length, head, _digest = json.loads(lines[1])
    lines[1] = (json.dumps([event_id, length, head, "0" * 64], separators=(",", ":")) + "\n").encode()
    path.write_bytes(gzip.compress(b"".join(lines)))
    code, report = _verify(gl, capsys)
    assert code == 1 and report["unchanged"] == 0 and report["anchor"] is None
    assert _reasons(report, None) == [
        f"anchor {path.name}: its signature does not hold — the file was changed after it was signed, or it was"
        " signed with another key than the public key it is checked with"
    ]
    assert report["verified"] == 2  # every case verified in full instead


def test_an_auditors_run_with_their_own_key_writes_no_anchor(gl, driver, capsys, tmp_path):
    _closed(driver)
    gl.write_checkpoint()
    capsys.readouterr()
    assert main(["audit", "public-key"]) == 0
    public = tmp_path / "public.key"
    public.write_text(capsys.readouterr().out)
    code, report = _verify(gl, capsys, "--public-key", str(public))
    assert code == 0 and report["verified"] == 1 and "anchored" not in report
    assert _anchor_files(gl) == []
    # the engine's own function writes none unless asked
    assert "anchored" not in verification.verify_all(gl, incremental=True)
    assert os.listdir(gl.parts.checkpoints.directory) == [
        p.name for p in gl.parts.checkpoints.directory.glob("checkpoint-*")
    ]
