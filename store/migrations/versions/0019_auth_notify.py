"""auth changes are announced: NOTIFY tanpuhui_auth when a token, a user or an organisation's status changes

Revision ID: 0019
Revises: 0009

The API keeps bearer tokens it has looked up in an in-process cache (store/token_cache.py); every process
LISTENs on `tanpuhui_auth` and empties its cache when told. The triggers fire for every writer (API, CLI,
SQL by hand), per statement, and PostgreSQL delivers the notification when the writing transaction
commits (not before, and never for a rollback). A token's `last_used_at` touch does not notify.
"""
from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLES = {
    "api_tokens": "UPDATE OF revoked_at, expires_at, user_id, token_hash OR DELETE",
    "users": "UPDATE OR DELETE",
    "organisations": "UPDATE OF status OR DELETE",
}


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION tanpuhui_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('tanpuhui_auth', TG_TABLE_NAME);
            RETURN NULL;
        END $$""")
    for table, events in TABLES.items():
        op.execute(f"CREATE TRIGGER {table}_auth_changed AFTER {events} ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION tanpuhui_auth_changed()")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_auth_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS tanpuhui_auth_changed()")
