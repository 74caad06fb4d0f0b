"""Tampering by someone who can write the database is named by `audit verify`, on every backend.

The attacker here does what an unkeyed hash chain could not stop: changes records and recomputes the chain
and the event's head (with plain SHA-256, or with HMAC under a key they guess), edits the inbox, timer and
supervision rows, rewrites the admin log. With the audit key as well (an insider), they can make a chain that
is authentic — and the signed checkpoints outside the database still name the rewrite. Each finding is checked
through the engine (:func:`engine.audit.verification.verify_all`) and through the command line (exit 1).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import stat
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import GRID_HB1, REPO, Driver
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import delete, insert, select, text, update
from test_concurrency import together

from engine.app import Gridloop
from engine.audit import checkpoints, history, keys, verification
from engine.demo.district import create_demo_district
from engine.store.models import AdminLogEntry, Event, HistoryEntry, SupervisionSheet, Task, Timer
from webui.cli import cli, main

TIMER_PROCESS = REPO / "tests" / "fixtures" / "timer_process"
GUESSED = b"a key somebody guessed, not ours"
Signer = Callable[[str, str | None], tuple[str | None, str]]


@pytest.fixture(autouse=True)
def own_instance_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in a deployment folder of its own: its instance/ holds the audit keys, the checkpoint key
    and the checkpoints its engines and its command lines share; no key comes from the environment."""
    for name in (keys.KEYS_ENV, keys.CHECKPOINT_KEY_ENV, checkpoints.DIRECTORY_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


# ------------------------------------------------------------------ what verify says


def findings(gl: Gridloop, *options: str) -> list[str]:
    """What `audit verify` names, as "<event or kind>: <reason>": through the engine and through the command
    line, which must agree (and exit 1 exactly when something is named)."""
    found = verification.verify_all(gl, workers=1)["mismatches"] if not options else None
    run = CliRunner().invoke(cli, ["--db", gl.db.url, "audit", "verify", "--json", "--full", *options])
    shown = json.loads(run.stdout)["mismatches"]
    if found is not None:
        assert shown == found
    assert run.exit_code == (1 if shown else 0), run.output
    return [f"{m['event'] if m['event'] is not None else m['code']}: {m['reason']}" for m in shown]


def reasons_of(gl: Gridloop, event_id: int, *options: str) -> list[str]:
    """The reasons `audit verify` gives for one event."""
    prefix = f"{event_id}: "
    return [f[len(prefix) :] for f in findings(gl, *options) if f.startswith(prefix)]


def _sql(gl: Gridloop, statement: str, **params: Any) -> None:
    with gl.db.engine.begin() as connection:
        connection.execute(text(statement), params)


# ------------------------------------------------------------------ the attacker's tools


def record_content(event_id: int, r: dict[str, Any]) -> str:
    """A history record's canonical content, as the chain has always been computed over."""
    return history.canonical(
        {
            "event": event_id,
            "seq": r["seq"],
            "at": r["at"].isoformat(),
            "actor": r["actor"],
            "action": r["action"],
            "version": r["process_version_id"],
            "bpmn_id": r["bpmn_id"],
            "task": r["task_id"],
            "data": r["data"],
            "prev": r["prev_hash"],
        }
    )


def plain_sha256(content: str, key_id: str | None) -> tuple[str | None, str]:
    """The unkeyed chain of before: SHA-256 of the content (the key id left as it was)."""
    return key_id, hashlib.sha256(content.encode()).hexdigest()


def guessed_key(content: str, key_id: str | None) -> tuple[str | None, str]:
    """HMAC-SHA256 under a guessed key, claimed to be the key the record names."""
    return key_id, hmac.new(GUESSED, content.encode(), hashlib.sha256).hexdigest()


def own_key_id(content: str, key_id: str | None) -> tuple[str | None, str]:
    """HMAC-SHA256 under a key of the attacker's, named by an id of theirs."""
    return "k7-mine", hmac.new(GUESSED, content.encode(), hashlib.sha256).hexdigest()


def no_key_id(content: str, key_id: str | None) -> tuple[str | None, str]:
    """SHA-256, with the key id cleared (a record written by hand)."""
    return None, hashlib.sha256(content.encode()).hexdigest()


def with_the_key(gl: Gridloop) -> Signer:
    """An insider who holds the audit key: the MACs they make are authentic."""
    audit_keys = gl.parts.audit_keys

    def sign(content: str, key_id: str | None) -> tuple[str | None, str]:
        key_id = audit_keys.signing_id
        secret = audit_keys.secret(key_id)
        assert secret is not None
        return key_id, hmac.new(secret, content.encode(), hashlib.sha256).hexdigest()

    return sign


def records(gl: Gridloop, event_id: int) -> list[dict[str, Any]]:
    """An event's history records as column values, in order."""
    with gl.db.reading() as session:
        rows = session.scalars(
            select(HistoryEntry).where(HistoryEntry.event_id == event_id).order_by(HistoryEntry.seq)
        )
        return [{c.name: getattr(r, c.key) for c in HistoryEntry.__table__.c if c.name != "id"} for r in rows]


def rewrite_history(
    gl: Gridloop, event_id: int, sign: Signer, change: Callable[[list[dict[str, Any]]], None]
) -> None:
    """Change an event's records (``change`` edits the list: drop, add, reorder, edit), then do what leaves
    nothing over for a chain check: renumber them, recompute every link and MAC with ``sign`` and move the
    event's head and length."""
    rows = records(gl, event_id)
    change(rows)
    previous = None
    for seq, row in enumerate(rows, start=1):
        row["seq"], row["prev_hash"] = seq, previous
        row["key_id"], row["hash"] = sign(record_content(event_id, row), row["key_id"])
        previous = row["hash"]
    table = HistoryEntry.__table__
    with gl.db.engine.begin() as connection:
        connection.execute(delete(table).where(table.c.event_id == event_id))
        connection.execute(insert(table), rows)
        connection.execute(
            update(Event.__table__)
            .where(Event.__table__.c.id == event_id)
            .values(history_head=previous, history_length=len(rows))
        )


def rewrite_admin_log(gl: Gridloop, sign: Signer, change: Callable[[list[dict[str, Any]]], None]) -> None:
    """The same for the admin log: change its records, recompute the chain."""
    table = AdminLogEntry.__table__
    with gl.db.reading() as session:
        rows = [
            {c.name: getattr(r, c.key) for c in table.c}
            for r in session.scalars(select(AdminLogEntry).order_by(AdminLogEntry.id))
        ]
    change(rows)
    previous = None
    for row in rows:
        row["prev_hash"] = previous
        content = history.canonical(
            {
                "at": row["at"].isoformat(),
                "actor": row["actor"],
                "action": row["action"],
                "data": row["data"],
                "prev": previous,
            }
        )
        row["key_id"], row["hash"] = sign(content, row["key_id"])
        previous = row["hash"]
    with gl.db.engine.begin() as connection:
        connection.execute(delete(table))
        connection.execute(insert(table), rows)


def claim_record(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The last claim among the records."""
    return [r for r in rows if r["action"] == "claim"][-1]


# ------------------------------------------------------------------ cases


def claimed_case(driver: Driver) -> tuple[int, int]:
    """An event whose accept task intake claimed, gave back, claimed again and completed, now at dispatch,
    claimed by the dispatcher; returns the event and the dispatch task."""
    gl = driver.gl
    event_id = driver.report("gw_hb1")
    accept = driver.open_task(event_id, "accept")["id"]
    gl.claim("intake", accept)
    gl.unclaim("intake", accept)
    gl.claim("intake", accept)
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    dispatch = driver.open_task(event_id, "dispatch")["id"]
    gl.claim("dispatcher", dispatch)
    return event_id, dispatch


def supervised_case(driver: Driver) -> int:
    """An event with a leader's sheet replied to, gone overdue at the department (time lights, an automatic sheet
    and its escalations), then handled, verified and closed (which clears the sheets)."""
    gl = driver.gl
    event_id = driver.report("gw_hb1")
    driver.complete("intake", event_id, "accept", {"decision": "accept"})
    driver.complete("dispatcher", event_id, "dispatch", {"department": "DH-HW"})
    sheet = gl.issue_sheet("supervisor", event_id, "DH-HW", "请加快处置")
    gl.reply_to_sheet("h_dh_hw", sheet["id"], "正在处置")
    for days in (2, 5, 12):
        gl.clock.advance(timedelta(days=days))
        gl.supervise()
    driver.complete("h_dh_hw", event_id, "handle", {"action": "done", "result": "已清运"})
    driver.complete("gw_hb1", event_id, "verify", {"passed": True})
    driver.complete("leader", event_id, "close", {"opinion": "同意"})
    return event_id


def timer_engine(make_gridloop: Any) -> tuple[Gridloop, int]:
    """An engine on the timer fixture process with one event whose timer has fired."""
    gl = make_gridloop()
    gl.init_schema()
    with gl.db.unit_of_work() as session:
        create_demo_district(session, password=None)
    gl.deploy(TIMER_PROCESS, activate=True)
    event_id = gl.report(
        "gw_hb1", {"category": "0101", "description": "路边有一堆暴露垃圾", "grid": GRID_HB1}
    )["id"]
    gl.clock.advance(timedelta(days=1))
    assert gl.tick("scheduler-a") == 1
    return gl, event_id


def _sheets(gl: Gridloop, event_id: int) -> list[Any]:
    with gl.db.reading() as session:
        return list(
            session.scalars(
                select(SupervisionSheet)
                .where(SupervisionSheet.event_id == event_id)
                .order_by(SupervisionSheet.id)
            )
        )


def _tasks(gl: Gridloop, event_id: int) -> list[Any]:
    with gl.db.reading() as session:
        return list(session.scalars(select(Task).where(Task.event_id == event_id).order_by(Task.id)))


# ------------------------------------------------------------------ a clean run


def test_untouched_records_rows_and_checkpoints_verify(driver: Driver) -> None:
    gl = driver.gl
    claimed_case(driver)
    checkpoint = gl.write_checkpoint()
    supervised = supervised_case(driver)
    gl.change_setting("admin", "rework_rate_base", "due")
    gl.set_calendar_day("admin", date(2027, 1, 4), False, "测试")
    second = Path(CliRunner().invoke(cli, ["--db", gl.db.url, "audit", "checkpoint"]).stdout.strip())
    assert checkpoint.parent == second.parent == gl.parts.checkpoints.directory and checkpoint != second
    # one folder per database under the instance's checkpoints: another database's are never held against it
    assert checkpoint.parent.parent == Path("instance/checkpoints").resolve()
    kinds = {s.kind: (s.status, s.card) for s in _sheets(gl, supervised)}
    assert kinds == {"leader": ("cleared", "notice"), "auto": ("cleared", "red")}
    with gl.db.reading() as session:
        actions = set(session.scalars(select(HistoryEntry.action)))
        unkeyed = session.scalar(select(HistoryEntry.id).where(HistoryEntry.key_id.is_(None)).limit(1))
    assert {
        "claim",
        "unclaim",
        "light",
        "sheet_issued",
        "sheet_escalated",
        "sheet_replied",
        "sheet_cleared",
    } <= actions
    assert unkeyed is None
    assert findings(gl) == []
    assert verification.verify_all(gl) == {"instances": 2, "verified": 2, "mismatches": []}


def test_untouched_timer_rows_verify(make_gridloop: Any) -> None:
    gl, _event_id = timer_engine(make_gridloop)
    gl.write_checkpoint()
    assert findings(gl) == []


# ------------------------------------------------------------------ history records


@pytest.mark.parametrize("sign", [plain_sha256, guessed_key], ids=["sha256", "guessed-key"])
def test_an_edited_record_with_its_chain_recomputed_is_named(driver: Driver, sign: Signer) -> None:
    gl = driver.gl
    event_id, dispatch = claimed_case(driver)

    def blame_someone_else(rows: list[dict[str, Any]]) -> None:
        claim_record(rows)["actor"] = "gw_la1"

    rewrite_history(gl, event_id, sign, blame_someone_else)
    _sql(gl, "UPDATE tasks SET assignee = 'gw_la1' WHERE id = :t", t=dispatch)
    reasons = reasons_of(gl, event_id)
    seq = len(records(gl, event_id))
    assert f"history record {seq} (claim) was altered: its content no longer matches its MAC" in reasons
    assert all("was altered" in r for r in reasons), "the recomputed chain links, and the rows agree with it"


def test_a_deleted_record_with_its_chain_recomputed_is_named(driver: Driver) -> None:
    gl = driver.gl
    event_id, _dispatch = claimed_case(driver)

    def drop_the_unclaim(rows: list[dict[str, Any]]) -> None:
        rows[:] = [r for r in rows if r["action"] != "unclaim"]

    rewrite_history(gl, event_id, plain_sha256, drop_the_unclaim)
    reasons = reasons_of(gl, event_id)
    assert "history record 2 (claim) was altered: its content no longer matches its MAC" in reasons
    assert not any("missing" in r for r in reasons), "renumbered: no gap is left to see"


def test_an_inserted_record_is_named(driver: Driver) -> None:
    gl = driver.gl
    event_id, dispatch = claimed_case(driver)
    head, length, key_id = _head(gl, event_id)
    _sql(gl, "UPDATE tasks SET assignee = 'intruder' WHERE id = :t", t=dispatch)
    row = records(gl, event_id)[-1] | {
        "seq": length + 1,
        "actor": "intruder",
        "prev_hash": head,
        "task_id": dispatch,
    }
    row["key_id"], row["hash"] = plain_sha256(record_content(event_id, row), key_id)
    with gl.db.engine.begin() as connection:
        connection.execute(insert(HistoryEntry.__table__), [row])
        connection.execute(
            update(Event.__table__)
            .where(Event.__table__.c.id == event_id)
            .values(history_head=row["hash"], history_length=length + 1)
        )
    assert reasons_of(gl, event_id) == [
        f"history record {length + 1} (claim) was altered: its content no longer matches its MAC"
    ]


def _head(gl: Gridloop, event_id: int) -> tuple[str, int, str]:
    rows = records(gl, event_id)
    return rows[-1]["hash"], len(rows), rows[-1]["key_id"]


def test_swapped_records_are_named(driver: Driver) -> None:
    gl = driver.gl
    event_id, _dispatch = claimed_case(driver)
    accept = _tasks(gl, event_id)[0].id

    def swap_claim_and_unclaim(rows: list[dict[str, Any]]) -> None:
        rows[1], rows[2] = rows[2], rows[1]  # claim, unclaim → unclaim, claim

    rewrite_history(gl, event_id, plain_sha256, swap_claim_and_unclaim)
    reasons = reasons_of(gl, event_id)
    assert "history record 2 (unclaim) was altered: its content no longer matches its MAC" in reasons
    assert "history record 3 (claim) was altered: its content no longer matches its MAC" in reasons
    assert not any(f"task {accept}" in r for r in reasons), "the second claim still stands last"


@pytest.mark.parametrize(
    ("sign", "problem"),
    [
        (guessed_key, "was altered: its content no longer matches its MAC"),
        (own_key_id, "names the audit key 'k7-mine', which is not among the audit keys"),
        (no_key_id, "carries no audit key id: it was not written by gridloop's pipeline"),
    ],
    ids=["guessed-key", "own-key-id", "no-key-id"],
)
def test_a_history_rehashed_under_another_key_is_named_record_by_record(
    driver: Driver, sign: Signer, problem: str
) -> None:
    gl = driver.gl
    event_id, _dispatch = claimed_case(driver)
    rewrite_history(gl, event_id, sign, lambda rows: None)
    actions = [r["action"] for r in records(gl, event_id)]
    assert reasons_of(gl, event_id) == [
        f"history record {seq} ({action}) {problem}" for seq, action in enumerate(actions, start=1)
    ]


def test_a_record_naming_no_key_or_an_unknown_key_is_named(driver: Driver) -> None:
    gl = driver.gl
    event_id, _dispatch = claimed_case(driver)
    _sql(gl, "UPDATE history SET key_id = NULL WHERE event_id = :e AND seq = 2", e=event_id)
    _sql(gl, "UPDATE history SET key_id = 'k9-lost' WHERE event_id = :e AND seq = 3", e=event_id)
    assert reasons_of(gl, event_id) == [
        "history record 2 (claim) carries no audit key id: it was not written by gridloop's pipeline",
        "history record 3 (unclaim) names the audit key 'k9-lost', which is not among the audit keys",
    ]


# ------------------------------------------------------------------ rows that mirror the history


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("completed_by", "'gw_la1'", "completed_by is 'gw_la1' but the history says 'intake'"),
        ("assignee", "'gw_la1'", "assignee is 'gw_la1' but the history says 'intake'"),
        ("status", "'cancelled'", "status is 'cancelled' but the history says 'completed'"),
        ("completed_at", "NULL", "completed_at is None but the history says '"),
        ("role", "'dispatcher'", "role is 'dispatcher' but the history says 'intake'"),
    ],
)
def test_an_edited_task_row_is_named(driver: Driver, column: str, value: str, reason: str) -> None:
    gl = driver.gl
    event_id, _dispatch = claimed_case(driver)
    accept = _tasks(gl, event_id)[0].id
    _sql(gl, f"UPDATE tasks SET {column} = {value} WHERE id = :t", t=accept)
    reasons = reasons_of(gl, event_id)
    assert [r for r in reasons if r.startswith(f"task {accept}: {reason}")], reasons
    assert all(r.startswith(f"task {accept}: ") for r in reasons), reasons


def test_a_task_row_added_or_removed_is_named(driver: Driver) -> None:
    gl = driver.gl
    event_id, dispatch = claimed_case(driver)
    accept = _tasks(gl, event_id)[0].id
    _sql(
        gl,
        "INSERT INTO tasks (event_id, spiff_task_id, bpmn_id, name, lane, role, scope_code, department_code, form,"
        " assignee, status, due_at, created_at, claimed_at, completed_at, completed_by, light)"
        " SELECT event_id, 'forged', bpmn_id, name, lane, role, scope_code, department_code, form, assignee,"
        " 'cancelled', due_at, created_at, claimed_at, created_at, completed_by, light FROM tasks WHERE id = :t",
        t=dispatch,
    )
    assert "the history offers 2 inbox rows but 3 are stored" in reasons_of(gl, event_id)
    _sql(gl, "DELETE FROM tasks WHERE spiff_task_id = 'forged'")
    _sql(gl, "DELETE FROM tasks WHERE id = :t", t=accept)
    reasons = reasons_of(gl, event_id)
    assert "the history offers 2 inbox rows but 1 are stored" in reasons
    assert f"history record 2 (claim) names task {accept}, which is not an inbox row of this event" in reasons


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("fired_by = 'scheduler-b'", "fired_by is 'scheduler-b' but the history says 'scheduler-a'"),
        ("status = 'cancelled'", "status is 'cancelled' but the history says 'fired'"),
        ("fired_at = created_at", "fired_at is '"),
        ("due_at = created_at", "due_at is '"),
    ],
)
def test_an_edited_timer_row_is_named(make_gridloop: Any, change: str, reason: str) -> None:
    gl, event_id = timer_engine(make_gridloop)
    with gl.db.reading() as session:
        timer = session.scalar(select(Timer).where(Timer.event_id == event_id))
    assert timer is not None and (timer.status, timer.fired_by) == ("fired", "scheduler-a")
    _sql(gl, f"UPDATE timers SET {change} WHERE id = :t", t=timer.id)
    reasons = reasons_of(gl, event_id)
    assert [r for r in reasons if r.startswith(f"timer {timer.id}: {reason}")], reasons


def test_a_deleted_timer_row_is_named(make_gridloop: Any) -> None:
    gl, event_id = timer_engine(make_gridloop)
    _sql(gl, "DELETE FROM timers WHERE event_id = :e", e=event_id)
    [reason] = reasons_of(gl, event_id)
    assert reason.startswith("the history has timer 'wait' wait from ") and reason.endswith(
        "but no timer row holds it"
    )


@pytest.mark.parametrize(
    ("kind", "change", "reason"),
    [
        ("leader", "department_code = 'DH-CG'", "department_code is 'DH-CG' but the history says 'DH-HW'"),
        ("leader", "replied_by = 'leader'", "replied_by is 'leader' but the history says 'h_dh_hw'"),
        ("auto", "card = 'notice'", "card is 'notice' but the history says 'red'"),
        ("auto", "status = 'open', cleared_at = NULL", "status is 'open' but the history says 'cleared'"),
        ("auto", "issued_by = 'leader'", "issued_by is 'leader' but the history says 'supervision'"),
    ],
)
def test_an_edited_sheet_row_is_named(driver: Driver, kind: str, change: str, reason: str) -> None:
    gl = driver.gl
    event_id = supervised_case(driver)
    [sheet] = [s for s in _sheets(gl, event_id) if s.kind == kind]
    _sql(gl, f"UPDATE supervision_sheets SET {change} WHERE id = :s", s=sheet.id)
    reasons = reasons_of(gl, event_id)
    assert f"sheet {sheet.id}: {reason}" in reasons, reasons
    assert all(r.startswith(f"sheet {sheet.id}: ") for r in reasons), reasons


def test_a_deleted_sheet_is_named(driver: Driver) -> None:
    gl = driver.gl
    event_id = supervised_case(driver)
    sheet = _sheets(gl, event_id)[0]
    _sql(gl, "DELETE FROM supervision_sheets WHERE id = :s", s=sheet.id)
    [reason] = reasons_of(gl, event_id)
    assert reason.endswith(f"(sheet_issued) issued sheet {sheet.id}, which is not stored with this event")


# ------------------------------------------------------------------ the admin log


def _admin_changes(gl: Gridloop) -> None:
    gl.change_setting("admin", "rework_rate_base", "due")
    gl.set_calendar_day("admin", date(2027, 1, 4), False, "测试")


@pytest.mark.parametrize("sign", [plain_sha256, guessed_key], ids=["sha256", "guessed-key"])
def test_an_edited_admin_log_with_its_chain_recomputed_is_named(gl: Gridloop, sign: Signer) -> None:
    _admin_changes(gl)

    def quieter(rows: list[dict[str, Any]]) -> None:
        setting = next(r for r in rows if r["action"] == "setting")
        setting["actor"] = "nobody"

    rewrite_admin_log(gl, sign, quieter)
    with gl.db.reading() as session:
        ids = {r.action: r.id for r in session.scalars(select(AdminLogEntry))}
    problems = [f for f in findings(gl) if f.startswith("admin_log: ")]
    assert (
        f"admin_log: admin log record {ids['setting']} (setting) was altered: its content no longer matches its MAC"
        in problems
    )
    assert all("was altered" in p for p in problems)


def test_a_rewritten_admin_log_is_named_under_no_or_an_unknown_key(gl: Gridloop) -> None:
    _admin_changes(gl)
    rewrite_admin_log(gl, own_key_id, lambda rows: None)
    problems = [f for f in findings(gl) if f.startswith("admin_log: ")]
    assert problems and all(
        "names the audit key 'k7-mine', which is not among the audit keys" in p for p in problems
    )
    rewrite_admin_log(gl, no_key_id, lambda rows: None)
    problems = [f for f in findings(gl) if f.startswith("admin_log: ")]
    assert problems and all("carries no audit key id" in p for p in problems)


def test_parallel_admin_log_writers_keep_one_linear_chain(make_gridloop: Any) -> None:
    first = make_gridloop()
    first.init_schema()
    first.create_demo_district("test", password=None)
    engines = [first, make_gridloop()]  # two processes' engines, and two threads on each
    for round_ in range(3):
        together(
            *(
                partial(
                    engines[i % 2].set_calendar_day,
                    "admin",
                    date(2027, 3, 1) + timedelta(days=round_ * 8 + i),
                    False,
                )
                for i in range(8)
            )
        )
    with first.db.reading() as session:
        log = list(session.scalars(select(AdminLogEntry).order_by(AdminLogEntry.id)))
    assert len(log) == 1 + 24
    assert [r.prev_hash for r in log] == [None] + [r.hash for r in log[:-1]], (
        "every record links to the one before"
    )
    assert len({r.prev_hash for r in log}) == len(log), "no two records follow the same one"
    assert findings(first) == []


# ------------------------------------------------------------------ checkpoints


def test_a_history_rewritten_with_the_key_after_a_checkpoint_is_named(driver: Driver) -> None:
    gl = driver.gl
    event_id, dispatch = claimed_case(driver)
    length = len(records(gl, event_id))
    checkpoint = gl.write_checkpoint()
    rewrite_history(gl, event_id, with_the_key(gl), lambda rows: claim_record(rows).update(actor="gw_la1"))
    _sql(gl, "UPDATE tasks SET assignee = 'gw_la1' WHERE id = :t", t=dispatch)
    [reason] = reasons_of(gl, event_id)
    assert reason.startswith(
        f"history record #{length} is not the one checkpoint {checkpoint.name} holds (its MAC was "
    )


def test_records_cut_off_with_the_key_after_a_checkpoint_are_named(driver: Driver) -> None:
    gl = driver.gl
    event_id, dispatch = claimed_case(driver)
    length = len(records(gl, event_id))
    checkpoint = gl.write_checkpoint()
    rewrite_history(gl, event_id, with_the_key(gl), lambda rows: rows.pop())  # the dispatcher's claim
    _sql(gl, "UPDATE tasks SET assignee = NULL, claimed_at = NULL WHERE id = :t", t=dispatch)
    assert reasons_of(gl, event_id) == [
        f"checkpoint {checkpoint.name} counted {length} history records, but only {length - 1} are stored"
    ]


def test_an_event_deleted_after_a_checkpoint_is_named(driver: Driver) -> None:
    gl = driver.gl
    kept, _ = claimed_case(driver)
    gone = driver.report("gw_hb1")
    checkpoint = gl.write_checkpoint()
    _sql(gl, "DELETE FROM outbox WHERE notice_id IN (SELECT id FROM notices WHERE event_id = :e)", e=gone)
    for table in ("notices", "history", "tasks", "timers", "supervision_sheets"):
        _sql(gl, f"DELETE FROM {table} WHERE event_id = :e", e=gone)
    _sql(gl, "DELETE FROM events WHERE id = :e", e=gone)
    assert findings(gl) == [
        f"{gone}: the event is gone from the database, but checkpoint {checkpoint.name} counted 1 history records of it"
    ]
    assert reasons_of(gl, kept) == []


def test_an_admin_log_rewritten_with_the_key_after_a_checkpoint_is_named(gl: Gridloop) -> None:
    _admin_changes(gl)
    checkpoint = gl.write_checkpoint()
    with gl.db.reading() as session:
        length = len(list(session.scalars(select(AdminLogEntry.id))))
    rewrite_admin_log(gl, with_the_key(gl), lambda rows: rows[-1]["data"].update(note="另一个说明"))
    [problem] = findings(gl)
    assert problem.startswith(
        f"admin_log: admin log record #{length} is not the one checkpoint {checkpoint.name} holds (its MAC was "
    )
    rewrite_admin_log(gl, with_the_key(gl), lambda rows: rows.pop())
    assert findings(gl) == [
        f"admin_log: checkpoint {checkpoint.name} counted {length} admin log records, but only {length - 1} are stored"
    ]


def _rewrite_checkpoint(path: Path, edit: Callable[[list[bytes]], None]) -> None:
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    edit(lines)
    path.write_bytes(gzip.compress(b"".join(lines)))


def test_an_edited_checkpoint_file_is_named_and_its_claims_are_not_used(driver: Driver) -> None:
    gl = driver.gl
    event_id, _ = claimed_case(driver)
    checkpoint = gl.write_checkpoint()
    assert findings(gl) == []

    def claim_less(lines: list[bytes]) -> None:
        lines[1] = f'[{event_id},2,"{"0" * 64}"]\n'.encode()

    _rewrite_checkpoint(checkpoint, claim_less)
    assert findings(gl) == [
        f"checkpoint: checkpoint {checkpoint.name}: its signature does not hold — the file was changed after it"
        " was signed, or it was signed with another key than the public key it is checked with"
    ]


def test_a_checkpoint_forged_with_another_key_is_named_by_the_auditors_public_key(
    driver: Driver, tmp_path: Path
) -> None:
    gl = driver.gl
    event_id, dispatch = claimed_case(driver)
    auditor = tmp_path / "auditor"
    auditor.mkdir()
    public = CliRunner().invoke(cli, ["audit", "public-key"]).stdout
    assert public.startswith("-----BEGIN PUBLIC KEY-----")
    (auditor / "public.pem").write_text(public)
    genuine = gl.write_checkpoint()
    (auditor / genuine.name).write_bytes(genuine.read_bytes())  # the auditor keeps a copy of each checkpoint

    # an insider with the audit key and the instance folder rewrites the history, replaces the checkpoint key,
    # and writes a checkpoint of the rewritten history in place of the genuine one
    rewrite_history(gl, event_id, with_the_key(gl), lambda rows: claim_record(rows).update(actor="gw_la1"))
    _sql(gl, "UPDATE tasks SET assignee = 'gw_la1' WHERE id = :t", t=dispatch)
    forger = Ed25519PrivateKey.generate()
    Path("instance", keys.CHECKPOINT_KEY_FILE).write_bytes(
        forger.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    genuine.unlink()
    gl.clock.advance(timedelta(hours=1))
    forged = Gridloop(gl.db.url, clock=gl.clock)
    try:
        forged_file = forged.write_checkpoint()
        assert findings(forged) == [], "checked with the key in the instance folder, the forgery passes"
    finally:
        forged.db.dispose()
    (auditor / forged_file.name).write_bytes(forged_file.read_bytes())

    options = ("--checkpoints", str(auditor), "--public-key", str(auditor / "public.pem"))
    shown = findings(gl, *options)
    assert f"checkpoint: checkpoint {forged_file.name}: its signature does not hold" in shown[1]
    assert shown[0].startswith(f"{event_id}: history record #") and genuine.name in shown[0]
    assert len(shown) == 2


def test_checkpoints_without_a_public_key_are_named(driver: Driver) -> None:
    driver.gl.write_checkpoint()
    Path("instance", keys.CHECKPOINT_KEY_FILE).unlink()
    gl = Gridloop(driver.gl.db.url)  # a process that never had the key
    try:
        assert findings(gl) == [
            f"checkpoint: the 1 checkpoint(s) in {gl.parts.checkpoints.directory} cannot be checked:"
            " there is no public key (give --public-key FILE, as `gridloop audit public-key` printed it)"
        ]
    finally:
        gl.db.dispose()


def test_a_checkpoint_holds_each_events_length_and_head_compactly(driver: Driver) -> None:
    gl = driver.gl
    first, _ = claimed_case(driver)
    second = driver.report("gw_hb1")
    path = gl.write_checkpoint()
    lines = gzip.decompress(path.read_bytes()).splitlines()
    header, trailer = json.loads(lines[0]), json.loads(lines[-1])
    with gl.db.reading() as session:
        heads = {e.id: [e.id, e.history_length, e.history_head] for e in session.scalars(select(Event))}
        log_head = session.scalar(select(AdminLogEntry.hash).order_by(AdminLogEntry.id.desc()).limit(1))
        log_length = len(list(session.scalars(select(AdminLogEntry.id))))
    assert header["format"] == checkpoints.FORMAT and header["events"] == 2
    assert header["admin_log"] == [log_length, log_head]
    assert [json.loads(line) for line in lines[1:-1]] == [heads[first], heads[second]]
    public = gl.parts.checkpoints.public_key()
    assert public is not None
    public.verify(
        bytes.fromhex(trailer["signature"]),
        checkpoints.signed_message(hashlib.sha256(b"".join(line + b"\n" for line in lines[:-1])).digest()),
    )


# ------------------------------------------------------------------ the keys


def test_the_keys_are_made_once_secret_and_rotation_keeps_the_old_ones(driver: Driver) -> None:
    gl = driver.gl
    event_id, dispatch = claimed_case(driver)
    gl.write_checkpoint()
    for name in (keys.KEYS_FILE, keys.CHECKPOINT_KEY_FILE):
        assert stat.S_IMODE(Path("instance", name).stat().st_mode) == 0o600
    old = gl.parts.audit_keys.signing_id
    rotated = CliRunner().invoke(cli, ["audit", "rotate-key"])
    assert rotated.exit_code == 0
    new = rotated.stdout.strip()
    assert new != old and gl.parts.audit_keys.signing_id == new
    assert keys.AuditKeys.from_file(Path("instance", keys.KEYS_FILE)).ids == [new, old]
    gl.unclaim("dispatcher", dispatch)
    assert [r["key_id"] for r in records(gl, event_id)][-2:] == [old, new]
    assert findings(gl) == []
    _sql(gl, "UPDATE history SET key_id = :k WHERE event_id = :e AND seq = 1", k=new, e=event_id)
    assert reasons_of(gl, event_id) == [
        "history record 1 (report) was altered: its content no longer matches its MAC"
    ]


def test_keys_from_the_environment_sign_and_cannot_be_rotated_here(
    make_gridloop: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = "11" * 32, "22" * 32
    monkeypatch.setenv(keys.KEYS_ENV, f"k2:{second},k1:{first}")
    gl = make_gridloop()
    gl.init_schema()
    gl.create_demo_district("test", password=None)
    gl.deploy(REPO, activate=True)
    event_id = Driver(gl).report("gw_hb1")
    assert not Path("instance", keys.KEYS_FILE).exists()
    assert [r["key_id"] for r in records(gl, event_id)] == ["k2"]
    assert findings(gl) == []  # the command line reads the same environment
    assert main(["audit", "rotate-key"]) == 2
    assert "the audit keys come from GRIDLOOP_AUDIT_KEYS" in capsys.readouterr().err

    monkeypatch.setenv(keys.KEYS_ENV, f"k1:{first}")  # processes given only the older key
    older = make_gridloop()
    assert reasons_of(older, event_id) == [
        "history record 1 (report) names the audit key 'k2', which is not among the audit keys"
    ]
    monkeypatch.setenv(keys.KEYS_ENV, "k1:abc")
    assert main(["--db", gl.db.url, "audit", "verify"]) == 2
    assert (
        "GRIDLOOP_AUDIT_KEYS: key 'k1' is not id:hex of at least 16 random bytes" in capsys.readouterr().err
    )


def test_worker_processes_verify_with_the_same_keys_and_checkpoints(driver: Driver) -> None:
    gl = driver.gl
    events = [claimed_case(driver) for _ in range(2)]
    checkpoint = gl.write_checkpoint()
    event_id, dispatch = events[1]
    rewrite_history(gl, event_id, with_the_key(gl), lambda rows: claim_record(rows).update(actor="gw_la1"))
    _sql(gl, "UPDATE tasks SET assignee = 'gw_la1' WHERE id = :t", t=dispatch)
    result = verification.verify_all(gl, workers=2, parallel_from=1)
    assert result["instances"] == 2 and result["verified"] == 1
    [mismatch] = result["mismatches"]
    assert mismatch["event"] == event_id and checkpoint.name in mismatch["reason"]


def test_the_daily_checkpoint_is_written_about_once_a_day_between_schedulers(gl: Gridloop) -> None:
    first = gl.write_checkpoint(unless_within=timedelta(hours=12))
    assert first is not None
    gl.clock.advance(timedelta(hours=3))
    assert gl.write_checkpoint(unless_within=timedelta(hours=12)) is None, (
        "another scheduler wrote one lately"
    )
    gl.clock.advance(timedelta(hours=10))
    later = gl.write_checkpoint(unless_within=timedelta(hours=12))
    assert later is not None and sorted(p.name for p in first.parent.iterdir()) == [first.name, later.name]


def test_another_databases_checkpoints_in_the_same_instance_are_not_held_against_this_one(
    driver: Driver, tmp_path: Path
) -> None:
    """A demo run beside the tests, two districts in one folder: each database keeps its checkpoints apart."""
    driver.report("gw_hb1")
    other = Gridloop(f"sqlite:///{tmp_path}/another.sqlite3")
    try:
        other.init_schema()
        with other.db.unit_of_work() as session:
            create_demo_district(session, password=None)
        other.deploy(REPO, activate=True)
        other.report("gw_hb1", {"category": "0101", "description": "另一个区的事件", "grid": GRID_HB1})
        other.report("gw_hb1", {"category": "0101", "description": "另一个区的事件", "grid": GRID_HB1})
        written = other.write_checkpoint()
        assert written is not None and written.parent != driver.gl.parts.checkpoints.directory
        assert findings(driver.gl) == [] and findings(other) == []
    finally:
        other.db.dispose()


# ------------------------------------------------------------------ the report's columns (what evaluation groups by)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        (
            "grid_code",
            "'330199001002001'",
            "grid_code is '330199001002001' but the history says '330199001001001'",
        ),
        ("category", "'1102'", "category is '1102' but the history says '0101'"),
        ("channel", "'hotline'", "channel is 'hotline' but the history says 'grid'"),
        ("reporter", "'gw_la1'", "reporter is 'gw_la1' but the history says 'gw_hb1'"),
        # a case named as placed with its community (属地兜底) where its report named its grid
        ("placement", "'fallback'", "placement is 'fallback' but the history says None"),
    ],
)
def test_a_case_moved_to_another_grid_category_channel_or_reporter_is_named(
    driver: Driver, column: str, value: str, reason: str
) -> None:
    """Evaluation groups by these columns: moving a case between grids (or counting it for another worker) behind
    the history's back would change the figures, so the audit holds them to the report record."""
    gl = driver.gl
    event_id, _dispatch = claimed_case(driver)
    assert reasons_of(gl, event_id) == []
    _sql(gl, f"UPDATE events SET {column} = {value} WHERE id = :e", e=event_id)
    assert reasons_of(gl, event_id) == [f"the event: {reason}"]
