"""Paper questionnaires (issue 9, part 2): print batches, serial numbers, double-entry typings.

``paper_forms`` holds one row per serial number: unique within its campaign, one single-use QR
code each, and at most one response (unique ``response_id``, set only with status ``entered``).
``paper_entries`` keeps the two typings of a double-entry form (one per round).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "paper_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("counter_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("double_entry", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("count >= 0", name=op.f("ck_paper_batches_count")),
        sa.CheckConstraint("source IN ('print', 'import')", name=op.f("ck_paper_batches_source")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_paper_batches_campaign_id_campaigns")),
        sa.ForeignKeyConstraint(["counter_id"], ["counters.id"],
                                name=op.f("fk_paper_batches_counter_id_counters")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_paper_batches_created_by_id_users")),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_paper_batches_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_batches")),
    )
    with op.batch_alter_table("paper_batches") as batch:
        batch.create_index(batch.f("ix_paper_batches_campaign_id"), ["campaign_id"], unique=False)
        batch.create_index(batch.f("ix_paper_batches_unit_id"), ["unit_id"], unique=False)
    op.create_table(
        "paper_forms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("entry_point_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entered_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(status = 'entered') = (response_id IS NOT NULL)",
                           name=op.f("ck_paper_forms_entered")),
        sa.CheckConstraint("status IN ('printed', 'first_entry', 'conflict', 'entered')",
                           name=op.f("ck_paper_forms_status")),
        sa.ForeignKeyConstraint(["batch_id"], ["paper_batches.id"],
                                name=op.f("fk_paper_forms_batch_id_paper_batches")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_paper_forms_campaign_id_campaigns")),
        sa.ForeignKeyConstraint(["entered_by_id"], ["users.id"],
                                name=op.f("fk_paper_forms_entered_by_id_users")),
        sa.ForeignKeyConstraint(["entry_point_id"], ["entry_points.id"],
                                name=op.f("fk_paper_forms_entry_point_id_entry_points")),
        sa.ForeignKeyConstraint(["response_id"], ["responses.id"],
                                name=op.f("fk_paper_forms_response_id_responses")),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_paper_forms_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_forms")),
        sa.UniqueConstraint("campaign_id", "serial", name=op.f("uq_paper_forms_campaign_id")),
        sa.UniqueConstraint("entry_point_id", name=op.f("uq_paper_forms_entry_point_id")),
        sa.UniqueConstraint("response_id", name=op.f("uq_paper_forms_response_id")),
    )
    with op.batch_alter_table("paper_forms") as batch:
        batch.create_index(batch.f("ix_paper_forms_batch_id"), ["batch_id"], unique=False)
        batch.create_index(batch.f("ix_paper_forms_unit_id"), ["unit_id"], unique=False)
    op.create_table(
        "paper_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.SmallInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("codes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("round IN (1, 2)", name=op.f("ck_paper_entries_round")),
        sa.ForeignKeyConstraint(["form_id"], ["paper_forms.id"],
                                name=op.f("fk_paper_entries_form_id_paper_forms")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_paper_entries_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_entries")),
        sa.UniqueConstraint("form_id", "round", name=op.f("uq_paper_entries_form_id")),
    )


def downgrade():
    op.drop_table("paper_entries")
    with op.batch_alter_table("paper_forms") as batch:
        batch.drop_index(batch.f("ix_paper_forms_unit_id"))
        batch.drop_index(batch.f("ix_paper_forms_batch_id"))
    op.drop_table("paper_forms")
    with op.batch_alter_table("paper_batches") as batch:
        batch.drop_index(batch.f("ix_paper_batches_unit_id"))
        batch.drop_index(batch.f("ix_paper_batches_campaign_id"))
    op.drop_table("paper_batches")
