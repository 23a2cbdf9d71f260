"""Management (issue 5, part 2): imports and review decisions.

Review decisions (exclude, re-include, manual flag) are audit-log entries about the response;
the first index makes a response's decision history (and any object's) a lookup, not a scan.
The second is a partial index holding only flagged or excluded responses, with the columns the
queue filters and sorts on, so the review queue and its counts are index-only scans over a few
thousand entries instead of reads of the whole campaign.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

REVIEW_PREDICATE = "excluded OR (flags IS NOT NULL AND json_array_length(flags) > 0)"


def upgrade():
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"])
    op.create_index("ix_responses_review", "responses",
                    ["campaign_id", "submitted_at", "id", "unit_id", "excluded"],
                    postgresql_where=sa.text(REVIEW_PREDICATE), sqlite_where=sa.text(REVIEW_PREDICATE))


def downgrade():
    op.drop_index("ix_responses_review", table_name="responses")
    op.drop_index("ix_audit_log_object", table_name="audit_log")
