"""scenario: evaluation specifications, scenarios, self-assessments, cases, labels

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scenario_label_counters',
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_scenario_label_counters'))
    )
    op.create_table('scenario_specs',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('pass_mark', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.BigInteger(), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('pass_mark BETWEEN 1 AND 100', name=op.f('ck_scenario_specs_pass_mark_range')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_scenario_specs_created_by_users')),
    sa.ForeignKeyConstraint(['published_by'], ['users.id'], name=op.f('fk_scenario_specs_published_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenario_specs')),
    sa.UniqueConstraint('category', 'version', name='uq_scenario_specs_category_version')
    )
    op.create_index(op.f('ix_scenario_specs_category'), 'scenario_specs', ['category'], unique=False)
    op.create_table('scenarios',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('organisation_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('district', sa.String(length=40), nullable=False),
    sa.Column('behaviour_description', sa.Text(), nullable=False),
    sa.Column('included', sa.Boolean(), nullable=False),
    sa.Column('included_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_scenarios_created_by_users')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_scenarios_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenarios'))
    )
    op.create_index(op.f('ix_scenarios_organisation_id'), 'scenarios', ['organisation_id'], unique=False)
    op.create_table('scenario_self_assessments',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('scenario_id', sa.BigInteger(), nullable=False),
    sa.Column('spec_id', sa.BigInteger(), nullable=False),
    sa.Column('total_score', sa.Integer(), nullable=False),
    sa.Column('passes', sa.Boolean(), nullable=False),
    sa.Column('failing_items', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_by', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_scenario_self_assessments_created_by_users')),
    sa.ForeignKeyConstraint(['scenario_id'], ['scenarios.id'], name=op.f('fk_scenario_self_assessments_scenario_id_scenarios')),
    sa.ForeignKeyConstraint(['spec_id'], ['scenario_specs.id'], name=op.f('fk_scenario_self_assessments_spec_id_scenario_specs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenario_self_assessments'))
    )
    op.create_index(op.f('ix_scenario_self_assessments_scenario_id'), 'scenario_self_assessments', ['scenario_id'], unique=False)
    op.create_table('scenario_spec_items',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('spec_id', sa.BigInteger(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=True),
    sa.CheckConstraint("(kind = 'gate' AND weight IS NULL) OR (kind = 'weighted' AND weight BETWEEN 1 AND 100)", name=op.f('ck_scenario_spec_items_kind_weight')),
    sa.ForeignKeyConstraint(['spec_id'], ['scenario_specs.id'], name=op.f('fk_scenario_spec_items_spec_id_scenario_specs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenario_spec_items')),
    sa.UniqueConstraint('spec_id', 'code', name='uq_scenario_spec_items_spec_code')
    )
    op.create_index(op.f('ix_scenario_spec_items_spec_id'), 'scenario_spec_items', ['spec_id'], unique=False)
    op.create_table('scenario_cases',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('case_id', sa.String(length=100), nullable=False),
    sa.Column('scenario_id', sa.BigInteger(), nullable=False),
    sa.Column('spec_id', sa.BigInteger(), nullable=False),
    sa.Column('self_assessment_id', sa.BigInteger(), nullable=False),
    sa.Column('round_no', sa.Integer(), nullable=False),
    sa.Column('submitted_by', sa.BigInteger(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=True),
    sa.Column('panel_outcome', sa.String(length=20), nullable=True),
    sa.Column('panel_mean_score_hundredths', sa.Integer(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['scenario_id'], ['scenarios.id'], name=op.f('fk_scenario_cases_scenario_id_scenarios')),
    sa.ForeignKeyConstraint(['self_assessment_id'], ['scenario_self_assessments.id'], name=op.f('fk_scenario_cases_self_assessment_id_scenario_self_assessments')),
    sa.ForeignKeyConstraint(['spec_id'], ['scenario_specs.id'], name=op.f('fk_scenario_cases_spec_id_scenario_specs')),
    sa.ForeignKeyConstraint(['submitted_by'], ['users.id'], name=op.f('fk_scenario_cases_submitted_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenario_cases')),
    sa.UniqueConstraint('case_id', name=op.f('uq_scenario_cases_case_id'))
    )
    op.create_index(op.f('ix_scenario_cases_scenario_id'), 'scenario_cases', ['scenario_id'], unique=False)
    op.create_index('uq_scenario_cases_one_open', 'scenario_cases', ['scenario_id'], unique=True, postgresql_where=sa.text('closed_at IS NULL'))
    op.create_table('scenario_self_assessment_items',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('assessment_id', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('evidence_document_ids', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['assessment_id'], ['scenario_self_assessments.id'], name=op.f('fk_scenario_self_assessment_items_assessment_id_scenario_self_assessments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenario_self_assessment_items')),
    sa.UniqueConstraint('assessment_id', 'code', name='uq_scenario_self_assessment_items_code')
    )
    op.create_index(op.f('ix_scenario_self_assessment_items_assessment_id'), 'scenario_self_assessment_items', ['assessment_id'], unique=False)
    op.create_table('scenario_labels',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('case_id', sa.String(length=100), nullable=False),
    sa.Column('scenario_id', sa.BigInteger(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_by', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['scenario_cases.case_id'], name=op.f('fk_scenario_labels_case_id_scenario_cases')),
    sa.ForeignKeyConstraint(['published_by'], ['users.id'], name=op.f('fk_scenario_labels_published_by_users')),
    sa.ForeignKeyConstraint(['scenario_id'], ['scenarios.id'], name=op.f('fk_scenario_labels_scenario_id_scenarios')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenario_labels')),
    sa.UniqueConstraint('case_id', name=op.f('uq_scenario_labels_case_id')),
    sa.UniqueConstraint('code', name=op.f('uq_scenario_labels_code')),
    sa.UniqueConstraint('year', 'seq', name='uq_scenario_labels_year_seq')
    )
    op.create_index(op.f('ix_scenario_labels_scenario_id'), 'scenario_labels', ['scenario_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_scenario_labels_scenario_id'), table_name='scenario_labels')
    op.drop_table('scenario_labels')
    op.drop_index(op.f('ix_scenario_self_assessment_items_assessment_id'), table_name='scenario_self_assessment_items')
    op.drop_table('scenario_self_assessment_items')
    op.drop_index('uq_scenario_cases_one_open', table_name='scenario_cases', postgresql_where=sa.text('closed_at IS NULL'))
    op.drop_index(op.f('ix_scenario_cases_scenario_id'), table_name='scenario_cases')
    op.drop_table('scenario_cases')
    op.drop_index(op.f('ix_scenario_spec_items_spec_id'), table_name='scenario_spec_items')
    op.drop_table('scenario_spec_items')
    op.drop_index(op.f('ix_scenario_self_assessments_scenario_id'), table_name='scenario_self_assessments')
    op.drop_table('scenario_self_assessments')
    op.drop_index(op.f('ix_scenarios_organisation_id'), table_name='scenarios')
    op.drop_table('scenarios')
    op.drop_index(op.f('ix_scenario_specs_category'), table_name='scenario_specs')
    op.drop_table('scenario_specs')
    op.drop_table('scenario_label_counters')
