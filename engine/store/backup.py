"""Backups taken while the service runs, and restores into an empty database.

A backup is one file, consistent as of one moment, however many commands commit while it is taken:

- **SQLite**: the sqlite3 backup API (:meth:`sqlite3.Connection.backup`) copies every page under one read
  transaction — the write-ahead log lets commands keep committing meanwhile — into a file of its own, switched
  to the rollback journal so that it is a single self-contained SQLite database.
- **PostgreSQL**: ``pg_dump -Fc``, which reads everything in one ``REPEATABLE READ`` snapshot: the whole
  database, or only the schema the URL's ``search_path`` option names (``?options=-csearch_path%3Dgridloop``),
  when it names one.

The file is written under a temporary name beside its destination, synced, and renamed only when it is
complete, so a backup that fails (a full disk, a lost connection) never leaves half a file under that name;
only its owner may read it (mode 0600), as it holds everything the database does.

A restore goes into an empty database only — a SQLite file without tables, a PostgreSQL schema without
relations — unless ``replace`` is given. SQLite is restored through the same backup API (SQLite locks the
target while it writes it), PostgreSQL by ``pg_restore`` turned into SQL and run by ``psql`` in one
transaction: with ``replace``, the target schema is dropped and made again inside that transaction, so a
restore that fails leaves the old contents as they were. The archive of one schema may go into another (a
drill restores yesterday's ``gridloop`` schema as ``gridloop_drill`` beside it): the names the archive
qualifies with its schema are rewritten to the target's, outside the table data (a string constant of the
schema's own definitions reading ``<schema>.`` would be too; gridloop's have none). Proving the restored data
is the audit's work (``gridloop restore`` runs it): the engine's lower layers do not reach it from here.

The PostgreSQL client tools (``pg_dump``, ``pg_restore``, ``psql``) must be on ``PATH``, of the server's major
version or newer; a password in the URL is handed to them in ``PGPASSWORD``, never on their command line.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg.conninfo import make_conninfo
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from engine.errors import GridloopError
from engine.store.db import alembic_config, make_engine

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
SQLITE_HEADER = b"SQLite format 3\x00"
PG_ARCHIVE_HEADER = b"PGDMP"
# the relations a schema can hold: tables (plain, partitioned, foreign), views, materialized views, sequences
RELATION_KINDS = ("r", "p", "f", "v", "m", "S")
SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*([^\s]+)")
TOOL_OUTPUT_LINES = 12


class BackupError(GridloopError):
    """A backup or a restore could not be made; nothing was written under the backup's name, and a refused or
    failed restore left the target database as it was."""

    code = "backup"


@dataclass(frozen=True)
class Backup:
    """A backup made: its file, the backend it is of, its size, and the schema it holds (PostgreSQL, when the
    URL named one)."""

    path: Path
    kind: str
    size: int
    schema: str | None = None


def backup(url: str, destination: Path) -> Backup:
    """Back up the database of ``url`` into ``destination`` while the service keeps running.

    Raises :class:`BackupError` when the URL holds no gridloop schema (nothing to back up: a wrong URL, most
    likely) or the copy fails; ``destination`` is then untouched.
    """
    parsed = _parse(url)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    # readable by its owner only, like the database (staff password hashes, residents' reports); the tools
    # write into this file, keeping its mode
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        if parsed.get_backend_name() == SQLITE:
            schema = None
            _backup_sqlite(url, _sqlite_path(url, parsed), partial)
        else:
            postgres = _Postgres(url, parsed)
            schema = postgres.named_schema
            postgres.require_schema()
            postgres.run(
                "pg_dump",
                "--format=custom",
                f"--file={partial}",
                *([f"--schema={_quote(schema)}", "--strict-names"] if schema else []),
            )
        _publish(partial, destination)
    finally:
        for leftover in (partial, partial.with_name(partial.name + "-journal")):
            leftover.unlink(missing_ok=True)
    kind = SQLITE if parsed.get_backend_name() == SQLITE else POSTGRESQL
    return Backup(destination, kind, destination.stat().st_size, schema)


def backup_kind(path: Path) -> str:
    """``sqlite`` or ``postgresql``: which backend the backup file ``path`` is of, told by its first bytes."""
    with Path(path).open("rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    if head.startswith(SQLITE_HEADER):
        return SQLITE
    if head.startswith(PG_ARCHIVE_HEADER):
        return POSTGRESQL
    raise BackupError(
        "{file} is neither a SQLite backup nor a pg_dump archive made by `gridloop backup`",
        code="backup.not_a_backup",
        file=str(path),
    )


def restore(source: Path, url: str, *, replace: bool = False) -> str:
    """Restore the backup file ``source`` into the database of ``url``; return the backend's name.

    The target must be empty — :class:`BackupError` otherwise, with nothing changed — unless ``replace``: then
    what it holds is replaced, in one transaction on PostgreSQL, under SQLite's lock on SQLite. A SQLite backup
    goes into a SQLite file, a pg_dump archive into PostgreSQL.
    """
    parsed = _parse(url)
    kind = backup_kind(source)
    backend = SQLITE if parsed.get_backend_name() == SQLITE else POSTGRESQL
    if kind != backend:
        raise BackupError(
            "{file} is a {kind} backup: restore it --to a {kind} URL, not {url}",
            code="backup.wrong_backend",
            file=str(source),
            kind=kind,
            url=_shown(parsed),
        )
    if kind == SQLITE:
        _restore_sqlite(source, url, _sqlite_path(url, parsed), replace)
    else:
        _Postgres(url, parsed).restore(source, replace)
    return kind


def schema_revision(url: str) -> tuple[str | None, str]:
    """The migration the database of ``url`` is at (None: no schema) and the newest this code knows."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    finally:
        engine.dispose()
    return current, head or ""


