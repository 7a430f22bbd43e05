"""supervision: reports (Art. 34, sealed reporters) and sanctions (Art. 33)

Revision ID: 0016
Revises: 0009
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("reported_organisation_id", sa.BigInteger(), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("evidence_document_ids", postgresql.JSONB(), nullable=False),
        sa.Column("reporter_sealed", sa.Text(), nullable=True),
        sa.Column("receipt_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(30), nullable=False),
        sa.Column("handler_user_id", sa.BigInteger(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("ack_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("conclude_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("concluded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("substantiated", sa.Boolean(), nullable=True),
        sa.Column("measures", sa.Text(), nullable=True),
        sa.Column("conclusion", sa.Text(), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_reports_reported_organisation_id", "reports", ["reported_organisation_id"])
    op.create_index("ix_reports_source_hash", "reports", ["source_hash"])
    op.create_index("ix_reports_filed_at", "reports", ["filed_at"])
    op.create_table(
        "sanctions",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("organisation_id", sa.BigInteger(), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("measure", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("report_id", sa.BigInteger(), sa.ForeignKey("reports.id"), nullable=True),
        sa.Column("imposed_by_user_id", sa.BigInteger(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("imposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_key", sa.String(200), nullable=False, unique=True),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("froze_account", sa.Boolean(), nullable=False),
        sa.Column("cases_told", postgresql.JSONB(), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_sanctions_organisation_id", "sanctions", ["organisation_id"])
    op.create_index("uq_sanctions_in_force", "sanctions", ["organisation_id"], unique=True,
                    postgresql_where=sa.text("stage <> 'lifted'"))


def downgrade() -> None:
    op.drop_table("sanctions")
    op.drop_table("reports")
