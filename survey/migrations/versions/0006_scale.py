"""Scale (issue 8): index for the results queries.

Answers keep their typed shape (rating + scale_points, not_applicable, number, choice; JSON only
for multiple-choice lists, which no index reads), so SQL aggregates them without parsing
anything.  The results service selects a campaign's included responses and groups them by unit
(``n_h``, and the per-unit sums): one composite index answers both from the index alone on
PostgreSQL (``INCLUDE`` the field and counter used by breakdowns).  Answers need no new index:
their primary key (response_id, item_code) already yields each response's answers in order.
See docs/design-notes.md.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NAME = "ix_responses_campaign_excluded_unit"


def upgrade():
    op.create_index(NAME, "responses", ["campaign_id", "excluded", "unit_id"],
                    postgresql_include=["field_id", "counter_id"])


def downgrade():
    op.drop_index(NAME, table_name="responses")