# ----------------------------------------------------------------------------- files


def _publish(partial: Path, destination: Path) -> None:
    """Sync the finished ``partial`` file, rename it to ``destination`` (atomically) and sync the directory."""
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, destination)
    with contextlib.suppress(OSError):  # a directory cannot be opened for syncing everywhere (Windows)
        directory = os.open(destination.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if parsed is None or parsed.get_backend_name() not in (SQLITE, POSTGRESQL):
        raise _unsupported(url if parsed is None else _shown(parsed))
    return parsed


def _unsupported(url: str) -> BackupError:
    return BackupError(
        "cannot back up or restore {url}: gridloop backs up SQLite files and PostgreSQL databases",
        code="backup.unsupported_url",
        url=url,
    )


def _shown(parsed: URL) -> str:
    return parsed.render_as_string(hide_password=True)


def printable(url: str) -> str:
    """``url`` as it may be printed: without its password."""
    try:
        return _shown(make_url(url))
    except ArgumentError:
        return url


def _quote(identifier: str) -> str:
    """``identifier`` as a quoted SQL identifier (also an exact pattern for ``pg_dump --schema``)."""
    return '"' + identifier.replace('"', '""') + '"'


# ----------------------------------------------------------------------------- SQLite


def _sqlite_path(url: str, parsed: URL) -> Path:
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise _unsupported(url)
    return Path(database)


def _open_sqlite(path: Path, mode: str) -> sqlite3.Connection:
    """A connection to the existing file ``path`` (``mode`` ``ro`` or ``rw``: SQLite never creates it)."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=30)


def _no_schema(url: str) -> BackupError:
    return BackupError(
        "{url} holds no gridloop schema (no events table): nothing to back up — is the URL right?",
        code="backup.no_schema",
        url=url,
    )


def _sqlite_failed(exc: sqlite3.Error) -> BackupError:
    return BackupError("{tool} failed: {detail}", code="backup.tool_failed", tool="sqlite3", detail=str(exc))


def _backup_sqlite(url: str, path: Path, partial: Path) -> None:
    try:
        source = _open_sqlite(path, "rw")  # rw: a database in WAL mode needs its -shm file, which it may make
    except sqlite3.Error:
        raise _no_schema(url) from None
    try:
        if (
            source.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()
            is None
        ):
            raise _no_schema(url)
        target = sqlite3.connect(partial)
        try:
            source.backup(target)  # all pages in one step: one read transaction, one moment
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise _sqlite_failed(exc) from exc
    finally:
        source.close()


def _restore_sqlite(source: Path, url: str, path: Path, replace: bool) -> None:
    try:
        backup_file = _open_sqlite(Path(source), "ro")
    except sqlite3.Error as exc:
        raise _sqlite_failed(exc) from exc
    try:
        check = backup_file.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(
                "{file} is damaged: {detail}", code="backup.damaged", file=str(source), detail=check
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(path, timeout=30)
        try:
            tables = target.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if tables and not replace:
                raise _not_empty(url, tables)
            backup_file.backup(target)
            target.execute("PRAGMA journal_mode=WAL")
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise _sqlite_failed(exc) from exc
    finally:
        backup_file.close()


def _not_empty(url: str, relations: int) -> BackupError:
    return BackupError(
        "{url} is not empty (it holds {relations} tables, views or sequences): restore only into an empty"
        " database, or add --replace to replace what it holds",
        code="backup.target_not_empty",
        url=url,
        relations=relations,
    )


# ----------------------------------------------------------------------------- PostgreSQL


class _Postgres:
    """A PostgreSQL URL as the client tools take it: a conninfo string, the password in the environment, the
    schema its ``search_path`` option names (None when it names none)."""

    def __init__(self, url: str, parsed: URL) -> None:
        self.url = url
        self.shown = _shown(parsed)
        query = {key: value if isinstance(value, str) else value[-1] for key, value in parsed.query.items()}
        self.conninfo = make_conninfo(
            "", dbname=parsed.database, host=parsed.host, port=parsed.port, user=parsed.username, **query
        )
        self.env = {**os.environ}
        if parsed.password is not None:
            self.env["PGPASSWORD"] = str(parsed.password)
        found = SEARCH_PATH.search(query.get("options", ""))
        first = found.group(1).split(",")[0].strip('"') if found else ""
        self.named_schema = first if first and first != "$user" else None

    # ------------------------------------------------------------ the database

    def _query(self, sql: str, **params: str) -> list[tuple[object, ...]]:
        engine = make_engine(self.url)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(sql), params)]
        except DBAPIError as exc:
            raise BackupError(
                "cannot read {url}: {detail}",
                code="backup.cannot_connect",
                url=self.shown,
                detail=str(exc.orig).strip(),
            ) from exc
        finally:
            engine.dispose()

    def target_schema(self) -> str:
        """The schema gridloop's tables live in: the one the URL names, else the connection's current one."""
        if self.named_schema:
            return self.named_schema
        return str(self._query("SELECT current_schema()")[0][0] or "public")

    def relations(self, schema: str) -> list[str]:
        """The names of the relations in ``schema``."""
        kinds = ", ".join(f"'{kind}'" for kind in RELATION_KINDS)
        rows = self._query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            f" WHERE n.nspname = :schema AND c.relkind IN ({kinds})",
            schema=schema,
        )
        return [str(row[0]) for row in rows]

    def require_schema(self) -> None:
        """Refuse to back up a database or schema without gridloop's tables (a mistyped URL)."""
        if "events" not in self.relations(self.target_schema()):
            raise _no_schema(self.shown)

    # ------------------------------------------------------------ the client tools

    def _tool(self, name: str, *args: str) -> list[str]:
        return [name, "--no-password", *args, f"--dbname={self.conninfo}"]

    def run(self, name: str, *args: str) -> None:
        """Run the client tool ``name`` on this database; :class:`BackupError` with its output when it fails."""
        try:
            done = subprocess.run(self._tool(name, *args), env=self.env, capture_output=True, check=False)
        except FileNotFoundError:
            raise _missing(name) from None
        if done.returncode != 0:
            raise _tool_failed(name, done.stderr)

    def restore(self, source: Path, replace: bool) -> None:
        """``pg_restore`` the archive ``source`` as SQL into this URL's schema, run by ``psql`` in one
        transaction (see the module's documentation)."""
        archive_schema = _archive_schema(source)
        schema = self.target_schema()
        present = self.relations(schema)
        if present and not replace:
            raise _not_empty(self.shown, len(present))
        preamble = (f"DROP SCHEMA IF EXISTS {_quote(schema)} CASCADE;\n" if replace else "") + (
            f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)};\n"
        )
        with _scratch() as restore_errors, _scratch() as psql_errors:
            try:
                script = subprocess.Popen(
                    ["pg_restore", "--no-owner", "--no-privileges", "--file=-", str(source)],
                    stdout=subprocess.PIPE,
                    stderr=restore_errors,
                )
            except FileNotFoundError:
                raise _missing("pg_restore") from None
            try:
                psql = subprocess.Popen(
                    self._tool(
                        "psql", "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1"
                    ),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=psql_errors,
                    env=self.env,
                )
            except FileNotFoundError:
                script.kill()
                script.wait()
                raise _missing("psql") from None
            assert script.stdout is not None and psql.stdin is not None  # both are pipes (above)
            psql_stopped = False
            try:
                psql.stdin.write(preamble.encode())
                for line in _retargeted(script.stdout, archive_schema, schema):
                    psql.stdin.write(line)
            except BrokenPipeError:
                psql_stopped = True  # at an error: its own message says which (below)
                script.kill()
            if script.wait() != 0 and not psql_stopped:
                # psql commits when its input ends: the script of a failing pg_restore must never end, so psql
                # is killed before it does, and its transaction is rolled back
                psql.kill()
                psql.wait()
                raise _tool_failed("pg_restore", _read(restore_errors))
            with contextlib.suppress(BrokenPipeError):
                psql.stdin.close()
            if psql.wait() != 0:
                raise _tool_failed("psql", _read(psql_errors))


