"""Responses: indexes the burst counts cannot be misled away from, and three fewer.

- ``ix_responses_submitted_at``: every reader of responses by time also filters on a key with
  an index of its own led by that key (the burst counts' ``(key, submitted_at)`` indexes, the
  review queue's partial index, the kiosk interval by entry point). On a young table (never
  analysed yet: autovacuum's first analyse comes a minute or more after the first rows) the
  planner took it for the per-code burst count and walked every response of the last ten
  minutes on each submission.
- ``ix_responses_entry_point_id`` and ``ix_responses_campaign_id``: prefixes of
  ``ix_responses_entry_point_id_submitted_at`` and ``ix_responses_campaign_excluded_unit``,
  which serve the same lookups (foreign-key checks included).
- ``ix_responses_answer_pattern_submitted_at`` becomes ``…_answer_pattern_unit_id_submitted_at``:
  the repeated-pattern count's conditions are the pattern, the unit and the time, and with the
  unit in the index the planner no longer prefers ``ix_responses_unit_id`` (every response of
  the unit) on a young table.

``tests/services/test_integrity.py`` checks the counts' plans on such a table. Three fewer
indexes for each INSERT to maintain. Downgrade builds the old ones again.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

DROPPED = (("ix_responses_submitted_at", ["submitted_at"]),
           ("ix_responses_entry_point_id", ["entry_point_id"]),
           ("ix_responses_campaign_id", ["campaign_id"]))
OLD_PATTERN = ("ix_responses_answer_pattern_submitted_at", ["answer_pattern", "submitted_at"])
NEW_PATTERN = ("ix_responses_answer_pattern_unit_id_submitted_at",
               ["answer_pattern", "unit_id", "submitted_at"])


def upgrade():
    with op.batch_alter_table("responses") as batch:
        batch.create_index(*NEW_PATTERN, unique=False)
        for name, _columns in (*DROPPED, OLD_PATTERN):
            batch.drop_index(name)


def downgrade():
    with op.batch_alter_table("responses") as batch:
        for name, columns in (*DROPPED, OLD_PATTERN):
            batch.create_index(name, columns, unique=False)
        batch.drop_index(NEW_PATTERN[0])
