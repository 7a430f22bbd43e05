"""working-day calendar (seeded with the official 2025 and 2026 lists) and policy parameter changes

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The State Council notices as listed in reference/cn-working-days.md (cross-checked against the
# chinese-calendar package in tests): (day, kind, holiday). Kept literal here so this migration
# never changes with application code.
SEED = {
    2025: ("国务院办公厅关于2025年部分节假日安排的通知 (2024-11-12)", [
        ("01-01", "off", "New Year"),
        ("01-26", "work", "Spring Festival"),
        *[(d, "off", "Spring Festival") for d in ("01-28", "01-29", "01-30", "01-31", "02-03", "02-04")],
        ("02-08", "work", "Spring Festival"),
        ("04-04", "off", "Qingming"),
        ("04-27", "work", "Labour Day"),
        *[(d, "off", "Labour Day") for d in ("05-01", "05-02", "05-05")],
        ("06-02", "off", "Dragon Boat"),
        ("09-28", "work", "National Day and Mid-Autumn"),
        *[(d, "off", "National Day and Mid-Autumn")
          for d in ("10-01", "10-02", "10-03", "10-06", "10-07", "10-08")],
        ("10-11", "work", "National Day and Mid-Autumn"),
    ]),
    2026: ("国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04)", [
        ("01-01", "off", "New Year"),
        ("01-02", "off", "New Year"),
        ("01-04", "work", "New Year"),
        ("02-14", "work", "Spring Festival"),
        *[(d, "off", "Spring Festival") for d in ("02-16", "02-17", "02-18", "02-19", "02-20", "02-23")],
        ("02-28", "work", "Spring Festival"),
        ("04-06", "off", "Qingming"),
        *[(d, "off", "Labour Day") for d in ("05-01", "05-04", "05-05")],
        ("05-09", "work", "Labour Day"),
        ("06-19", "off", "Dragon Boat"),
        ("09-20", "work", "National Day"),
        ("09-25", "off", "Mid-Autumn"),
        *[(d, "off", "National Day") for d in ("10-01", "10-02", "10-05", "10-06", "10-07")],
        ("10-10", "work", "National Day"),
    ]),
}
KINDS = {"off": "day_off", "work": "working_day"}


def upgrade() -> None:
    years = op.create_table('calendar_years',
    sa.Column('year', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('notice', sa.Text(), nullable=True),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('loaded_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_calendar_years'))
    )
    days = op.create_table('calendar_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('year', sa.SmallInteger(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('holiday', sa.String(length=100), nullable=False),
    sa.CheckConstraint("kind IN ('day_off', 'working_day')", name=op.f('ck_calendar_days_kind')),
    sa.ForeignKeyConstraint(['year'], ['calendar_years.year'], name=op.f('fk_calendar_days_year_calendar_years'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_calendar_days'))
    )
    op.create_index(op.f('ix_calendar_days_year'), 'calendar_days', ['year'], unique=False)
    op.create_table('policy_changes',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('parameter', sa.String(length=60), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['changed_by'], ['users.id'], name=op.f('fk_policy_changes_changed_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_changes'))
    )
    op.create_index(op.f('ix_policy_changes_changed_by'), 'policy_changes', ['changed_by'], unique=False)
    op.create_index('ix_policy_changes_parameter_effective_from', 'policy_changes', ['parameter', 'effective_from'], unique=False)

    loaded_at = datetime.now(timezone.utc)
    op.bulk_insert(years, [
        {"year": y, "notice": notice, "loaded_at": loaded_at, "loaded_by": "migration 0002"}
        for y, (notice, _) in SEED.items()
    ])
    op.bulk_insert(days, [
        {"day": date.fromisoformat(f"{y}-{md}"), "year": y, "kind": KINDS[kind], "holiday": holiday}
        for y, (_, entries) in SEED.items() for md, kind, holiday in entries
    ])


def downgrade() -> None:
    op.drop_index('ix_policy_changes_parameter_effective_from', table_name='policy_changes')
    op.drop_index(op.f('ix_policy_changes_changed_by'), table_name='policy_changes')
    op.drop_table('policy_changes')
    op.drop_index(op.f('ix_calendar_days_year'), table_name='calendar_days')
    op.drop_table('calendar_days')
    op.drop_table('calendar_years')
