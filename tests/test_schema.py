"""The migrations build exactly the schema the models describe, and go down and up again, on every backend."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from engine.store import search
from engine.store.db import alembic_config, make_engine, migrate
from engine.store.models import Base


def _differences(connection: Connection) -> list[Any]:
    """What differs between the database and the models, but for the description search's own objects
    (kept by the migration, :data:`engine.store.search.OBJECTS`)."""

    def ours(name: str | None, kind: str, parent: Any) -> bool:
        return not (name or "").startswith(search.OBJECTS)

    context = MigrationContext.configure(connection, opts={"include_name": ours})
    return list(compare_metadata(context, Base.metadata))


def test_the_migrated_schema_is_the_models_schema_and_migrations_reverse(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            assert _differences(connection) == []
        command.downgrade(alembic_config(engine), "0006")
        migrate(engine)
        with engine.connect() as connection:
            assert _differences(connection) == []
    finally:
        engine.dispose()
