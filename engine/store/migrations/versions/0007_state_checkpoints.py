"""state checkpoints: the stored workflow state names the history record it is as of

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 18:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_seq", sa.Integer(), server_default="0", nullable=False))
    # until now every command stored the whole state: each event's state is as of its last record
    op.execute("UPDATE events SET state_seq = history_length")


def downgrade() -> None:
    # the schema before this one reads the stored state alone: refuse while any event's state is older than
    # its history (nothing is changed)
    behind = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM events WHERE state_seq < history_length"))
        .scalar()
    )
    if behind:
        raise RuntimeError(
            f"{behind} events store a checkpoint older than their history; the earlier schema cannot read them"
        )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("state_seq")