@contextlib.contextmanager
def _scratch() -> Iterator[IO[bytes]]:
    """A temporary file for a tool's standard error (a pipe left unread could fill up and stall it)."""
    with tempfile.TemporaryFile() as handle:
        yield handle


def _read(handle: IO[bytes]) -> bytes:
    handle.seek(0)
    return handle.read()


def _missing(tool: str) -> BackupError:
    return BackupError(
        "{tool} is not on PATH: install the PostgreSQL client tools of the server's version",
        code="backup.tool_missing",
        tool=tool,
    )


def _tool_failed(tool: str, stderr: bytes) -> BackupError:
    lines = stderr.decode(errors="replace").strip().splitlines()
    detail = "\n".join(lines[-TOOL_OUTPUT_LINES:]) or "no message"
    return BackupError("{tool} failed: {detail}", code="backup.tool_failed", tool=tool, detail=detail)


def _archive_schema(source: Path) -> str:
    """The one schema whose tables the archive holds (read from its table of contents)."""
    try:
        listing = subprocess.run(["pg_restore", "--list", str(source)], capture_output=True, check=False)
    except FileNotFoundError:
        raise _missing("pg_restore") from None
    if listing.returncode != 0:
        raise _tool_failed("pg_restore", listing.stderr)
    table = re.compile(rb"^\d+; \d+ \d+ TABLE (?!DATA )(\S+) ", re.MULTILINE)
    schemas = sorted({found.decode() for found in table.findall(listing.stdout)})
    if len(schemas) != 1:
        raise BackupError(
            "{file} holds the tables of {count} schemas ({schemas}); gridloop restores the archive of one",
            code="backup.archive_schemas",
            file=str(source),
            count=len(schemas),
            schemas=", ".join(schemas) or "none",
        )
    return schemas[0]


