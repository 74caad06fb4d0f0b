"""hardening: credential versions, API tokens, sign-in throttles, audit key ids

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 11:10:00

``users.credential_version`` moves on with every change of what a user may do, so that older sessions and
tokens are refused; ``api_tokens`` makes tokens listable and revocable; ``sign_in_throttle`` counts failed
sign-ins per account and address in the database (atomically, for every worker); ``key_id`` names the audit
key a history or admin-log record is authenticated with.
"""

import sqlalchemy as sa
from alembic import op

import engine.store.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credential_version", sa.Integer(), server_default="1", nullable=False))
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("admin_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("issued_at", engine.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", engine.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("credential_version", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("revoked_at", engine.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_username"), ["username"], unique=False)
    op.create_table(
        "sign_in_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("window_started_at", engine.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", engine.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lockouts", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttle")),
    )


def downgrade() -> None:
    op.drop_table("sign_in_throttle")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_username"))
    op.drop_table("api_tokens")
    with op.batch_alter_table("admin_log", schema=None) as batch_op:
        batch_op.drop_column("key_id")
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_column("key_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("credential_version")
