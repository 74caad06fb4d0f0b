"""appeals (申诉) against a supervision sheet's deduction: the appeal instance a sheet was appealed by

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 15:40:00

A department appeals against a sheet that costs it points by starting the appeal process (the
``sheet_appeals`` setting names it); the sheet records the instance (``appeal_event_id``), whose outcome the
evaluator decides and the score honours: an upheld appeal lifts the sheet's deduction.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("supervision_sheets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("appeal_event_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_supervision_sheets_appeal_event_id_events", "events", ["appeal_event_id"], ["id"]
        )
        batch_op.create_index("ix_supervision_sheets_appeal_event_id", ["appeal_event_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("supervision_sheets", schema=None) as batch_op:
        batch_op.drop_index("ix_supervision_sheets_appeal_event_id")
        batch_op.drop_constraint("fk_supervision_sheets_appeal_event_id_events", type_="foreignkey")
        batch_op.drop_column("appeal_event_id")
