"""expert committee roster and panel reviews with their tasks (SPEC §2.1)

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reviews',
    sa.Column('review_id', sa.String(length=120), nullable=False),
    sa.Column('case_id', sa.String(length=100), nullable=False),
    sa.Column('case_type', sa.String(length=40), nullable=False),
    sa.Column('authority_role', sa.String(length=30), nullable=False),
    sa.Column('round_no', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('applicant_organisation_id', sa.BigInteger(), nullable=True),
    sa.Column('verifier_organisation_id', sa.BigInteger(), nullable=True),
    sa.Column('stage', sa.String(length=40), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('mean_score_hundredths', sa.Integer(), nullable=True),
    sa.Column('criteria', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['applicant_organisation_id'], ['organisations.id'], name=op.f('fk_reviews_applicant_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['verifier_organisation_id'], ['organisations.id'], name=op.f('fk_reviews_verifier_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('review_id', name=op.f('pk_reviews'))
    )
    op.create_index(op.f('ix_reviews_applicant_organisation_id'), 'reviews', ['applicant_organisation_id'], unique=False)
    op.create_index(op.f('ix_reviews_case_id'), 'reviews', ['case_id'], unique=False)
    op.create_table('experts',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('affiliation_organisation_id', sa.BigInteger(), nullable=True),
    sa.Column('expertise', postgresql.ARRAY(sa.String(length=100)), nullable=False),
    sa.Column('declared_conflict_organisation_ids', postgresql.ARRAY(sa.BigInteger()), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['affiliation_organisation_id'], ['organisations.id'], name=op.f('fk_experts_affiliation_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_experts_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_experts')),
    sa.UniqueConstraint('user_id', name=op.f('uq_experts_user_id'))
    )
    op.create_index(op.f('ix_experts_affiliation_organisation_id'), 'experts', ['affiliation_organisation_id'], unique=False)
    op.create_table('review_tasks',
    sa.Column('task_id', sa.String(length=140), nullable=False),
    sa.Column('review_id', sa.String(length=120), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_provisional', sa.Boolean(), nullable=False),
    sa.Column('remind_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('overdue_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('vote', sa.String(length=20), nullable=True),
    sa.Column('comments', sa.Text(), nullable=True),
    sa.Column('scores', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recusal_reason', sa.Text(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replaced_by_task_id', sa.String(length=140), nullable=True),
    sa.ForeignKeyConstraint(['expert_id'], ['experts.id'], name=op.f('fk_review_tasks_expert_id_experts')),
    sa.ForeignKeyConstraint(['review_id'], ['reviews.review_id'], name=op.f('fk_review_tasks_review_id_reviews')),
    sa.PrimaryKeyConstraint('task_id', name=op.f('pk_review_tasks'))
    )
    op.create_index('ix_review_tasks_expert_status', 'review_tasks', ['expert_id', 'status'], unique=False)
    op.create_index(op.f('ix_review_tasks_review_id'), 'review_tasks', ['review_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_review_tasks_review_id'), table_name='review_tasks')
    op.drop_index('ix_review_tasks_expert_status', table_name='review_tasks')
    op.drop_table('review_tasks')
    op.drop_index(op.f('ix_experts_affiliation_organisation_id'), table_name='experts')
    op.drop_table('experts')
    op.drop_index(op.f('ix_reviews_case_id'), table_name='reviews')
    op.drop_index(op.f('ix_reviews_applicant_organisation_id'), table_name='reviews')
    op.drop_table('reviews')
