"""disclosure: public_versions (what the public-read cache compares before serving) and the triggers
that bump it in the writing transaction; scenario annual-neutrality obligations (Art. 17)

Revision ID: 0017
Revises: 0009

Every table a public read (Art. 30, 31) is built from gets a deferred trigger after INSERT, UPDATE and
DELETE (and one after TRUNCATE). At the commit of the writing transaction it adds one to a counter row of
`public_versions` (once per transaction and counter; the ledger's tables share the counter "ledger"), so
the new count becomes visible exactly when the write does: a reader that reads the counters first
and the data after never caches data older than the counters it files them under (api/public.py).

The counter of a table is spread over SHARDS rows (chosen by the writing backend's pid) and read as
their sum: the sum only grows and any commit makes it grow, so equal sums mean the same committed
writes, while concurrent writers (ledger trades, many a second) mostly lock different rows rather
than all queueing behind one.

The bump also notifies channel `tanpuhui_public` with the counter's name (at commit, like the count), so that
API processes can serve cached public answers with no version query at all (store/public_versions.py).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

SHARDS = 8
# What the public reads are made of (api/public.py names the counters each read depends on): counter name
# by table. The ledger's tables share one counter, "ledger": a trade writes several of them in one
# statement, and one bump per transaction (below) keeps that to one counter row per trade.
LEDGER = ("issuances", "unit_blocks", "trades", "ledger_movements", "cancellations", "certificates",
          "institutional_accounts")
TRACKED = {
    **{t: t for t in ("organisations", "experts", "methodologies", "methodology_versions", "methodology_behaviours",
                      "scenarios", "scenario_labels", "projects", "issuance_cases", "publicity_notices",
                      "publicity_objections", "documents", "neutrality_obligations", "calendar_years",
                      "calendar_days")},
    **{t: "ledger" for t in LEDGER},
}


def upgrade() -> None:
    op.create_table(
        "public_versions",
        sa.Column("table_name", sa.String(63), primary_key=True),
        sa.Column("shard", sa.SmallInteger, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "neutrality_obligations",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("scenario_id", sa.BigInteger, sa.ForeignKey("scenarios.id"), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("case_id", sa.String(100), nullable=False, index=True),  # one case, a row per year
        sa.Column("organisation_id", sa.BigInteger, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("report_due", sa.Date, nullable=False),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("emissions_tco2e", sa.BigInteger),
        sa.Column("emissions_document_id", sa.BigInteger, sa.ForeignKey("documents.id")),
        # The cancellations that count are those with purpose annual_neutrality naming this scenario
        # and year (cancellations.scenario_id, neutrality_year): that pair is the link to this row.
        sa.Column("reported_at", sa.DateTime(timezone=True)),
        sa.Column("reported_late", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("cancelled_tonnes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("met_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(20), nullable=False, server_default="open"),
        # A day has passed with the report or the offset missing: set by the case (its clock), not the reader's.
        sa.Column("overdue", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("extension_reason", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("scenario_id", "year", name="uq_neutrality_scenario_year"),
        sa.CheckConstraint("emissions_tco2e IS NULL OR emissions_tco2e >= 0", name="ck_neutrality_emissions"),
    )
    # The counter named by the trigger's argument goes up once per writing transaction, at its commit:
    # the triggers are deferred constraint triggers, so the counter row is the last lock a transaction
    # takes (nothing is waited for while holding it, hence no deadlock with the ledger's account locks),
    # and later rows of the same transaction find the transaction-local setting and skip.
    op.execute(f"""
        CREATE FUNCTION public_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            counter text := TG_ARGV[0];
            xact text := pg_current_xact_id()::text;
        BEGIN
            IF current_setting('tanpuhui.bumped_' || counter, true) IS NOT DISTINCT FROM xact THEN
                RETURN NULL;
            END IF;
            PERFORM set_config('tanpuhui.bumped_' || counter, xact, true);
            INSERT INTO public_versions AS v (table_name, shard, version, changed_at)
            VALUES (counter, pg_backend_pid() % {SHARDS}, 1, now())
            ON CONFLICT (table_name, shard)
            DO UPDATE SET version = v.version + 1, changed_at = greatest(v.changed_at, excluded.changed_at);
            -- Delivered to every LISTEN tanpuhui_public when this transaction commits: each API process
            -- raises its in-memory copy of the counters and serves cached answers without asking
            -- (store/public_versions.py).
            PERFORM pg_notify('tanpuhui_public', counter);
            RETURN NULL;
        END $$;
    """)
    for table, counter in TRACKED.items():
        op.execute(f"CREATE CONSTRAINT TRIGGER public_version_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public_version_bump('{counter}')")
        # TRUNCATE too (statement-level: constraint triggers are per row): emptying a table must not leave
        # an old answer served.
        op.execute(f"CREATE TRIGGER public_version_{table}_truncate AFTER TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION public_version_bump('{counter}')")


def downgrade() -> None:
    for table in TRACKED:
        op.execute(f"DROP TRIGGER IF EXISTS public_version_{table} ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS public_version_{table}_truncate ON {table}")
    op.execute("DROP FUNCTION IF EXISTS public_version_bump()")
    op.drop_table("neutrality_obligations")
    op.drop_table("public_versions")
