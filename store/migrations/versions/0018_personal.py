"""personal reductions: data sources, residents' accounts of grams, bindings, behaviour batches and their
records (partitioned by month; partitions in schema behaviour_parts, made on demand by store/personal.py)

Revision ID: 0018
Revises: 0009
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS behaviour_parts")
    op.create_table('behaviour_event_keys',
    sa.Column('source_id', sa.BigInteger(), nullable=False),
    sa.Column('source_event_id', sa.String(length=100), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('source_id', 'source_event_id', name=op.f('pk_behaviour_event_keys'))
    )
    op.create_table('behaviour_records',
    sa.Column('batch_id', sa.BigInteger(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source_id', sa.BigInteger(), nullable=False),
    sa.Column('source_event_id', sa.String(length=100), nullable=True),
    sa.Column('subject_hash', sa.LargeBinary(), nullable=True),
    sa.Column('behaviour_code', sa.String(length=60), nullable=True),
    sa.Column('quantity_milli', sa.BigInteger(), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('account_id', sa.BigInteger(), nullable=True),
    sa.Column('credited_milli', sa.BigInteger(), nullable=True),
    sa.Column('grams', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('batch_id', 'line_no', 'occurred_at', name=op.f('pk_behaviour_records')),
    postgresql_partition_by='RANGE (occurred_at)'
    )
    op.create_table('personal_subject_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_personal_subject_key'))
    )
    op.create_table('personal_waiting',
    sa.Column('batch_id', sa.BigInteger(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source_id', sa.BigInteger(), nullable=False),
    sa.Column('subject_hash', sa.LargeBinary(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('batch_id', 'line_no', name=op.f('pk_personal_waiting'))
    )
    op.create_index('ix_personal_waiting_subject', 'personal_waiting', ['source_id', 'subject_hash'], unique=False)
    op.create_table('data_sources',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('organisation_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by_user_id', sa.BigInteger(), nullable=False),
    sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('suspended_reason', sa.String(length=2000), nullable=True),
    sa.ForeignKeyConstraint(['approved_by_user_id'], ['users.id'], name=op.f('fk_data_sources_approved_by_user_id_users')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_data_sources_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_sources')),
    sa.UniqueConstraint('organisation_id', name=op.f('uq_data_sources_organisation_id'))
    )
    op.create_table('personal_accounts',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('account_number', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_personal_accounts_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_personal_accounts')),
    sa.UniqueConstraint('account_number', name=op.f('uq_personal_accounts_account_number')),
    sa.UniqueConstraint('user_id', name=op.f('uq_personal_accounts_user_id'))
    )
    op.create_table('behaviour_batches',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('source_id', sa.BigInteger(), nullable=False),
    sa.Column('request_key', sa.String(length=200), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('accounted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('counts', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['data_sources.id'], name=op.f('fk_behaviour_batches_source_id_data_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_behaviour_batches')),
    sa.UniqueConstraint('source_id', 'request_key', name='uq_behaviour_batches_request_key')
    )
    op.create_index(op.f('ix_behaviour_batches_source_id'), 'behaviour_batches', ['source_id'], unique=False)
    op.create_table('binding_codes',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('source_id', sa.BigInteger(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('subject_hash', sa.LargeBinary(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['data_sources.id'], name=op.f('fk_binding_codes_source_id_data_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_binding_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_binding_codes_code_hash'))
    )
    op.create_index(op.f('ix_binding_codes_source_id'), 'binding_codes', ['source_id'], unique=False)
    op.create_table('data_source_behaviours',
    sa.Column('source_id', sa.BigInteger(), nullable=False),
    sa.Column('behaviour_code', sa.String(length=60), nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['data_sources.id'], name=op.f('fk_data_source_behaviours_source_id_data_sources')),
    sa.PrimaryKeyConstraint('source_id', 'behaviour_code', name=op.f('pk_data_source_behaviours'))
    )
    op.create_table('personal_bindings',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('source_id', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('subject_hash', sa.LargeBinary(), nullable=False),
    sa.Column('bound_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('unbound_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['personal_accounts.id'], name=op.f('fk_personal_bindings_account_id_personal_accounts')),
    sa.ForeignKeyConstraint(['source_id'], ['data_sources.id'], name=op.f('fk_personal_bindings_source_id_data_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_personal_bindings'))
    )
    op.create_index(op.f('ix_personal_bindings_account_id'), 'personal_bindings', ['account_id'], unique=False)
    op.create_index('uq_personal_bindings_active', 'personal_bindings', ['source_id', 'subject_hash'], unique=True, postgresql_where=sa.text('unbound_at IS NULL'))
    op.create_table('personal_daily_credits',
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('behaviour_code', sa.String(length=60), nullable=False),
    sa.Column('local_day', sa.Date(), nullable=False),
    sa.Column('used_milli', sa.BigInteger(), nullable=False),
    sa.Column('grams', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'behaviour_code', 'local_day', name=op.f('pk_personal_daily_credits'))
    )


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS behaviour_parts CASCADE")
    op.drop_table('personal_daily_credits')
    op.drop_index('uq_personal_bindings_active', table_name='personal_bindings', postgresql_where=sa.text('unbound_at IS NULL'))
    op.drop_index(op.f('ix_personal_bindings_account_id'), table_name='personal_bindings')
    op.drop_table('personal_bindings')
    op.drop_table('data_source_behaviours')
    op.drop_index(op.f('ix_binding_codes_source_id'), table_name='binding_codes')
    op.drop_table('binding_codes')
    op.drop_index(op.f('ix_behaviour_batches_source_id'), table_name='behaviour_batches')
    op.drop_table('behaviour_batches')
    op.drop_table('personal_accounts')
    op.drop_table('data_sources')
    op.drop_index('ix_personal_waiting_subject', table_name='personal_waiting')
    op.drop_table('personal_waiting')
    op.drop_table('personal_subject_key')
    op.drop_table('behaviour_records')
    op.drop_table('behaviour_event_keys')
