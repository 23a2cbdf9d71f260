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


COLUMNS = [("device_hash", 32), ("ip_hash", 16), ("answer_pattern", 32)]


def upgrade():
    # Plain ADD/DROP COLUMN (SQLite >= 3.35 has both): a batch copy of the table would drop
    # the append-only triggers of 0002 on SQLite.
    for name, length in COLUMNS:
        op.add_column("responses", sa.Column(name, sa.String(length=length), nullable=True))
    for name, columns in INDEXES:
        op.create_index(name, "responses", columns)


def downgrade():
    for name, _ in INDEXES:
        op.drop_index(name, table_name="responses")
    for name, _ in reversed(COLUMNS):
        op.drop_column("responses", name)
