"""ledger: accounts of either kind, block states, movements, trades, cancellations, certificates

Revision ID: 0011
Revises: 0013
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    # Accounts: organisations' and individuals'.
    op.add_column("institutional_accounts", sa.Column("kind", sa.String(length=20), server_default="institutional",
                                                      nullable=False))
    op.add_column("institutional_accounts", sa.Column("user_id", sa.BigInteger(), nullable=True))
    op.add_column("institutional_accounts", sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("institutional_accounts", sa.Column("frozen_reason", sa.Text(), nullable=True))
    op.alter_column("institutional_accounts", "organisation_id", existing_type=sa.BigInteger(), nullable=True)
    op.create_unique_constraint(op.f("uq_institutional_accounts_user_id"), "institutional_accounts", ["user_id"])
    op.create_foreign_key(op.f("fk_institutional_accounts_user_id_users"), "institutional_accounts", "users",
                          ["user_id"], ["id"])
    op.create_check_constraint(
        op.f("ck_institutional_accounts_owner"), "institutional_accounts",
        "(kind = 'institutional' AND organisation_id IS NOT NULL AND user_id IS NULL) OR "
        "(kind = 'personal' AND user_id IS NOT NULL AND organisation_id IS NULL)")

    op.create_table(
        "trades",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("exchange_organisation_id", sa.BigInteger(), nullable=False),
        sa.Column("trade_ref", sa.String(length=100), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("seller_account_id", sa.BigInteger(), nullable=False),
        sa.Column("buyer_account_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_user_id", sa.BigInteger(), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_trades_quantity")),
        sa.ForeignKeyConstraint(["buyer_account_id"], ["institutional_accounts.id"],
                                name=op.f("fk_trades_buyer_account_id_institutional_accounts")),
        sa.ForeignKeyConstraint(["exchange_organisation_id"], ["organisations.id"],
                                name=op.f("fk_trades_exchange_organisation_id_organisations")),
        sa.ForeignKeyConstraint(["recorded_by_user_id"], ["users.id"], name=op.f("fk_trades_recorded_by_user_id_users")),
        sa.ForeignKeyConstraint(["seller_account_id"], ["institutional_accounts.id"],
                                name=op.f("fk_trades_seller_account_id_institutional_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trades")),
        sa.UniqueConstraint("exchange_organisation_id", "trade_ref", name="uq_trades_exchange_ref"),
    )
    op.create_index(op.f("ix_trades_buyer_account_id"), "trades", ["buyer_account_id"], unique=False)
    op.create_index(op.f("ix_trades_seller_account_id"), "trades", ["seller_account_id"], unique=False)

    op.create_table(
        "cancellations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("applicant_user_id", sa.BigInteger(), nullable=False),
        sa.Column("request_key", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=1), server_default="t", nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("purpose_text", sa.Text(), nullable=True),
        sa.Column("scenario_id", sa.BigInteger(), nullable=True),
        sa.Column("neutrality_year", sa.Integer(), nullable=True),
        sa.Column("beneficiary_name", sa.String(length=200), nullable=False),
        sa.Column("beneficiary_anonymous", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="reserved", nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("purpose IN ('event', 'annual_neutrality', 'donation', 'other')",
                           name=op.f("ck_cancellations_purpose")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_cancellations_quantity")),
        sa.CheckConstraint("status IN ('reserved', 'confirmed', 'rejected', 'withdrawn')",
                           name=op.f("ck_cancellations_status")),
        sa.CheckConstraint("unit IN ('t', 'g')", name=op.f("ck_cancellations_unit")),
        sa.ForeignKeyConstraint(["account_id"], ["institutional_accounts.id"],
                                name=op.f("fk_cancellations_account_id_institutional_accounts")),
        sa.ForeignKeyConstraint(["applicant_user_id"], ["users.id"], name=op.f("fk_cancellations_applicant_user_id_users")),
        sa.ForeignKeyConstraint(["decided_by_user_id"], ["users.id"],
                                name=op.f("fk_cancellations_decided_by_user_id_users")),
        sa.ForeignKeyConstraint(["scenario_id"], ["scenarios.id"], name=op.f("fk_cancellations_scenario_id_scenarios")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cancellations")),
        sa.UniqueConstraint("applicant_user_id", "request_key", name="uq_cancellations_request"),
    )
    op.create_index(op.f("ix_cancellations_account_id"), "cancellations", ["account_id"], unique=False)
    op.create_index(op.f("ix_cancellations_scenario_id"), "cancellations", ["scenario_id"], unique=False)

    op.create_table(
        "certificate_counters",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_certificate_counters")),
    )
    op.create_table(
        "certificates",
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("cancellation_id", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("serial_ranges", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["cancellation_id"], ["cancellations.id"],
                                name=op.f("fk_certificates_cancellation_id_cancellations")),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_certificates")),
        sa.UniqueConstraint("cancellation_id", name=op.f("uq_certificates_cancellation_id")),
        sa.UniqueConstraint("year", "seq", name="uq_certificates_year_seq"),
    )

    # Blocks: the four states, their cancellation, and no overlap within a series.
    op.execute("UPDATE unit_blocks SET state = 'held' WHERE state = 'active'")
    op.add_column("unit_blocks", sa.Column("cancellation_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(op.f("fk_unit_blocks_cancellation_id_cancellations"), "unit_blocks", "cancellations",
                          ["cancellation_id"], ["id"])
    op.create_index(op.f("ix_unit_blocks_cancellation_id"), "unit_blocks", ["cancellation_id"], unique=False)
    op.drop_index(op.f("ix_unit_blocks_account_id"), table_name="unit_blocks")
    op.create_index("ix_unit_blocks_account_state", "unit_blocks", ["account_id", "state"], unique=False)
    op.create_check_constraint(op.f("ck_unit_blocks_state"), "unit_blocks",
                               "state IN ('held', 'reserved', 'frozen', 'retired')")
    op.create_check_constraint(op.f("ck_unit_blocks_cancellation"), "unit_blocks",
                               "(state IN ('reserved', 'retired')) = (cancellation_id IS NOT NULL)")
    op.execute("ALTER TABLE unit_blocks ADD CONSTRAINT ex_unit_blocks_no_overlap EXCLUDE USING gist "
               "(serial_prefix WITH =, int8range(serial_start, serial_end, '[]') WITH &&)")

    op.create_table(
        "ledger_movements",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("serial_prefix", sa.String(length=120), nullable=True),
        sa.Column("serial_start", sa.BigInteger(), nullable=True),
        sa.Column("serial_end", sa.BigInteger(), nullable=True),
        sa.Column("from_account_id", sa.BigInteger(), nullable=True),
        sa.Column("to_account_id", sa.BigInteger(), nullable=True),
        sa.Column("issuance_id", sa.BigInteger(), nullable=True),
        sa.Column("trade_id", sa.BigInteger(), nullable=True),
        sa.Column("cancellation_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("(serial_prefix IS NULL) = (kind IN ('account_frozen', 'account_unfrozen'))",
                           name=op.f("ck_ledger_movements_range_or_account")),
        sa.CheckConstraint("kind IN ('issued', 'transferred', 'reserved', 'released', 'retired', 'frozen', "
                           "'unfrozen', 'account_frozen', 'account_unfrozen')", name=op.f("ck_ledger_movements_kind")),
        sa.CheckConstraint("serial_end >= serial_start", name=op.f("ck_ledger_movements_range")),
        sa.ForeignKeyConstraint(["actor_user_id"], ["users.id"], name=op.f("fk_ledger_movements_actor_user_id_users")),
        sa.ForeignKeyConstraint(["cancellation_id"], ["cancellations.id"],
                                name=op.f("fk_ledger_movements_cancellation_id_cancellations")),
        sa.ForeignKeyConstraint(["from_account_id"], ["institutional_accounts.id"],
                                name=op.f("fk_ledger_movements_from_account_id_institutional_accounts")),
        sa.ForeignKeyConstraint(["issuance_id"], ["issuances.id"], name=op.f("fk_ledger_movements_issuance_id_issuances")),
        sa.ForeignKeyConstraint(["to_account_id"], ["institutional_accounts.id"],
                                name=op.f("fk_ledger_movements_to_account_id_institutional_accounts")),
        sa.ForeignKeyConstraint(["trade_id"], ["trades.id"], name=op.f("fk_ledger_movements_trade_id_trades")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_movements")),
    )
    op.create_index(op.f("ix_ledger_movements_cancellation_id"), "ledger_movements", ["cancellation_id"], unique=False)
    op.create_index(op.f("ix_ledger_movements_trade_id"), "ledger_movements", ["trade_id"], unique=False)
    op.create_index("ix_ledger_movements_from", "ledger_movements", ["from_account_id", "id"], unique=False)
    op.create_index("ix_ledger_movements_to", "ledger_movements", ["to_account_id", "id"], unique=False)
    op.execute("CREATE INDEX ix_ledger_movements_serials ON ledger_movements USING gist "
               "(serial_prefix, int8range(serial_start, serial_end, '[]'))")
    # Blocks issued before the movements existed: their issuance, as it happened.
    op.execute("INSERT INTO ledger_movements (occurred_at, kind, serial_prefix, serial_start, serial_end, "
               "to_account_id, issuance_id, actor_user_id) "
               "SELECT i.issued_at, 'issued', b.serial_prefix, b.serial_start, b.serial_end, b.account_id, i.id, "
               "i.issued_by_user_id FROM unit_blocks b JOIN issuances i ON i.id = b.issuance_id ORDER BY b.id")


def downgrade() -> None:
    op.drop_table("ledger_movements")
    op.execute("ALTER TABLE unit_blocks DROP CONSTRAINT ex_unit_blocks_no_overlap")
    op.drop_constraint(op.f("ck_unit_blocks_cancellation"), "unit_blocks", type_="check")
    op.drop_constraint(op.f("ck_unit_blocks_state"), "unit_blocks", type_="check")
    op.drop_index("ix_unit_blocks_account_state", table_name="unit_blocks")
    op.create_index(op.f("ix_unit_blocks_account_id"), "unit_blocks", ["account_id"], unique=False)
    op.drop_index(op.f("ix_unit_blocks_cancellation_id"), table_name="unit_blocks")
    op.drop_constraint(op.f("fk_unit_blocks_cancellation_id_cancellations"), "unit_blocks", type_="foreignkey")
    op.drop_column("unit_blocks", "cancellation_id")
    op.execute("UPDATE unit_blocks SET state = 'active'")
    op.drop_table("certificates")
    op.drop_table("certificate_counters")
    op.drop_table("cancellations")
    op.drop_table("trades")
    op.drop_constraint(op.f("ck_institutional_accounts_owner"), "institutional_accounts", type_="check")
    op.drop_constraint(op.f("fk_institutional_accounts_user_id_users"), "institutional_accounts", type_="foreignkey")
    op.drop_constraint(op.f("uq_institutional_accounts_user_id"), "institutional_accounts", type_="unique")
    op.execute("DELETE FROM institutional_accounts WHERE kind = 'personal'")
    op.alter_column("institutional_accounts", "organisation_id", existing_type=sa.BigInteger(), nullable=False)
    op.drop_column("institutional_accounts", "frozen_reason")
    op.drop_column("institutional_accounts", "frozen_at")
    op.drop_column("institutional_accounts", "user_id")
    op.drop_column("institutional_accounts", "kind")
