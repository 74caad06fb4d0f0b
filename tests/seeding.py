"""Databases for the tests: empty ones, and seeded ones copied from a template built once per run.

Most tests start from the same place: the schema migrated to head, the demo district, and the repo's process
models deployed and active. Building that takes half a second on SQLite and about a second on PostgreSQL, so it
is built once per run and backend (a *template*) and copied for each test: a SQLite file through SQLite's
backup API, a PostgreSQL database by ``CREATE DATABASE … TEMPLATE`` (a file-level copy on the server). The
template is made by the same engine calls a test would make, on the same manual clock, so the copy is the
database those calls would have left.

Two recipes, as the tests set up today:

- ``"engine"``: the demo district through the command pipeline (``Gridloop.create_demo_district``, one admin log
  entry by ``test``), the fixture ``gl``'s starting point;
- ``"pages"``: the demo district written straight into a session (no admin log entry), the web fixtures'
  starting point; they add their signed-in staff on top.

The records a seed writes are signed with the audit keys of the process (``GRIDLOOP_AUDIT_KEYS``, or
``instance/audit_keys`` in the working directory). A test that brings keys of its own (it runs in a folder of its
own, say) gets its database seeded afresh with them instead of copied from a template signed with others.

Templates are removed when the run ends (:func:`drop_templates`, from ``pytest_sessionfinish``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine.app import Gridloop
from engine.audit import keys
from engine.demo.district import create_demo_district
from engine.store.db import make_engine
from engine.time.clock import ManualClock

RECIPES = ("engine", "pages")
_made: dict[tuple[str, str], str] = {}
_folder: list[Path] = []
_keys_of_templates: list[tuple[str | None, ...]] = []


def _keys_in_use() -> tuple[str | None, ...]:
    """Where the audit and checkpoint keys of a new engine come from now."""
    return (
        os.environ.get(keys.KEYS_ENV),
        os.environ.get(keys.CHECKPOINT_KEY_ENV),
        str(keys.INSTANCE.resolve()),
    )


def _templated() -> bool:
    """Whether a seed may be copied from the run's templates: the keys are those they were signed with."""
    if not _keys_of_templates:
        _keys_of_templates.append(_keys_in_use())
    return _keys_of_templates[0] == _keys_in_use()


def schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's search_path set to ``schema`` (libpq ``options``)."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


def database_url(base: str, database: str) -> str:
    """``base`` naming another database on the same server."""
    return make_url(base).set(database=database).render_as_string(hide_password=False)


def _server(base: str):  # type: ignore[no-untyped-def]
    """A connection engine for CREATE / DROP DATABASE, which cannot run inside a transaction."""
    return create_engine(
        "postgresql+psycopg://" + base.removeprefix("postgresql://"), isolation_level="AUTOCOMMIT"
    )


def _seed(url: str, recipe: str, repo: Path, start: datetime) -> None:
    """Leave the database at ``url`` as ``recipe`` says (see the module's docstring)."""
    assert recipe in RECIPES, recipe
    gl = Gridloop(url, clock=ManualClock(start))
    try:
        gl.init_schema()
        if recipe == "engine":
            gl.create_demo_district("test", password=None)
        else:
            with gl.db.unit_of_work() as session:
                create_demo_district(session, password=None)
        gl.deploy(repo, activate=True)
    finally:
        gl.db.dispose()


def _template(backend: str, recipe: str, repo: Path, start: datetime, postgres: str | None) -> str:
    """The template of ``recipe`` on ``backend``: a SQLite file's path or a PostgreSQL database's name."""
    key = (backend, recipe)
    if key in _made:
        return _made[key]
    if backend == "sqlite":
        if not _folder:
            _folder.append(Path(tempfile.mkdtemp(prefix="gridloop-templates-")))
        path = _folder[0] / f"{recipe}.sqlite3"
        _seed(f"sqlite:///{path}", recipe, repo, start)
        _made[key] = str(path)
    else:
        assert postgres is not None
        name = f"gridloop_template_{recipe}_{uuid.uuid4().hex[:12]}"
        server = _server(postgres)
        try:
            with server.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            server.dispose()
        _seed(database_url(postgres, name), recipe, repo, start)
        _made[key] = name
    return _made[key]


@contextmanager
def empty_database(backend: str, folder: Path, postgres: str | None, name: str = "t") -> Iterator[str]:
    """The URL of a database nobody else uses and nothing is in: a SQLite file in ``folder``, or a PostgreSQL
    schema of its own, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder}/{name}.sqlite3"
        return
    assert postgres is not None
    schema = f"{name}_{uuid.uuid4().hex}"
    admin = make_engine(postgres)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield schema_url(postgres, schema)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


@contextmanager
def seeded_database(
    backend: str,
    folder: Path,
    postgres: str | None,
    repo: Path,
    start: datetime,
    recipe: str = "engine",
    name: str = "t",
) -> Iterator[str]:
    """The URL of a database of its own holding ``recipe``'s starting point, copied from the run's template: a
    SQLite file in ``folder``, or a PostgreSQL database dropped afterwards."""
    templated = _templated()
    template = _template(backend, recipe, repo, start, postgres) if templated else None
    if backend == "sqlite":
        path = folder / f"{name}.sqlite3"
        if template is None:
            _seed(f"sqlite:///{path}", recipe, repo, start)
        else:
            with sqlite3.connect(template) as source, sqlite3.connect(path) as copy:
                source.backup(copy)
            source.close()
            copy.close()
        yield f"sqlite:///{path}"
        return
    assert postgres is not None
    database = f"t_{uuid.uuid4().hex}"
    server = _server(postgres)
    try:
        with server.connect() as connection:
            copied = f' TEMPLATE "{template}" STRATEGY WAL_LOG' if template is not None else ""
            connection.execute(text(f'CREATE DATABASE "{database}"{copied}'))
        if template is None:
            _seed(database_url(postgres, database), recipe, repo, start)
        yield database_url(postgres, database)
        with server.connect() as connection:
            # WITH (FORCE): a connection a test left open (a pool not disposed) does not keep it
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        server.dispose()


def drop_templates(postgres: str | None) -> None:
    """Remove every template this run made."""
    names = [name for (backend, _), name in _made.items() if backend == "postgres"]
    if names and postgres:
        server = _server(postgres)
        try:
            with server.connect() as connection:
                for name in names:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            server.dispose()
    for folder in _folder:
        shutil.rmtree(folder, ignore_errors=True)
    _made.clear()
    _folder.clear()
    _keys_of_templates.clear()
