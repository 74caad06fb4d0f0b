"""a timer's BPMN task id is unique within its event, as an inbox row's is

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 10:10:00

SpiffWorkflow's task ids are an instance's own: every lookup of a timer row is by its event and the task id
(:mod:`engine.time.timers`), and two instances built from the same seeds — the bulk generator's copies of one
simulated case, an instance restored beside its archived self — hold the same ids. So the timers' unique
constraint is (event_id, spiff_task_id), as the tasks' is, instead of the task id alone — and, as theirs,
it is the index of the event's lookups (the event_id index goes).
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_timers_spiff_task_id", type_="unique")
        batch_op.create_unique_constraint("uq_timers_event_id", ["event_id", "spiff_task_id"])
        batch_op.drop_index("ix_timers_event_id")


def downgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index("ix_timers_event_id", ["event_id"], unique=False)
        batch_op.drop_constraint("uq_timers_event_id", type_="unique")
        batch_op.create_unique_constraint("uq_timers_spiff_task_id", ["spiff_task_id"])
