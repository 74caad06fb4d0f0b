"""the department's handling limit (处置时限) apart from the case: its start, its report back, the opening level

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 08:30:00

The standard keeps the department's handling limit apart from the platform's steps: it runs from dispatch
(``handling_started_at``) to the department's report back (``handled_at``), and the case's on-time verdict
follows it. ``opened_level`` is the level the routing table first gave the case; with ``handling_level`` (the
level that handled it) it tells each level's 上报 and 办结.
"""

import sqlalchemy as sa
from alembic import op

import engine.store.models

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("handling_started_at", engine.store.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("handled_at", engine.store.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("opened_level", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("opened_level")
        batch_op.drop_column("handled_at")
        batch_op.drop_column("handling_started_at")