def _retargeted(script: IO[bytes], archive_schema: str, schema: str) -> Iterator[bytes]:
    """The SQL of ``pg_restore`` with the names qualified by ``archive_schema`` qualified by ``schema``, and
    without the archive's own ``CREATE SCHEMA`` (the restore makes the target's); the table data (between
    ``COPY … FROM stdin;`` and ``\\.``) passes as it is."""
    if archive_schema == schema:
        rename = None
    else:
        names = (
            rb"(?:"
            + re.escape(_quote(archive_schema).encode())
            + rb"|"
            + re.escape(archive_schema.encode())
            + rb")"
        )
        rename = re.compile(rb"(?<![\w$\".])" + names + rb"(?=\.)")
    own_schema = re.compile(
        rb"^CREATE SCHEMA (?:"
        + re.escape(archive_schema.encode())
        + rb"|"
        + re.escape(_quote(archive_schema).encode())
        + rb");\n$"
    )
    target = _quote(schema).encode()
    in_data = False
    for line in script:
        if in_data:
            in_data = line != b"\\.\n"
        elif own_schema.match(line):
            continue
        else:
            in_data = line.startswith(b"COPY ") and line.endswith(b" FROM stdin;\n")
            if rename is not None:
                line = rename.sub(target, line)
        yield line
