"""Alembic environment: runs the migrations on the engine handed in by ``engine.store.db.migrate``."""

from alembic import context

from engine.store.models import Base

config = context.config
connectable = config.attributes.get("engine")
if connectable is None:
    from engine.store.db import default_url, make_engine

    connectable = make_engine(config.get_main_option("sqlalchemy.url") or default_url())

with connectable.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
