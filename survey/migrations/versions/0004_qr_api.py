"""QR codes and API (issue 4): API keys, scan counts.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_api_keys_created_by_id_users")),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_api_keys_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.create_index(batch.f("ix_api_keys_unit_id"), ["unit_id"], unique=False)
    op.create_table(
        "scan_counts",
        sa.Column("entry_point_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("scans", sa.Integer(), nullable=False),
        sa.CheckConstraint("scans >= 0", name=op.f("ck_scan_counts_scans")),
        sa.CheckConstraint("shard >= 0 AND shard < 8", name=op.f("ck_scan_counts_shard")),
        sa.ForeignKeyConstraint(["entry_point_id"], ["entry_points.id"],
                                name=op.f("fk_scan_counts_entry_point_id_entry_points")),
        sa.PrimaryKeyConstraint("entry_point_id", "day", "shard", name=op.f("pk_scan_counts")),
    )


def downgrade():
    op.drop_table("scan_counts")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index(batch.f("ix_api_keys_unit_id"))
    op.drop_table("api_keys")
