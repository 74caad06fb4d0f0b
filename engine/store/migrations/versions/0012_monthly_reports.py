"""monthly evaluation reports

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 21:10:00

``monthly_reports`` keeps each month's evaluation report as written (an XLSX workbook), by the scheduler on the
first of the month or by an evaluator, with who wrote it, when, and its size and SHA-256.
"""

import sqlalchemy as sa
from alembic import op

import engine.store.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monthly_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("written_at", engine.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("written_by", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monthly_reports")),
    )
    with op.batch_alter_table("monthly_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monthly_reports_period"), ["period"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("monthly_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monthly_reports_period"))
    op.drop_table("monthly_reports")
