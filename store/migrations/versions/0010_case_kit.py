"""the case kit: one step sequence per case, the deployment id

Revision ID: 0010
Revises: 0008
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Steps of every case are numbered in the case register; issuance's own counter goes.
    op.add_column("cases", sa.Column("seq", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.drop_column("issuance_cases", "facts_seq")
    op.create_table(
        "deployment",
        sa.Column("one_row", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), server_default=sa.text("gen_random_uuid()::text"),
                  nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("one_row", name=op.f("ck_deployment_one_row")),
        sa.PrimaryKeyConstraint("one_row", name=op.f("pk_deployment")),
        sa.UniqueConstraint("deployment_id", name=op.f("uq_deployment_deployment_id")),
    )
    op.execute("INSERT INTO deployment DEFAULT VALUES")


def downgrade() -> None:
    op.drop_table("deployment")
    op.add_column("issuance_cases", sa.Column("facts_seq", sa.Integer(), server_default=sa.text("0"),
                                              nullable=False))
    op.alter_column("issuance_cases", "facts_seq", server_default=None)
    op.drop_column("cases", "seq")
