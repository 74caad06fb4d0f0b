"""a re-divided grid's successor

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 05:00:00

When an administrator re-divides a community's grids (``gridloop grids redivide``), each grid that ends keeps its
code, its history and its cases, and names the new grid that took the largest share of its area
(``successor_code``): the steps of its cases still open are offered there.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("org_units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("successor_code", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("org_units", schema=None) as batch_op:
        batch_op.drop_column("successor_code")
