"""the grid on the map: units' boundaries and validity, and how a case was placed

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 04:40:00

Each org unit may carry its boundary (a GeoJSON Polygon or MultiPolygon, longitude-latitude) and the span it is
valid in (``valid_from`` / ``valid_to``, open when None), so that a report giving a point is placed in the grid
valid at its time (``engine.org.geography``). An event records how it was placed when the report gave no grid
(``placement``: ``point`` or ``fallback`` — 属地兜底). The open cases are found among the years kept by an
index on (completed, reported_at): the map draws them.
"""

import sqlalchemy as sa
from alembic import op

from engine.store.models import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("org_units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("boundary", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("valid_from", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("valid_to", UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("placement", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_events_completed_reported_at", ["completed", "reported_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_completed_reported_at")
        batch_op.drop_column("placement")
    with op.batch_alter_table("org_units", schema=None) as batch_op:
        batch_op.drop_column("valid_to")
        batch_op.drop_column("valid_from")
        batch_op.drop_column("boundary")
