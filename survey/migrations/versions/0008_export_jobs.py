"""Export jobs (issue 6, part 2): background exports with progress, readable by every server.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'running', 'done', 'failed')",
                           name=op.f("ck_export_jobs_status")),
        sa.CheckConstraint("format IN ('csv', 'xlsx', 'sav', 'pdf')",
                           name=op.f("ck_export_jobs_format")),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name=op.f("ck_export_jobs_progress")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_export_jobs_campaign_id_campaigns")),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_export_jobs_unit_id_units")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_export_jobs_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_jobs")),
    )
    with op.batch_alter_table("export_jobs") as batch:
        batch.create_index(batch.f("ix_export_jobs_campaign_id"), ["campaign_id"], unique=False)
        batch.create_index(batch.f("ix_export_jobs_status"), ["status"], unique=False)
        batch.create_index(batch.f("ix_export_jobs_unit_id"), ["unit_id"], unique=False)


def downgrade():
    with op.batch_alter_table("export_jobs") as batch:
        batch.drop_index(batch.f("ix_export_jobs_unit_id"))
        batch.drop_index(batch.f("ix_export_jobs_status"))
        batch.drop_index(batch.f("ix_export_jobs_campaign_id"))
    op.drop_table("export_jobs")
