"""Management (issue 5, part 2): imports and review decisions.

Review decisions (exclude, re-include, manual flag) are audit-log entries about the response;
this index makes a response's decision history (and any object's) a lookup, not a scan.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"])


def downgrade():
    op.drop_index("ix_audit_log_object", table_name="audit_log")
