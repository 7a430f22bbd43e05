"""ledger in PostgreSQL functions: a trade is one statement (one round trip), locks held only inside it;
no foreign keys to rows every trade shares (exchange, its user, a series' project)

Revision ID: 0015
Revises: 0010

The ledger's moves run inside PostgreSQL: `ledger_settle_trade` finds both accounts, claims the
trade reference, locks the accounts in ascending id order, checks them (Art. 33), picks and splits
blocks, moves them, records the movements and the trade's answer, all in one statement. Called outside
an explicit transaction, the accounts' locks are held only while that statement runs, not across
round trips. Cancellations and freezes use the same pieces (`ledger_lock`, `ledger_check_may_move`,
`ledger_move`) from Python.

A refusal is raised as SQLSTATE TPH01 with the problem (status, field, rule, message) as JSON in
DETAIL; store/ledger.py turns it into domain.rules.Refusal. The statement is rolled back with it, so
a refused trade leaves nothing behind (its claimed reference included).
"""
from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0010"
branch_labels = None
depends_on = None

FUNCTIONS = r"""
CREATE FUNCTION ledger_refuse(p_status int, p_field text, p_rule text, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'TPH01', MESSAGE = p_rule,
        DETAIL = json_build_object('status', p_status, 'field', p_field, 'rule', p_rule, 'message', p_message)::text;
END $$;

-- A block as people read it: first serial `..` last number (domain/serials.py serial_range).
CREATE FUNCTION ledger_range_text(p_prefix text, p_start bigint, p_end bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_prefix || '-' || lpad(p_start::text, 9, '0') || '..' || lpad(p_end::text, 9, '0')
$$;

-- Ranges sorted by series and start, adjacent ones merged, as text.
CREATE FUNCTION ledger_merged_ranges(p_prefixes text[], p_starts bigint[], p_ends bigint[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    r record;
    cur_p text;
    cur_s bigint;
    cur_e bigint;
    out_ text[] := '{}';
BEGIN
    FOR r IN SELECT u.p, u.s, u.e FROM unnest(p_prefixes, p_starts, p_ends) u(p, s, e)
             ORDER BY u.p COLLATE "C", u.s LOOP
        IF cur_p = r.p AND cur_e + 1 = r.s THEN
            cur_e := r.e;
        ELSE
            IF cur_p IS NOT NULL THEN
                out_ := out_ || ledger_range_text(cur_p, cur_s, cur_e);
            END IF;
            cur_p := r.p; cur_s := r.s; cur_e := r.e;
        END IF;
    END LOOP;
    IF cur_p IS NOT NULL THEN
        out_ := out_ || ledger_range_text(cur_p, cur_s, cur_e);
    END IF;
    RETURN out_;
END $$;

-- The account of that number, or NULL; an individual's (TPH-P-{user id:08d}) is opened on first use.
CREATE FUNCTION ledger_find_account(p_number text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    found bigint;
BEGIN
    SELECT id INTO found FROM institutional_accounts WHERE account_number = p_number;
    IF found IS NULL AND p_number ~ '^TPH-P-[0-9]{8}$' THEN
        INSERT INTO institutional_accounts (kind, user_id, account_number)
        SELECT 'personal', u.id, p_number FROM users u
        WHERE u.id = substr(p_number, 7)::bigint AND u.role = 'individual' AND u.active
        ON CONFLICT DO NOTHING
        RETURNING id INTO found;
        IF found IS NULL THEN  -- opened concurrently, or no such individual
            SELECT id INTO found FROM institutional_accounts WHERE account_number = p_number;
        END IF;
    END IF;
    RETURN found;
END $$;

-- Row locks in ascending id order, the one order every ledger transaction uses: accounts whose
-- blocks change get FOR NO KEY UPDATE, accounts only checked (a buyer) FOR SHARE. Neither conflicts
-- with the KEY SHARE lock that inserting a row referring to the account takes.
CREATE FUNCTION ledger_lock(p_writes bigint[], p_reads bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    a bigint;
BEGIN
    FOR a IN SELECT DISTINCT x FROM unnest(p_writes || p_reads) x ORDER BY x LOOP
        IF a = ANY (p_writes) THEN
            PERFORM 1 FROM institutional_accounts WHERE id = a FOR NO KEY UPDATE;
        ELSE
            PERFORM 1 FROM institutional_accounts WHERE id = a FOR SHARE;
        END IF;
    END LOOP;
END $$;

-- Art. 33: a frozen account, or a suspended or terminated participant, can neither trade nor cancel.
-- Read under the lock just taken (each statement of a function sees what committed before it).
CREATE FUNCTION ledger_check_may_move(p_account bigint, p_field text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    a record;
BEGIN
    SELECT acc.account_number, acc.frozen_at, acc.frozen_reason, acc.organisation_id, o.status, u.active
    INTO a
    FROM institutional_accounts acc
    LEFT JOIN organisations o ON o.id = acc.organisation_id
    LEFT JOIN users u ON u.id = acc.user_id
    WHERE acc.id = p_account;
    IF a.frozen_at IS NOT NULL THEN
        PERFORM ledger_refuse(409, p_field, 'art33.account_frozen',
            format('account %s is frozen: %s / 账户已冻结', a.account_number, coalesce(a.frozen_reason, 'None')));
    END IF;
    IF a.organisation_id IS NOT NULL THEN
        IF a.status <> 'active' THEN
            PERFORM ledger_refuse(409, p_field, 'art33.participant_' || a.status,
                format('participant of account %s is %s (Art. 33) / 该参与主体已被暂停或终止服务和交易',
                       a.account_number, a.status));
        END IF;
    ELSIF a.active IS NOT TRUE THEN
        PERFORM ledger_refuse(409, p_field, 'art33.participant_inactive',
            format('the holder of account %s is deactivated / 账户持有人已停用', a.account_number));
    END IF;
END $$;

-- Take units from p_from in state p_need and give them to p_to in state p_state, under the
-- accounts' locks the caller holds. What is taken: the reserved blocks of a cancellation
-- (p_of_cancellation); or explicit serial ranges, each wholly held in p_need; or a quantity, oldest
-- vintage, then series, then serial first (optionally one series or vintage). A block taken in part is
-- split: it keeps its id and shrinks to the part taken, then the rest is inserted with the same
-- serials, so nothing overlaps at any moment and nothing is renumbered. One movement per part.
-- Returns the parts moved, in the order taken; refuses naming the rule when they are not there.
CREATE FUNCTION ledger_move(
    p_from bigint, p_need text, p_field text,
    p_quantity bigint, p_series text, p_vintage int,
    p_prefixes text[], p_starts bigint[], p_ends bigint[], p_of_cancellation bigint,
    p_kind text, p_at timestamptz, p_to bigint, p_state text, p_cancellation bigint,
    p_trade bigint, p_reason text, p_actor bigint, p_movement_cancellation bigint)
RETURNS TABLE (moved_prefix text, moved_start bigint, moved_end bigint)
LANGUAGE plpgsql AS $$
DECLARE
    pp text[] := '{}';
    ps bigint[] := '{}';
    pe bigint[] := '{}';
    rp text[];
    rs bigint[];
    re bigint[];
    b unit_blocks%ROWTYPE;
    k int;
    next_ bigint;
    taken bigint := 0;
    n bigint;
    usable bigint;
    frozen_ bigint;
    reserved_ bigint;
    detail text;
    rule text;
BEGIN
    IF p_of_cancellation IS NOT NULL THEN
        SELECT coalesce(array_agg(ub.serial_prefix ORDER BY ub.serial_prefix, ub.serial_start), '{}'),
               coalesce(array_agg(ub.serial_start ORDER BY ub.serial_prefix, ub.serial_start), '{}'),
               coalesce(array_agg(ub.serial_end ORDER BY ub.serial_prefix, ub.serial_start), '{}')
        INTO pp, ps, pe
        FROM unit_blocks ub WHERE ub.cancellation_id = p_of_cancellation AND ub.state = 'reserved';
    ELSIF cardinality(p_prefixes) > 0 THEN
        SELECT array_agg(u.p ORDER BY u.p COLLATE "C", u.s), array_agg(u.s ORDER BY u.p COLLATE "C", u.s),
               array_agg(u.e ORDER BY u.p COLLATE "C", u.s)
        INTO rp, rs, re FROM unnest(p_prefixes, p_starts, p_ends) u(p, s, e);
        FOR k IN 1 .. cardinality(rp) - 1 LOOP
            IF rp[k] = rp[k + 1] AND rs[k + 1] <= re[k] THEN
                PERFORM ledger_refuse(422, p_field, 'ledger.ranges_overlap',
                    format('serial ranges %s and %s overlap', ledger_range_text(rp[k], rs[k], re[k]),
                           ledger_range_text(rp[k + 1], rs[k + 1], re[k + 1])));
            END IF;
        END LOOP;
        FOR k IN 1 .. cardinality(rp) LOOP
            next_ := rs[k];
            FOR b IN SELECT * FROM unit_blocks ub WHERE ub.serial_prefix = rp[k]
                     AND int8range(ub.serial_start, ub.serial_end, '[]') && int8range(rs[k], re[k], '[]')
                     ORDER BY ub.serial_start LOOP
                EXIT WHEN b.serial_start > next_ OR b.account_id <> p_from;
                IF b.state <> p_need THEN
                    PERFORM ledger_refuse(409, p_field,
                        CASE b.state WHEN 'frozen' THEN 'art33.units_frozen' WHEN 'reserved' THEN 'ledger.units_reserved'
                                     WHEN 'retired' THEN 'art29.units_retired' ELSE 'ledger.units_not_usable' END,
                        format('serials in %s are %s, not %s / 序列号状态不允许此操作',
                               ledger_range_text(rp[k], rs[k], re[k]), b.state, p_need));
                END IF;
                pp := pp || rp[k]; ps := ps || next_; pe := pe || least(b.serial_end, re[k]);
                next_ := b.serial_end + 1;
                EXIT WHEN next_ > re[k];
            END LOOP;
            IF next_ <= re[k] THEN
                PERFORM ledger_refuse(409, p_field, 'ledger.serials_not_held',
                    format('serials in %s are not all held by this account / 该账户未持有全部序列号',
                           ledger_range_text(rp[k], rs[k], re[k])));
            END IF;
        END LOOP;
    ELSE
        -- In the order of ix_unit_blocks_pick: the first blocks are read and no more.
        FOR b IN SELECT * FROM unit_blocks ub WHERE ub.account_id = p_from AND ub.state = p_need
                 AND (p_series IS NULL OR ub.serial_prefix = p_series) AND (p_vintage IS NULL OR ub.vintage = p_vintage)
                 ORDER BY ub.account_id, ub.state, ub.vintage, ub.serial_prefix, ub.serial_start LOOP
            n := least(p_quantity - taken, b.serial_end - b.serial_start + 1);
            pp := pp || b.serial_prefix; ps := ps || b.serial_start; pe := pe || (b.serial_start + n - 1);
            taken := taken + n;
            EXIT WHEN taken >= p_quantity;
        END LOOP;
        IF taken < p_quantity THEN
            SELECT coalesce(string_agg(c.state || ' ' || c.n, ', ' ORDER BY c.state COLLATE "C"), 'none'),
                   coalesce(max(c.n) FILTER (WHERE c.state = p_need), 0),
                   coalesce(max(c.n) FILTER (WHERE c.state = 'frozen'), 0),
                   coalesce(max(c.n) FILTER (WHERE c.state = 'reserved'), 0)
            INTO detail, usable, frozen_, reserved_
            FROM (SELECT ub.state, sum(ub.serial_end - ub.serial_start + 1) AS n FROM unit_blocks ub
                  WHERE ub.account_id = p_from AND (p_series IS NULL OR ub.serial_prefix = p_series)
                    AND (p_vintage IS NULL OR ub.vintage = p_vintage) GROUP BY ub.state) c;
            rule := 'ledger.insufficient_units';
            IF usable + frozen_ >= p_quantity AND frozen_ > 0 THEN
                rule := 'art33.units_frozen';
            ELSIF usable + reserved_ >= p_quantity AND reserved_ > 0 THEN
                rule := 'ledger.units_reserved';
            END IF;
            PERFORM ledger_refuse(409, p_field, rule,
                format('%s t asked, %s t %s and usable (account: %s) / 可用减排量不足', p_quantity, usable, p_need, detail));
        END IF;
    END IF;

    FOR k IN 1 .. cardinality(pp) LOOP
        -- The block holding the part now (an earlier part of the same block may have split it).
        SELECT * INTO b FROM unit_blocks ub WHERE ub.serial_prefix = pp[k] AND ub.serial_start <= ps[k]
        ORDER BY ub.serial_start DESC LIMIT 1;
        UPDATE unit_blocks SET serial_start = ps[k], serial_end = pe[k], account_id = p_to, state = p_state,
                               cancellation_id = p_cancellation
        WHERE id = b.id;
        IF b.serial_start < ps[k] OR pe[k] < b.serial_end THEN
            INSERT INTO unit_blocks (account_id, serial_prefix, serial_start, serial_end, state, issuance_id, project_id,
                                     vintage, not_declarable_elsewhere, created_at, cancellation_id)
            SELECT b.account_id, b.serial_prefix, v.s, v.e, b.state, b.issuance_id, b.project_id, b.vintage,
                   b.not_declarable_elsewhere, b.created_at, b.cancellation_id
            FROM (VALUES (b.serial_start, ps[k] - 1), (pe[k] + 1, b.serial_end)) v(s, e) WHERE v.s <= v.e;
        END IF;
    END LOOP;
    INSERT INTO ledger_movements (occurred_at, kind, serial_prefix, serial_start, serial_end, from_account_id,
                                  to_account_id, trade_id, cancellation_id, reason, actor_user_id)
    SELECT p_at, p_kind, u.p, u.s, u.e, p_from, p_to, p_trade, coalesce(p_movement_cancellation, p_cancellation),
           p_reason, p_actor
    FROM unnest(pp, ps, pe) WITH ORDINALITY u(p, s, e, i) ORDER BY u.i;
    RETURN QUERY SELECT u.p, u.s, u.e FROM unnest(pp, ps, pe) WITH ORDINALITY u(p, s, e, i) ORDER BY u.i;
END $$;

-- A trade the exchange settled (Art. 27), whole, in one statement. The reference is claimed before
-- anything moves: a concurrent duplicate waits, then answers the first result (same content) or is
-- refused (other content). p_result carries the answer's fields known before the move; the function adds
-- the trade id and the serial ranges moved and keeps the answer with the trade.
-- Returns {"replayed": bool, "result": the answer}.
CREATE FUNCTION ledger_settle_trade(
    p_exchange bigint, p_ref text, p_hash text, p_seller text, p_buyer text, p_quantity bigint,
    p_series text, p_vintage int, p_prefixes text[], p_starts bigint[], p_ends bigint[],
    p_settled_at timestamptz, p_recorded_at timestamptz, p_actor bigint, p_result jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    seller bigint;
    buyer bigint;
    claimed bigint;
    first_ record;
    ranges text[];
    answer jsonb;
BEGIN
    seller := ledger_find_account(p_seller);
    IF seller IS NULL THEN
        PERFORM ledger_refuse(422, 'seller_account', 'ledger.unknown_account',
                              format('account %s does not exist / 账户不存在', p_seller));
    END IF;
    buyer := ledger_find_account(p_buyer);
    IF buyer IS NULL THEN
        PERFORM ledger_refuse(422, 'buyer_account', 'ledger.unknown_account',
                              format('account %s does not exist / 账户不存在', p_buyer));
    END IF;
    IF seller = buyer THEN
        PERFORM ledger_refuse(422, 'buyer_account', 'ledger.same_account', 'seller and buyer are the same account');
    END IF;
    -- Locks first: the claim's foreign keys to both accounts then find rows this transaction holds
    -- (a KEY SHARE lock by another transaction would make PostgreSQL create a MultiXact per trade). A
    -- concurrent duplicate waits here, then finds the claim below.
    PERFORM ledger_lock(ARRAY[seller], ARRAY[buyer]);
    INSERT INTO trades (exchange_organisation_id, trade_ref, request_hash, seller_account_id, buyer_account_id,
                        quantity, settled_at, recorded_by_user_id, result)
    VALUES (p_exchange, p_ref, p_hash, seller, buyer, p_quantity, coalesce(p_settled_at, p_recorded_at), p_actor, '{}')
    ON CONFLICT (exchange_organisation_id, trade_ref) DO NOTHING
    RETURNING id INTO claimed;
    IF claimed IS NULL THEN
        SELECT t.request_hash, t.result INTO first_ FROM trades t
        WHERE t.exchange_organisation_id = p_exchange AND t.trade_ref = p_ref;
        IF first_.request_hash <> p_hash THEN
            PERFORM ledger_refuse(409, 'trade_ref', 'ledger.trade_ref_reused',
                                  format('trade %s was already recorded with other content / 交易编号已使用', p_ref));
        END IF;
        RETURN jsonb_build_object('replayed', true, 'result', first_.result);
    END IF;
    PERFORM ledger_check_may_move(seller, 'seller_account');
    PERFORM ledger_check_may_move(buyer, 'buyer_account');
    SELECT ledger_merged_ranges(array_agg(m.moved_prefix), array_agg(m.moved_start), array_agg(m.moved_end))
    INTO ranges
    FROM ledger_move(seller, 'held', 'quantity',
                     CASE WHEN cardinality(p_prefixes) > 0 THEN NULL ELSE p_quantity END, p_series, p_vintage,
                     p_prefixes, p_starts, p_ends, NULL,
                     'transferred', p_recorded_at, buyer, 'held', NULL, claimed, NULL, p_actor, NULL) m;
    answer := p_result || jsonb_build_object('trade_id', claimed, 'serial_ranges', to_jsonb(ranges));
    UPDATE trades SET result = answer WHERE id = claimed;
    RETURN jsonb_build_object('replayed', false, 'result', answer);
END $$;
"""

