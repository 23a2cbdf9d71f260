"""Scale (issue 8): on PostgreSQL a response's answers are ONE row of arrays; ``answers`` a view.

One row per answer (~28 per response) made every submission ~28 heap tuples and primary-key
entries: PostgreSQL spent ~1.4 ms of CPU per submission, 0.6 ms with one wide row (measured with
``benchmarks/load.py --floors``). ``response_answers`` holds, per response, the eight columns of
the old table as arrays, one element per answer, in the same (item code) order in every array.
The view ``answers`` unnests them with the old column names and types, so every reader is
unchanged. The database keeps every guarantee of the old table: equal-length arrays, an item at
most once per response, no NULL item code or "not applicable", the old four CHECKs per element
(one CHECK calling an IMMUTABLE PL/pgSQL function), and UPDATE/DELETE refused (append-only, as 0002).

SQLite keeps the ``answers`` table (small deployments, the demo): nothing happens there.
See docs/design-notes.md.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Append-only as 0002 made the old table: (operation, message) refused by sipas_forbid.
RULES = (("DELETE", "answers are never deleted"), ("UPDATE", "answers are never changed"))
COLUMNS = ("item_code", "rating", "scale_points", "not_applicable", "number", "choice", "choices",
           "text")
VIEW = """
    CREATE VIEW answers AS
    SELECT w.response_id, CAST(u.item_code AS varchar(64)) AS item_code, u.rating,
           u.scale_points, u.not_applicable, u.number, CAST(u.choice AS varchar(64)) AS choice,
           u.choices, u.text
    FROM response_answers w
    CROSS JOIN LATERAL unnest(w.item_code, w.rating, w.scale_points, w.not_applicable, w.number,
                              w.choice, w.choices, w.text)
        AS u(item_code, rating, scale_points, not_applicable, number, choice, choices, text)"""
# True when the arrays are one answer per element, checked as the old table's columns were.
# PL/pgSQL, not SQL: a SQL function with subqueries is not inlined and is planned again for
# every single-row INSERT. Measured per INSERT of 25 answers (1,500 × 3, one connection): no
# CHECK 38–40 µs, this function 74–77 µs, the same checks as one SQL function 249–261 µs.
# Every condition is written so that NULL means "not refused", as in a CHECK.
VALID = """
    CREATE FUNCTION sipas_answers_valid(codes text[], ratings smallint[], points smallint[],
                                        nas boolean[], numbers bigint[], choice1 text[],
                                        choices_ json[], texts text[])
    RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
    DECLARE
      n integer := cardinality(codes);
    BEGIN
      IF n IS NULL OR n = 0 OR array_ndims(codes) <> 1
         OR array_ndims(ratings) IS DISTINCT FROM 1 OR cardinality(ratings) <> n
         OR array_ndims(points) IS DISTINCT FROM 1 OR cardinality(points) <> n
         OR array_ndims(nas) IS DISTINCT FROM 1 OR cardinality(nas) <> n
         OR array_ndims(numbers) IS DISTINCT FROM 1 OR cardinality(numbers) <> n
         OR array_ndims(choice1) IS DISTINCT FROM 1 OR cardinality(choice1) <> n
         OR array_ndims(choices_) IS DISTINCT FROM 1 OR cardinality(choices_) <> n
         OR array_ndims(texts) IS DISTINCT FROM 1 OR cardinality(texts) <> n
         OR array_position(codes, NULL) IS NOT NULL OR array_position(nas, NULL) IS NOT NULL THEN
        RETURN false;
      END IF;
      FOR i IN 1..n LOOP
        IF length(codes[i]) > 64 OR length(choice1[i]) > 64
           OR points[i] NOT BETWEEN 2 AND 11
           OR (ratings[i] IS NOT NULL AND (points[i] IS NULL OR ratings[i] NOT BETWEEN 1 AND points[i]))
           OR (nas[i] AND ratings[i] IS NOT NULL)
           OR (choices_[i] IS NOT NULL AND choice1[i] IS NOT NULL)
           OR array_position(codes, codes[i], i + 1) IS NOT NULL THEN
          RETURN false;
        END IF;
      END LOOP;
      RETURN true;
    END $$"""


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    """Wide table with its checks and triggers, the rows moved over, the view in place."""
    if not _postgres():
        return
    op.execute(VALID)
    op.execute("""
        CREATE TABLE response_answers (
          response_id bigint NOT NULL,
          item_code text[] NOT NULL, rating smallint[] NOT NULL, scale_points smallint[] NOT NULL,
          not_applicable boolean[] NOT NULL, number bigint[] NOT NULL, choice text[] NOT NULL,
          choices json[] NOT NULL, text text[] NOT NULL,
          CONSTRAINT pk_response_answers PRIMARY KEY (response_id),
          CONSTRAINT fk_response_answers_response_id_responses FOREIGN KEY (response_id)
            REFERENCES responses (id),
          CONSTRAINT ck_response_answers_valid CHECK (sipas_answers_valid(
            item_code, rating, scale_points, not_applicable, number, choice, choices, text)))""")
    aggregated = ", ".join(f"array_agg({c} ORDER BY item_code)" for c in COLUMNS)
    op.execute(f"INSERT INTO response_answers (response_id, {', '.join(COLUMNS)}) "
               f"SELECT response_id, {aggregated} FROM answers GROUP BY response_id")
    op.drop_table("answers")  # its triggers go with it
    op.execute(VIEW)
    op.execute("ANALYZE response_answers")
    for operation, message in RULES:  # on the table, and the view says the same as the old table
        op.execute(f"CREATE TRIGGER no_{operation.lower()}_response_answers BEFORE {operation} "
                   f"ON response_answers FOR EACH ROW EXECUTE FUNCTION sipas_forbid('{message}')")
        op.execute(f"CREATE TRIGGER no_{operation.lower()}_answers INSTEAD OF {operation} "
                   f"ON answers FOR EACH ROW EXECUTE FUNCTION sipas_forbid('{message}')")


def downgrade():
    """The ``answers`` table again, one row per answer, with its rows, checks and triggers."""
    if not _postgres():
        return
    op.execute("DROP VIEW answers")
    op.create_table(
        "answers",
        sa.Column("response_id", sa.BigInteger(), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("scale_points", sa.SmallInteger(), nullable=True),
        sa.Column("not_applicable", sa.Boolean(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=True),
        sa.Column("choice", sa.String(length=64), nullable=True),
        sa.Column("choices", sa.JSON(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.CheckConstraint("NOT (not_applicable AND rating IS NOT NULL)",
                           name=op.f("ck_answers_na_or_rating")),
        sa.CheckConstraint("choices IS NULL OR choice IS NULL", name=op.f("ck_answers_one_choice_kind")),
        sa.CheckConstraint("rating IS NULL OR (scale_points IS NOT NULL AND rating >= 1 "
                           "AND rating <= scale_points)", name=op.f("ck_answers_rating_in_scale")),
        sa.CheckConstraint("scale_points IS NULL OR (scale_points >= 2 AND scale_points <= 11)",
                           name=op.f("ck_answers_scale_points")),
        sa.ForeignKeyConstraint(["response_id"], ["responses.id"],
                                name=op.f("fk_answers_response_id_responses")),
        sa.PrimaryKeyConstraint("response_id", "item_code", name=op.f("pk_answers")),
    )
    op.execute(f"INSERT INTO answers (response_id, {', '.join(COLUMNS)}) "
               f"SELECT w.response_id, u.* FROM response_answers w CROSS JOIN LATERAL "
               f"unnest({', '.join('w.' + c for c in COLUMNS)}) AS u({', '.join(COLUMNS)})")
    op.drop_table("response_answers")
    op.execute("DROP FUNCTION sipas_answers_valid")
    for operation, message in RULES:
        op.execute(f"CREATE TRIGGER no_{operation.lower()}_answers BEFORE {operation} ON answers "
                   f"FOR EACH ROW EXECUTE FUNCTION sipas_forbid('{message}')")
