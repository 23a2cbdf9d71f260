"""Responses, answers and the audit log are append-only in the database itself.

Responses are never deleted (exclusion is a recorded, reversible UPDATE of ``excluded``);
answers never change once stored; audit entries are neither changed nor deleted.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# (table, operation, message)
RULES = [
    ("responses", "DELETE", "responses are never deleted; exclude them instead"),
    ("answers", "DELETE", "answers are never deleted"),
    ("answers", "UPDATE", "answers are never changed"),
    ("audit_log", "DELETE", "the audit log is append-only"),
    ("audit_log", "UPDATE", "the audit log is append-only"),
]


def upgrade():
    """Create one trigger per rule (SQLite RAISE, PostgreSQL a plpgsql function)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION sipas_forbid() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '%', TG_ARGV[0]; END $$""")
        for table, operation, message in RULES:
            op.execute(f"CREATE TRIGGER no_{operation.lower()}_{table} BEFORE {operation} ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION sipas_forbid('{message}')")
    else:
        for table, operation, message in RULES:
            op.execute(f"CREATE TRIGGER no_{operation.lower()}_{table} BEFORE {operation} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def downgrade():
    """Drop the triggers."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, operation, _ in RULES:
        op.execute(f"DROP TRIGGER no_{operation.lower()}_{table}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION sipas_forbid()")
