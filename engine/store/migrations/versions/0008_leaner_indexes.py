"""leaner indexes: one index per event's inbox rows and per event's history, not two

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 18:20:00

Every command inserts a history record and an inbox row; each index on those tables is one more page written
per command. ``uq_history_event_id`` (event_id, seq) already serves what ``ix_history_event_id`` did, and the
inbox's unique key becomes (event_id, spiff_task_id), which serves the event's lookups in place of both
``ix_tasks_event_id`` and the unique index on the task id alone. ``ix_tasks_scope_code`` goes: scopes are
matched by prefix (``LIKE 'code%'`` with a bound code), which neither database serves from a plain index.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_index("ix_history_event_id")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_event_id")
        batch_op.drop_index("ix_tasks_scope_code")
        batch_op.drop_constraint("uq_tasks_spiff_task_id", type_="unique")
        batch_op.create_unique_constraint("uq_tasks_event_id", ["event_id", "spiff_task_id"])


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint("uq_tasks_event_id", type_="unique")
        batch_op.create_unique_constraint("uq_tasks_spiff_task_id", ["spiff_task_id"])
        batch_op.create_index("ix_tasks_event_id", ["event_id"], unique=False)
        batch_op.create_index("ix_tasks_scope_code", ["scope_code"], unique=False)
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.create_index("ix_history_event_id", ["event_id"], unique=False)
