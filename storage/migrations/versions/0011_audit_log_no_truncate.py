"""The audit log cannot be emptied: PostgreSQL refuses TRUNCATE on it, and its guards
fire in every session_replication_role

0002 refuses UPDATE and DELETE row by row; TRUNCATE fires no row triggers, so it emptied
the log. A BEFORE TRUNCATE statement trigger now refuses it. Both guards are ENABLE
ALWAYS: a session with ``session_replication_role = replica`` (which skips ordinary
triggers) meets them too. Only the table's owner can still disable or drop them, which
is why the service runs as a role that owns nothing (``ssj init --app-role``).
SQLite has no TRUNCATE: nothing to do there.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION audit_log_no_truncate() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only: TRUNCATE refused'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_no_truncate()"
    )
    op.execute("ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate")
    op.execute("ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_append_only")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_no_truncate()")
