"""the grid's household ledger (人房台账)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 05:10:00

Buildings of a grid, their dwellings (unit and room) and the people living there. A person's identity and phone
numbers are stored sealed (AES-GCM under the personal-data key kept outside the database), with a keyed index of
the identity number and the masked forms shown to those who do not need the numbers. The visit duties started for each dwelling or
person (``ledger_visits``) say when the next falls due.
"""

import sqlalchemy as sa
from alembic import op

from engine.store.models import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_buildings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["grid_code"], ["org_units.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("grid_code", "name"),
    )
    op.create_index("ix_ledger_buildings_grid_code", "ledger_buildings", ["grid_code"])
    op.create_table(
        "ledger_dwellings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("room", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["building_id"], ["ledger_buildings.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("building_id", "unit", "room"),
    )
    op.create_index("ix_ledger_dwellings_building_id", "ledger_dwellings", ["building_id"])
    op.create_table(
        "ledger_people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dwelling_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("id_cipher", sa.LargeBinary(), nullable=True),
        sa.Column("id_index", sa.String(length=64), nullable=True),
        sa.Column("id_masked", sa.String(length=32), nullable=True),
        sa.Column("phone_cipher", sa.LargeBinary(), nullable=True),
        sa.Column("phone_masked", sa.String(length=32), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["dwelling_id"], ["ledger_dwellings.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ledger_people_dwelling_id", "ledger_people", ["dwelling_id"])
    op.create_index("ix_ledger_people_id_index", "ledger_people", ["id_index"])
    op.create_table(
        "ledger_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("duty", sa.String(length=64), nullable=False),
        sa.Column("dwelling_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dwelling_id"], ["ledger_dwellings.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["ledger_people.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("duty", "dwelling_id", "person_id", "due_on"),
    )
    op.create_index("ix_ledger_visits_dwelling_id", "ledger_visits", ["dwelling_id"])


def downgrade() -> None:
    op.drop_table("ledger_visits")
    op.drop_table("ledger_people")
    op.drop_table("ledger_dwellings")
    op.drop_table("ledger_buildings")
