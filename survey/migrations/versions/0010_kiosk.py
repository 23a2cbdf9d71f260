"""Kiosk mode (issue 9, part 3): kiosk links and the presses their minimum interval blocked.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kiosks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_point_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("counter_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["counter_id"], ["counters.id"],
                                name=op.f("fk_kiosks_counter_id_counters")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_kiosks_created_by_id_users")),
        sa.ForeignKeyConstraint(["entry_point_id"], ["entry_points.id"],
                                name=op.f("fk_kiosks_entry_point_id_entry_points")),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_kiosks_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosks")),
        sa.UniqueConstraint("entry_point_id", name=op.f("uq_kiosks_entry_point_id")),
    )
    with op.batch_alter_table("kiosks") as batch:
        batch.create_index(batch.f("ix_kiosks_counter_id"), ["counter_id"], unique=False)
        batch.create_index(batch.f("ix_kiosks_unit_id"), ["unit_id"], unique=False)
    op.create_table(
        "kiosk_blocked_presses",
        sa.Column("entry_point_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("blocked", sa.Integer(), nullable=False),
        sa.CheckConstraint("blocked >= 0", name=op.f("ck_kiosk_blocked_presses_blocked")),
        sa.ForeignKeyConstraint(["entry_point_id"], ["entry_points.id"],
                                name=op.f("fk_kiosk_blocked_presses_entry_point_id_entry_points")),
        sa.PrimaryKeyConstraint("entry_point_id", "day", name=op.f("pk_kiosk_blocked_presses")),
    )


def downgrade():
    op.drop_table("kiosk_blocked_presses")
    with op.batch_alter_table("kiosks") as batch:
        batch.drop_index(batch.f("ix_kiosks_unit_id"))
        batch.drop_index(batch.f("ix_kiosks_counter_id"))
    op.drop_table("kiosks")
