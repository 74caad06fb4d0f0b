"""an event may name the ledger's household it concerns

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 05:30:00

A report raised on the spot from a household visit (or given a household otherwise) names the ledger's dwelling
(``dwelling_id``), so that the event page shows the household and the household's events can be found.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dwelling_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_events_dwelling_id", ["dwelling_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_dwelling_id")
        batch_op.drop_column("dwelling_id")
