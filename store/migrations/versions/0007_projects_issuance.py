"""projects and issuance: accounts and the serial-numbered ledger, reference lists, cases, publicity

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('serial_series',
    sa.Column('prefix', sa.String(length=120), nullable=False),
    sa.Column('next_number', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('prefix', name=op.f('pk_serial_series'))
    )
    op.create_table('institutional_accounts',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('account_number', sa.String(length=20), nullable=False),
    sa.Column('organisation_id', sa.BigInteger(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_institutional_accounts_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_institutional_accounts')),
    sa.UniqueConstraint('account_number', name=op.f('uq_institutional_accounts_account_number')),
    sa.UniqueConstraint('organisation_id', name=op.f('uq_institutional_accounts_organisation_id'))
    )
    op.create_table('key_emitters',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('organisation_id', sa.BigInteger(), nullable=False),
    sa.Column('scheme', sa.String(length=20), nullable=False),
    sa.Column('boundary_facility_ids', postgresql.ARRAY(sa.String(length=64)), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('effective_until', sa.Date(), nullable=True),
    sa.Column('created_by_user_id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("scheme IN ('national', 'hubei')", name=op.f('ck_key_emitters_scheme')),
    sa.CheckConstraint('effective_until IS NULL OR effective_until >= effective_from', name=op.f('ck_key_emitters_effective')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_key_emitters_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_key_emitters_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_emitters'))
    )
    op.create_index(op.f('ix_key_emitters_organisation_id'), 'key_emitters', ['organisation_id'], unique=False)
    op.create_table('projects',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('organisation_id', sa.BigInteger(), nullable=False),
    sa.Column('methodology_version_id', sa.BigInteger(), nullable=False),
    sa.Column('methodology_code', sa.String(length=60), nullable=False),
    sa.Column('methodology_version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('district', sa.String(length=60), nullable=False),
    sa.Column('site_address', sa.String(length=300), nullable=False),
    sa.Column('facility_id', sa.String(length=64), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('registered_by_user_id', sa.BigInteger(), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['methodology_version_id'], ['methodology_versions.id'], name=op.f('fk_projects_methodology_version_id_methodology_versions')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_projects_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['registered_by_user_id'], ['users.id'], name=op.f('fk_projects_registered_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects'))
    )
    op.create_index(op.f('ix_projects_facility_id'), 'projects', ['facility_id'], unique=False)
    op.create_index(op.f('ix_projects_methodology_version_id'), 'projects', ['methodology_version_id'], unique=False)
    op.create_index(op.f('ix_projects_organisation_id'), 'projects', ['organisation_id'], unique=False)
    op.create_table('verifier_accreditations',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('organisation_id', sa.BigInteger(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('granted_by_user_id', sa.BigInteger(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revocation_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('valid_until >= valid_from', name=op.f('ck_verifier_accreditations_validity')),
    sa.ForeignKeyConstraint(['granted_by_user_id'], ['users.id'], name=op.f('fk_verifier_accreditations_granted_by_user_id_users')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_verifier_accreditations_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verifier_accreditations'))
    )
    op.create_index(op.f('ix_verifier_accreditations_organisation_id'), 'verifier_accreditations', ['organisation_id'], unique=False)
    op.create_table('issuance_cases',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('case_id', sa.String(length=100), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('organisation_id', sa.BigInteger(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('claimed_grams', sa.BigInteger(), nullable=False),
    sa.Column('benefit_sharing', sa.Text(), nullable=False),
    sa.Column('verifier_organisation_id', sa.BigInteger(), nullable=False),
    sa.Column('verified_grams', sa.BigInteger(), nullable=True),
    sa.Column('verification_conclusion', sa.Text(), nullable=True),
    sa.Column('stage', sa.String(length=40), nullable=False),
    sa.Column('facts_seq', sa.Integer(), nullable=False),
    sa.Column('filed_by_user_id', sa.BigInteger(), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('claimed_grams > 0', name=op.f('ck_issuance_cases_claimed')),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_issuance_cases_period')),
    sa.CheckConstraint('verified_grams IS NULL OR (verified_grams >= 0 AND verified_grams <= claimed_grams)', name=op.f('ck_issuance_cases_verified')),
    sa.ForeignKeyConstraint(['filed_by_user_id'], ['users.id'], name=op.f('fk_issuance_cases_filed_by_user_id_users')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_issuance_cases_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_issuance_cases_project_id_projects')),
    sa.ForeignKeyConstraint(['verifier_organisation_id'], ['organisations.id'], name=op.f('fk_issuance_cases_verifier_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuance_cases')),
    sa.UniqueConstraint('case_id', name=op.f('uq_issuance_cases_case_id'))
    )
    op.create_index(op.f('ix_issuance_cases_organisation_id'), 'issuance_cases', ['organisation_id'], unique=False)
    op.create_index(op.f('ix_issuance_cases_project_id'), 'issuance_cases', ['project_id'], unique=False)
    op.create_index(op.f('ix_issuance_cases_stage'), 'issuance_cases', ['stage'], unique=False)
    op.create_index(op.f('ix_issuance_cases_verifier_organisation_id'), 'issuance_cases', ['verifier_organisation_id'], unique=False)
    op.create_table('issuances',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('issuance_key', sa.String(length=100), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('vintage', sa.Integer(), nullable=False),
    sa.Column('verified_grams', sa.BigInteger(), nullable=False),
    sa.Column('tonnes', sa.BigInteger(), nullable=False),
    sa.Column('remainder_grams', sa.BigInteger(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_by_user_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint('tonnes >= 0 AND remainder_grams >= 0 AND remainder_grams < 1000000', name=op.f('ck_issuances_quantities')),
    sa.ForeignKeyConstraint(['account_id'], ['institutional_accounts.id'], name=op.f('fk_issuances_account_id_institutional_accounts')),
    sa.ForeignKeyConstraint(['issued_by_user_id'], ['users.id'], name=op.f('fk_issuances_issued_by_user_id_users')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_issuances_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuances')),
    sa.UniqueConstraint('issuance_key', name=op.f('uq_issuances_issuance_key'))
    )
    op.create_index(op.f('ix_issuances_account_id'), 'issuances', ['account_id'], unique=False)
    op.create_index(op.f('ix_issuances_project_id'), 'issuances', ['project_id'], unique=False)
    op.create_table('project_other_registrations',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('scheme', sa.String(length=40), nullable=False),
    sa.Column('registration_id', sa.String(length=100), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.CheckConstraint('period_end IS NULL OR period_end >= period_start', name=op.f('ck_project_other_registrations_period')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_project_other_registrations_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_other_registrations'))
    )
    op.create_index(op.f('ix_project_other_registrations_project_id'), 'project_other_registrations', ['project_id'], unique=False)
    op.create_table('publicity_notices',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('issuance_case_id', sa.BigInteger(), nullable=False),
    sa.Column('round_no', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('provisional', sa.Boolean(), nullable=False),
    sa.Column('project_name', sa.String(length=200), nullable=False),
    sa.Column('district', sa.String(length=60), nullable=False),
    sa.Column('developer_name', sa.String(length=200), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('verified_grams', sa.BigInteger(), nullable=False),
    sa.Column('benefit_sharing', sa.Text(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['issuance_case_id'], ['issuance_cases.id'], name=op.f('fk_publicity_notices_issuance_case_id_issuance_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publicity_notices')),
    sa.UniqueConstraint('issuance_case_id', 'round_no', name='uq_publicity_notices_round')
    )
    op.create_index(op.f('ix_publicity_notices_closed_at'), 'publicity_notices', ['closed_at'], unique=False)
    op.create_index(op.f('ix_publicity_notices_issuance_case_id'), 'publicity_notices', ['issuance_case_id'], unique=False)
    op.create_table('unit_blocks',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('serial_prefix', sa.String(length=120), nullable=False),
    sa.Column('serial_start', sa.BigInteger(), nullable=False),
    sa.Column('serial_end', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('issuance_id', sa.BigInteger(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('vintage', sa.Integer(), nullable=False),
    sa.Column('not_declarable_elsewhere', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('serial_start >= 1 AND serial_end >= serial_start', name=op.f('ck_unit_blocks_range')),
    sa.ForeignKeyConstraint(['account_id'], ['institutional_accounts.id'], name=op.f('fk_unit_blocks_account_id_institutional_accounts')),
    sa.ForeignKeyConstraint(['issuance_id'], ['issuances.id'], name=op.f('fk_unit_blocks_issuance_id_issuances')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_unit_blocks_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_blocks')),
    sa.UniqueConstraint('serial_prefix', 'serial_start', name='uq_unit_blocks_series_start')
    )
    op.create_index(op.f('ix_unit_blocks_account_id'), 'unit_blocks', ['account_id'], unique=False)
    op.create_index(op.f('ix_unit_blocks_issuance_id'), 'unit_blocks', ['issuance_id'], unique=False)
    op.create_index(op.f('ix_unit_blocks_project_id'), 'unit_blocks', ['project_id'], unique=False)
    op.create_table('publicity_objections',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('notice_id', sa.BigInteger(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('objector_name', sa.String(length=100), nullable=True),
    sa.Column('objector_contact', sa.String(length=200), nullable=True),
    sa.Column('source_hash', sa.String(length=64), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ruling', sa.String(length=20), nullable=True),
    sa.Column('ruling_reason', sa.Text(), nullable=True),
    sa.Column('ruled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ruled_by_user_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['notice_id'], ['publicity_notices.id'], name=op.f('fk_publicity_objections_notice_id_publicity_notices')),
    sa.ForeignKeyConstraint(['ruled_by_user_id'], ['users.id'], name=op.f('fk_publicity_objections_ruled_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publicity_objections'))
    )
    op.create_index(op.f('ix_publicity_objections_filed_at'), 'publicity_objections', ['filed_at'], unique=False)
    op.create_index(op.f('ix_publicity_objections_notice_id'), 'publicity_objections', ['notice_id'], unique=False)
    op.create_index(op.f('ix_publicity_objections_source_hash'), 'publicity_objections', ['source_hash'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_publicity_objections_source_hash'), table_name='publicity_objections')
    op.drop_index(op.f('ix_publicity_objections_notice_id'), table_name='publicity_objections')
    op.drop_index(op.f('ix_publicity_objections_filed_at'), table_name='publicity_objections')
    op.drop_table('publicity_objections')
    op.drop_index(op.f('ix_unit_blocks_project_id'), table_name='unit_blocks')
    op.drop_index(op.f('ix_unit_blocks_issuance_id'), table_name='unit_blocks')
    op.drop_index(op.f('ix_unit_blocks_account_id'), table_name='unit_blocks')
    op.drop_table('unit_blocks')
    op.drop_index(op.f('ix_publicity_notices_issuance_case_id'), table_name='publicity_notices')
    op.drop_index(op.f('ix_publicity_notices_closed_at'), table_name='publicity_notices')
    op.drop_table('publicity_notices')
    op.drop_index(op.f('ix_project_other_registrations_project_id'), table_name='project_other_registrations')
    op.drop_table('project_other_registrations')
    op.drop_index(op.f('ix_issuances_project_id'), table_name='issuances')
    op.drop_index(op.f('ix_issuances_account_id'), table_name='issuances')
    op.drop_table('issuances')
    op.drop_index(op.f('ix_issuance_cases_verifier_organisation_id'), table_name='issuance_cases')
    op.drop_index(op.f('ix_issuance_cases_stage'), table_name='issuance_cases')
    op.drop_index(op.f('ix_issuance_cases_project_id'), table_name='issuance_cases')
    op.drop_index(op.f('ix_issuance_cases_organisation_id'), table_name='issuance_cases')
    op.drop_table('issuance_cases')
    op.drop_index(op.f('ix_verifier_accreditations_organisation_id'), table_name='verifier_accreditations')
    op.drop_table('verifier_accreditations')
    op.drop_index(op.f('ix_projects_organisation_id'), table_name='projects')
    op.drop_index(op.f('ix_projects_methodology_version_id'), table_name='projects')
    op.drop_index(op.f('ix_projects_facility_id'), table_name='projects')
    op.drop_table('projects')
    op.drop_index(op.f('ix_key_emitters_organisation_id'), table_name='key_emitters')
    op.drop_table('key_emitters')
    op.drop_table('institutional_accounts')
    op.drop_table('serial_series')
