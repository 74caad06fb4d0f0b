"""hardening: credential versions, access tokens, sign-in throttles, audit key ids

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 11:10:00

``users.credential_version`` moves on with every change of what a user may do, so that older sessions and
tokens are refused; ``access_tokens`` (web sessions and API tokens) makes them listable and revocable;
``sign_in_throttle`` counts failed sign-ins per account and address in the database (atomically, for every
worker) in place of the per-user ``failed_logins`` / ``locked_until``; ``key_id`` names the audit key a history
or admin-log record is authenticated with; ``attachment_links`` says which events use an attachment, so that
it is read exactly by those who may read one of them.
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
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("locked_until")
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("admin_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("issued_at", engine.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", engine.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("credential_version", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("revoked_at", engine.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_tokens")),
    )
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_tokens_username"), ["username"], unique=False)
    op.create_table(
        "attachment_links",
        sa.Column("attachment_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"], ["attachments.id"], name=op.f("fk_attachment_links_attachment_id_attachments")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_attachment_links_event_id_events")
        ),
        sa.PrimaryKeyConstraint("attachment_id", "event_id", name=op.f("pk_attachment_links")),
    )
    # attachments used before this release: linked to every event whose history names them
    op.execute(
        "INSERT INTO attachment_links (attachment_id, event_id) "
        "SELECT DISTINCT a.id, h.event_id FROM attachments a JOIN history h "
        "ON h.action IN ('report', 'complete') AND CAST(h.data AS TEXT) LIKE '%' || a.id || '%'"
    )
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
    op.drop_table("attachment_links")
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_tokens_username"))
    op.drop_table("access_tokens")
    with op.batch_alter_table("admin_log", schema=None) as batch_op:
        batch_op.drop_column("key_id")
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_column("key_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("locked_until", engine.store.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_column("credential_version")
