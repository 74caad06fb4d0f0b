"""a sub-category's cases are listed newest first from one index

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 19:40:00

The events list searched by a sub-category and a period (a year, say) found the category's cases through the
index on the category alone and sorted all of them by report time for the first page: at a million cases, the
year's cases of one sub-category are tens of thousands of rows read and sorted for fifty. The index on
(category, reported_at, id) gives them in the list's order, so the page is its first rows; it also holds the
case's grid, so that the list's bounded count (a thousand cases in the reader's scope) is read from the index
alone. It replaces the index on the category alone, which it begins with.
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_category")
        batch_op.create_index(
            "ix_events_category_reported_at", ["category", "reported_at", "id", "grid_code"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE events")


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_category_reported_at")
        batch_op.create_index("ix_events_category", ["category"], unique=False)