DROP = """
DROP FUNCTION ledger_settle_trade(bigint, text, text, text, text, bigint, text, int, text[], bigint[], bigint[],
                                  timestamptz, timestamptz, bigint, jsonb);
DROP FUNCTION ledger_move(bigint, text, text, bigint, text, int, text[], bigint[], bigint[], bigint, text, timestamptz,
                          bigint, text, bigint, bigint, text, bigint, bigint);
DROP FUNCTION ledger_check_may_move(bigint, text);
DROP FUNCTION ledger_lock(bigint[], bigint[]);
DROP FUNCTION ledger_find_account(text);
DROP FUNCTION ledger_merged_ranges(text[], bigint[], bigint[]);
DROP FUNCTION ledger_range_text(text, bigint, bigint);
DROP FUNCTION ledger_refuse(int, text, text, text);
"""


# Foreign keys every trade would check against rows every concurrent trade checks too: the exchange's
# organisation and user, and the project of a series. A foreign key check takes a KEY SHARE lock on
# the referenced row; with 32 trades in flight each new locker makes PostgreSQL build a new MultiXact
# of all the others, and this alone doubled PostgreSQL's CPU per trade (7.2 -> 3.4 ms measured). The
# values are never input: they are the caller's own ids (authenticated) and a project copied from the
# block being split (unit_blocks.issuance_id keeps its key, and an issuance names its project), and none
# of these rows is ever deleted (users and organisations are deactivated or suspended). Tests check
# that no ledger row names a missing one (tests/ledger_helpers.check_invariants).
HOT_PARENT_KEYS = [
    ("unit_blocks", "fk_unit_blocks_project_id_projects", "project_id", "projects"),
    ("trades", "fk_trades_exchange_organisation_id_organisations", "exchange_organisation_id", "organisations"),
    ("trades", "fk_trades_recorded_by_user_id_users", "recorded_by_user_id", "users"),
    ("ledger_movements", "fk_ledger_movements_actor_user_id_users", "actor_user_id", "users"),
]


def upgrade() -> None:
    for table, name, _, _ in HOT_PARENT_KEYS:
        op.drop_constraint(name, table, type_="foreignkey")
    # Picking by quantity reads an account's blocks of a state in this order and stops when it has
    # enough; the old (account_id, state) index is its prefix.
    op.drop_index("ix_unit_blocks_account_state", table_name="unit_blocks")
    op.create_index("ix_unit_blocks_pick", "unit_blocks", ["account_id", "state", "vintage", "serial_prefix",
                                                           "serial_start"])
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute(DROP)
    op.drop_index("ix_unit_blocks_pick", table_name="unit_blocks")
    op.create_index("ix_unit_blocks_account_state", "unit_blocks", ["account_id", "state"])
    for table, name, column, parent in HOT_PARENT_KEYS:
        op.create_foreign_key(name, table, parent, [column], ["id"])
