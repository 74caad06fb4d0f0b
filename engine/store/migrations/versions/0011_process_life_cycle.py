"""process versions with a life cycle: draft, active, retired

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 17:10:00

A deploy makes a *draft*; activating a version makes it the one new instances of its process start on (the
version active before is retired and remembered as ``previous_id``, which a rollback re-activates); retiring
stops new starts. At most one version of a process is active (a partial unique index). Versions deployed before
this revision were live as soon as deployed: the newest of each process becomes active and the others retired.
"""

import sqlalchemy as sa
from alembic import op

import engine.store.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

WHEN = engine.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("process_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="draft"))
        batch_op.add_column(sa.Column("activated_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("activated_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("retired_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("retired_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("previous_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE process_versions SET status = 'retired', retired_at = deployed_at, retired_by = deployed_by, "
        "activated_at = deployed_at, activated_by = deployed_by"
    )
    op.execute(
        "UPDATE process_versions SET status = 'active', retired_at = NULL, retired_by = NULL "
        "WHERE id IN (SELECT max(id) FROM process_versions GROUP BY process_id)"
    )
    op.create_index(
        "ux_process_versions_active",
        "process_versions",
        ["process_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )


def downgrade() -> None:
    op.drop_index("ux_process_versions_active", table_name="process_versions")
    with op.batch_alter_table("process_versions", schema=None) as batch_op:
        for column in ("previous_id", "retired_by", "retired_at", "activated_by", "activated_at", "status"):
            batch_op.drop_column(column)
