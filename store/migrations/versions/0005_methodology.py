"""methodology: cases, published methodologies, versions, behaviour tables, re-evaluations

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('methodologies',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('domain', sa.String(length=40), nullable=False),
    sa.Column('owner_organisation_id', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('origin_case_id', sa.String(length=100), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['owner_organisation_id'], ['organisations.id'], name=op.f('fk_methodologies_owner_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_methodologies')),
    sa.UniqueConstraint('code', name=op.f('uq_methodologies_code')),
    sa.UniqueConstraint('origin_case_id', name=op.f('uq_methodologies_origin_case_id'))
    )
    op.create_index(op.f('ix_methodologies_domain'), 'methodologies', ['domain'], unique=False)
    op.create_index(op.f('ix_methodologies_scope'), 'methodologies', ['scope'], unique=False)
    op.create_table('methodology_versions',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('methodology_id', sa.BigInteger(), nullable=False),
    sa.Column('version_no', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('document_ids', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('case_id', sa.String(length=100), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reevaluation_due', sa.DateTime(timezone=True), nullable=False),
    sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['methodology_id'], ['methodologies.id'], name=op.f('fk_methodology_versions_methodology_id_methodologies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_methodology_versions')),
    sa.UniqueConstraint('case_id', name=op.f('uq_methodology_versions_case_id')),
    sa.UniqueConstraint('methodology_id', 'version_no', name='uq_methodology_versions_number')
    )
    op.create_index(op.f('ix_methodology_versions_methodology_id'), 'methodology_versions', ['methodology_id'], unique=False)
    op.create_index('uq_methodology_versions_one_current', 'methodology_versions', ['methodology_id'], unique=True, postgresql_where=sa.text("status = 'current'"))
    op.create_table('methodology_behaviours',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('version_id', sa.BigInteger(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=100), nullable=False),
    sa.Column('factor_e4', sa.BigInteger(), nullable=False),
    sa.Column('daily_cap', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('daily_cap > 0', name=op.f('ck_methodology_behaviours_daily_cap_positive')),
    sa.CheckConstraint('factor_e4 > 0', name=op.f('ck_methodology_behaviours_factor_positive')),
    sa.ForeignKeyConstraint(['version_id'], ['methodology_versions.id'], name=op.f('fk_methodology_behaviours_version_id_methodology_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_methodology_behaviours')),
    sa.UniqueConstraint('version_id', 'code', name='uq_methodology_behaviours_code')
    )
    op.create_index(op.f('ix_methodology_behaviours_version_id'), 'methodology_behaviours', ['version_id'], unique=False)
    op.create_table('methodology_cases',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('case_id', sa.String(length=100), nullable=False),
    sa.Column('applicant_organisation_id', sa.BigInteger(), nullable=True),
    sa.Column('commissioned', sa.Boolean(), nullable=False),
    sa.Column('created_by_user_id', sa.BigInteger(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('code_suggestion', sa.String(length=60), nullable=True),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('domain', sa.String(length=40), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('behaviours', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('document_ids', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('stage', sa.String(length=40), nullable=False),
    sa.Column('submission_no', sa.Integer(), nullable=False),
    sa.Column('round_no', sa.Integer(), nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_id', sa.String(length=140), nullable=True),
    sa.Column('reasons', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('version_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['applicant_organisation_id'], ['organisations.id'], name=op.f('fk_methodology_cases_applicant_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_methodology_cases_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['version_id'], ['methodology_versions.id'], name=op.f('fk_methodology_cases_version_id_methodology_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_methodology_cases')),
    sa.UniqueConstraint('case_id', name=op.f('uq_methodology_cases_case_id'))
    )
    op.create_index(op.f('ix_methodology_cases_applicant_organisation_id'), 'methodology_cases', ['applicant_organisation_id'], unique=False)
    op.create_index(op.f('ix_methodology_cases_domain'), 'methodology_cases', ['domain'], unique=False)
    op.create_index(op.f('ix_methodology_cases_scope'), 'methodology_cases', ['scope'], unique=False)
    op.create_index(op.f('ix_methodology_cases_stage'), 'methodology_cases', ['stage'], unique=False)
    op.create_table('methodology_reevaluations',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('case_id', sa.String(length=100), nullable=False),
    sa.Column('methodology_id', sa.BigInteger(), nullable=False),
    sa.Column('version_id', sa.BigInteger(), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('new_version_id', sa.BigInteger(), nullable=True),
    sa.Column('opened_by_user_id', sa.BigInteger(), nullable=False),
    sa.Column('decided_by_user_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_user_id'], ['users.id'], name=op.f('fk_methodology_reevaluations_decided_by_user_id_users')),
    sa.ForeignKeyConstraint(['methodology_id'], ['methodologies.id'], name=op.f('fk_methodology_reevaluations_methodology_id_methodologies')),
    sa.ForeignKeyConstraint(['new_version_id'], ['methodology_versions.id'], name=op.f('fk_methodology_reevaluations_new_version_id_methodology_versions')),
    sa.ForeignKeyConstraint(['opened_by_user_id'], ['users.id'], name=op.f('fk_methodology_reevaluations_opened_by_user_id_users')),
    sa.ForeignKeyConstraint(['version_id'], ['methodology_versions.id'], name=op.f('fk_methodology_reevaluations_version_id_methodology_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_methodology_reevaluations')),
    sa.UniqueConstraint('case_id', name=op.f('uq_methodology_reevaluations_case_id'))
    )
    op.create_index(op.f('ix_methodology_reevaluations_methodology_id'), 'methodology_reevaluations', ['methodology_id'], unique=False)
    op.create_index('uq_methodology_reevaluations_one_open', 'methodology_reevaluations', ['methodology_id'], unique=True, postgresql_where=sa.text("stage = 'open'"))


def downgrade() -> None:
    op.drop_index('uq_methodology_reevaluations_one_open', table_name='methodology_reevaluations', postgresql_where=sa.text("stage = 'open'"))
    op.drop_index(op.f('ix_methodology_reevaluations_methodology_id'), table_name='methodology_reevaluations')
    op.drop_table('methodology_reevaluations')
    op.drop_index(op.f('ix_methodology_cases_stage'), table_name='methodology_cases')
    op.drop_index(op.f('ix_methodology_cases_scope'), table_name='methodology_cases')
    op.drop_index(op.f('ix_methodology_cases_domain'), table_name='methodology_cases')
    op.drop_index(op.f('ix_methodology_cases_applicant_organisation_id'), table_name='methodology_cases')
    op.drop_table('methodology_cases')
    op.drop_index(op.f('ix_methodology_behaviours_version_id'), table_name='methodology_behaviours')
    op.drop_table('methodology_behaviours')
    op.drop_index('uq_methodology_versions_one_current', table_name='methodology_versions', postgresql_where=sa.text("status = 'current'"))
    op.drop_index(op.f('ix_methodology_versions_methodology_id'), table_name='methodology_versions')
    op.drop_table('methodology_versions')
    op.drop_index(op.f('ix_methodologies_scope'), table_name='methodologies')
    op.drop_index(op.f('ix_methodologies_domain'), table_name='methodologies')
    op.drop_table('methodologies')
