"""SQLite's write-ahead log is copied into the database file in the background, not inside a command's commit."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from engine.store.db import FALLBACK_CHECKPOINT_PAGES, Database


def _in_database_file(path: Path) -> int:
    """Rows of table ``t`` in the database file itself (immutable=1: the log is not read)."""
    connection = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return connection.execute("SELECT count(*) FROM t").fetchone()[0]
    except sqlite3.OperationalError:  # the table itself is still only in the log
        return 0
    finally:
        connection.close()


def _eventually(check, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_commits_leave_the_log_to_the_background_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    db = Database(f"sqlite:///{path}", checkpoint_seconds=0.02)
    try:
        with db.engine.connect() as connection:
            assert (
                connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == FALLBACK_CHECKPOINT_PAGES
            )
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        for value in range(50):
            with db.unit_of_work() as session:
                if value == 0:
                    session.execute(text("CREATE TABLE t (v INTEGER)"))
                session.execute(text("INSERT INTO t VALUES (:v)"), {"v": value})
        assert _eventually(lambda: _in_database_file(path) == 50)
        assert db.checkpointer.passes > 0
    finally:
        db.dispose()
    assert not db.checkpointer._thread.is_alive()


def test_the_checkpointer_waits_for_the_database_and_never_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "later.sqlite3"
    db = Database(f"sqlite:///{path}", checkpoint_seconds=0.01)
    try:
        time.sleep(0.2)  # many passes' worth
        assert not path.exists() and db.checkpointer.passes == 0
        with db.unit_of_work() as session:
            session.execute(text("CREATE TABLE t (v INTEGER)"))
        assert _eventually(lambda: db.checkpointer.passes > 0)
    finally:
        db.dispose()
