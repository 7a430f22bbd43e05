"""trust: objections accept an Idempotency-Key (a retried objection files nothing new)

Revision ID: 0009
Revises: 0015
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("publicity_objections", sa.Column("idempotency_key", sa.String(200), nullable=True))
    op.add_column("publicity_objections", sa.Column("request_hash", sa.String(64), nullable=True))
    op.create_index("uq_publicity_objections_key", "publicity_objections", ["notice_id", "idempotency_key"],
                    unique=True, postgresql_where=sa.text("idempotency_key IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("uq_publicity_objections_key", table_name="publicity_objections")
    op.drop_column("publicity_objections", "request_hash")
    op.drop_column("publicity_objections", "idempotency_key")
