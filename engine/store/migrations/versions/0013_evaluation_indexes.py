"""indexes for the evaluation's period ranges

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 01:10:00

The evaluation (``engine.evaluation.metrics``) aggregates a period in the database: the cases opened, due or
closed in it, the department tasks completed or falling due in it, the platform's steps completed in it, and the sheets
issued in it. Each range is
served by its own index, so a month's figures read the month's rows, not every row of the years kept.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

INDEXES = (
    ("events", ("opened_at",)),
    ("events", ("due_at",)),
    ("events", ("closed_at",)),
    ("tasks", ("due_at",)),
    ("tasks", ("completed_at",)),
    ("tasks", ("bpmn_id", "completed_at")),  # the platform's steps completed in a period
    ("supervision_sheets", ("issued_at",)),
)


def upgrade() -> None:
    for table, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_{'_'.join(columns)}"), list(columns), unique=False)


def downgrade() -> None:
    for table, columns in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_{'_'.join(columns)}"))
