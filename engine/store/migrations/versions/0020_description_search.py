"""search in the descriptions, and inbox indexes that stay flat over years of history

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 19:00:00

``events.search_terms`` holds each description's index terms (``engine.store.search``: Chinese character pairs,
Latin words and numbers), filled here for the events already kept, and indexed by the database's own full-text
machinery: a GIN index over the terms as a ``tsvector`` on PostgreSQL, an FTS5 table kept by triggers on SQLite
(a later migration that rebuilds the ``events`` table on SQLite must create the triggers again).

The code columns an event is searched by (its code, grid and category, and the inbox rows' scope) compare
character by character on PostgreSQL (collation "C", as SQLite's binary one does), so a code's beginning is a
range their indexes serve whatever the database's collation.

The inbox's "done" view (a user's completed tasks, newest first) and "mine" view (a user's open tasks) are served
by (completed_by, completed_at) and (assignee, status): a district dispatcher completes hundreds of thousands of
tasks over the years, and the single-column indexes made the database read and sort all of them for a page.
"""

import sqlalchemy as sa
from alembic import op

from engine.store import search

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

BATCH = 5000
# the code columns compared character by character on PostgreSQL (engine.store.models.Code): SQLite's are already
CODES = (
    ("events", "code", 32),
    ("events", "grid_code", 32),
    ("events", "category", 16),
    ("tasks", "scope_code", 32),
)
INDEXES = (
    ("ix_tasks_completed_by", "ix_tasks_completed_by_completed_at", ("completed_by", "completed_at")),
    ("ix_tasks_assignee", "ix_tasks_assignee_status", ("assignee", "status")),
)


def _fill_terms(connection: sa.Connection) -> None:
    events = sa.table("events", sa.column("id"), sa.column("description"), sa.column("search_terms"))
    last = 0
    while True:
        rows = connection.execute(
            sa.select(events.c.id, events.c.description)
            .where(events.c.id > last)
            .order_by(events.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        values = [{"b_id": r.id, "terms": search.terms(r.description)} for r in rows]
        values = [v for v in values if v["terms"] is not None]
        if values:
            connection.execute(
                events.update()
                .where(events.c.id == sa.bindparam("b_id"))
                .values(search_terms=sa.bindparam("terms")),
                values,
            )
        last = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_terms", sa.Text(), nullable=True))
    connection = op.get_bind()
    _fill_terms(connection)
    if connection.dialect.name == "postgresql":
        op.execute(search.pg_index_sql())
        for table, column, length in CODES:
            op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar({length}) COLLATE "C"')
    else:
        for statement in search.SQLITE_DDL:
            op.execute(statement)
    for old, new, columns in INDEXES:
        with op.batch_alter_table("tasks", schema=None) as batch_op:
            batch_op.drop_index(old)
            batch_op.create_index(new, list(columns), unique=False)


def downgrade() -> None:
    for old, new, columns in reversed(INDEXES):
        with op.batch_alter_table("tasks", schema=None) as batch_op:
            batch_op.drop_index(new)
            batch_op.create_index(old, [columns[0]], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_events_search")
        for table, column, length in CODES:
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar({length}) COLLATE pg_catalog.default"
            )
    else:
        for statement in search.SQLITE_DROP:
            op.execute(statement)
    # SQLite drops the column in place (3.35 and later): rebuilding the table would fail on its references
    with op.batch_alter_table("events", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("search_terms")
