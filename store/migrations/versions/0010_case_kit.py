"""the case kit: one step sequence per case, the deployment id

Revision ID: 0010
Revises: 0011
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0011"
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
    # Art. 24: one claim per facility and period across projects and developers, in the database.
    op.add_column("issuance_cases", sa.Column("facility_id", sa.String(length=64), nullable=True))
    op.execute("UPDATE issuance_cases c SET facility_id = p.facility_id FROM projects p WHERE p.id = c.project_id")
    op.alter_column("issuance_cases", "facility_id", nullable=False)
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute("ALTER TABLE issuance_cases ADD CONSTRAINT ex_issuance_cases_facility_period EXCLUDE USING gist "
               "(facility_id WITH =, daterange(period_start, period_end, '[]') WITH &&) "
               "WHERE (stage NOT IN ('withdrawn', 'rejected'))")
    # Art. 12: a scenario evaluation specification is evaluated by the bureau's expert panel first.
    op.add_column("scenario_specs", sa.Column("review_id", sa.String(length=100), nullable=True))
    op.add_column("scenario_specs", sa.Column("reasons", postgresql.JSONB(astext_type=sa.Text()),
                                              server_default=sa.text("'[]'::jsonb"), nullable=False))
    # A re-evaluation's revision goes through a panel review (Art. 7 with Art. 11).
    op.add_column("methodology_reevaluations", sa.Column("review_id", sa.String(length=100), nullable=True))
    op.add_column("methodology_reevaluations", sa.Column("reasons", postgresql.JSONB(astext_type=sa.Text()),
                                                         server_default=sa.text("'[]'::jsonb"), nullable=False))
    op.drop_index("uq_methodology_reevaluations_one_open", table_name="methodology_reevaluations")
    op.create_index("uq_methodology_reevaluations_one_open", "methodology_reevaluations", ["methodology_id"],
                    unique=True, postgresql_where=sa.text("stage IN ('open', 'panel_review')"))


def downgrade() -> None:
    op.drop_column("scenario_specs", "reasons")
    op.drop_column("scenario_specs", "review_id")
    op.drop_constraint("ex_issuance_cases_facility_period", "issuance_cases")
    op.drop_column("issuance_cases", "facility_id")
    op.drop_index("uq_methodology_reevaluations_one_open", table_name="methodology_reevaluations")
    op.create_index("uq_methodology_reevaluations_one_open", "methodology_reevaluations", ["methodology_id"],
                    unique=True, postgresql_where=sa.text("stage = 'open'"))
    op.drop_column("methodology_reevaluations", "reasons")
    op.drop_column("methodology_reevaluations", "review_id")
    op.drop_table("deployment")
    op.add_column("issuance_cases", sa.Column("facts_seq", sa.Integer(), server_default=sa.text("0"),
                                              nullable=False))
    op.alter_column("issuance_cases", "facts_seq", server_default=None)
    op.drop_column("cases", "seq")
