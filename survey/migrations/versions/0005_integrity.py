"""Integrity (issue 7): device/IP hashes and anti-gaming flags.

Keyed hashes of the device cookie and of the client address, a hash of the answer pattern,
and indexes that let the submission-time checks count recent responses by those keys.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_responses_device_hash_submitted_at", ["device_hash", "submitted_at"]),
    ("ix_responses_ip_hash_submitted_at", ["ip_hash", "submitted_at"]),
    ("ix_responses_entry_point_id_submitted_at", ["entry_point_id", "submitted_at"]),
    ("ix_responses_answer_pattern_submitted_at", ["answer_pattern", "submitted_at"]),
]


def upgrade():
    with op.batch_alter_table("responses") as batch:
        batch.add_column(sa.Column("device_hash", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("ip_hash", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("answer_pattern", sa.String(length=32), nullable=True))
    for name, columns in INDEXES:
        op.create_index(name, "responses", columns)


def downgrade():
    for name, _ in INDEXES:
        op.drop_index(name, table_name="responses")
    with op.batch_alter_table("responses") as batch:
        batch.drop_column("answer_pattern")
        batch.drop_column("ip_hash")
        batch.drop_column("device_hash")
