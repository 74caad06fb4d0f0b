"""the inbox's done view is counted from its index alone; the planner's statistics brought up to date

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 13:40:00

A user's done view is their completed tasks, newest first, counted up to the lists' bound. The index on
(completed_by, completed_at) found them, but the count had to read each task's row for its status: a grid
worker with years of finished steps read a thousand rows for each look at the tab. The index now carries the
status too, so the count is the index's alone (an index-only scan on PostgreSQL, a covering index on SQLite).

On PostgreSQL the migration then analyses the big tables: migration 0020 rewrote the code columns
(``ALTER … COLLATE``), which leaves the planner without their statistics until autovacuum comes round — on a
big database, hours of pages read whole.
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

BIG_TABLES = ("events", "tasks", "history", "supervision_sheets", "timers")


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_completed_by_completed_at")
        batch_op.create_index(
            "ix_tasks_completed_by_completed_at", ["completed_by", "completed_at", "status"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        for table in BIG_TABLES:
            op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_completed_by_completed_at")
        batch_op.create_index(
            "ix_tasks_completed_by_completed_at", ["completed_by", "completed_at"], unique=False
        )
