"""Property test of the ledger store: random sequences of issue / transfer (by quantity or by
ranges, splitting blocks) / reserve / release / retire / freeze / unfreeze, checked after every step
against a plain model of who holds each serial in which state, and against the invariants (blocks
cover exactly what was issued, never overlap, replay from the movements)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from domain.rules import Refusal
from domain.roles import Role
from store import ledger
from store.models.ledger import InstitutionalAccount
from tests.ledger_helpers import LEDGER_TABLES, check_invariants, issue_units, later, make_project

ACCOUNTS = 3
PROJECTS = 2


@dataclass
class Model:
    """serial (prefix, number) → (account index, state); cancellations → their serials."""

    units: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict)
    frozen_accounts: set[int] = field(default_factory=set)
    cancellations: dict[int, tuple[int, list[tuple[str, int]]]] = field(default_factory=dict)

    def held(self, account: int) -> list[tuple[str, int]]:
        return sorted(k for k, v in self.units.items() if v == (account, "held"))


issue_op = st.tuples(st.just("issue"), st.integers(0, ACCOUNTS - 1), st.integers(0, PROJECTS - 1), st.integers(1, 9))
transfer_op = st.tuples(st.just("transfer"), st.integers(0, ACCOUNTS - 1), st.integers(0, ACCOUNTS - 1),
                        st.integers(1, 8))
ops = st.one_of(
    issue_op, issue_op, transfer_op, transfer_op,
    st.tuples(st.just("transfer_range"), st.integers(0, ACCOUNTS - 1), st.integers(0, ACCOUNTS - 1),
              st.integers(0, PROJECTS - 1), st.integers(1, 30), st.integers(1, 6)),
    st.tuples(st.just("reserve"), st.integers(0, ACCOUNTS - 1), st.integers(1, 8)),
    st.tuples(st.just("release"), st.integers(0, 20)),
    st.tuples(st.just("retire"), st.integers(0, 20)),
    st.tuples(st.just("freeze_range"), st.integers(0, ACCOUNTS - 1), st.integers(0, PROJECTS - 1),
              st.integers(1, 30), st.integers(1, 4)),
    st.tuples(st.just("unfreeze_range"), st.integers(0, ACCOUNTS - 1), st.integers(0, PROJECTS - 1),
              st.integers(1, 30), st.integers(1, 4)),
    st.tuples(st.just("freeze_account"), st.integers(0, ACCOUNTS - 1)),
    st.tuples(st.just("unfreeze_account"), st.integers(0, ACCOUNTS - 1)),
)


@pytest.fixture
def world(session_factory, make_actor, engine):
    actors = [make_actor(Role.APPLICANT) for _ in range(ACCOUNTS)]
    projects = [make_project(session_factory, actors[0].user.organisation_id, actors[0].id, facility_id=f"FAC-{i}")
                for i in range(PROJECTS)]
    return actors, projects


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(ops, min_size=1, max_size=25))
def test_random_sequences_keep_the_ledger_exact(session_factory, engine, world, steps):
    actors, projects = world
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(LEDGER_TABLES)} CASCADE"))
        conn.execute(text("UPDATE institutional_accounts SET frozen_at = NULL, frozen_reason = NULL"))
    orgs = [a.user.organisation_id for a in actors]
    with session_factory() as s, s.begin():
        accounts = [ledger.ensure_account(s, o) for o in orgs]
    numbers = [a.account_number for a in accounts]
    ids = [a.id for a in accounts]
    index = {a_id: i for i, a_id in enumerate(ids)}
    model = Model()
    prefixes: dict[int, str] = {}
    next_number: dict[str, int] = {}
    issued = 0

    def run(fn, expect_ok: bool) -> object:
        try:
            with session_factory() as s, s.begin():
                out = fn(s)
        except Refusal as exc:
            assert not expect_ok, f"refused but the model allows it: {exc.rule} {exc.message}"
            return None
        assert expect_ok, "accepted but the model refuses it"
        return out

    for step_no, op in enumerate(steps, 1):
        at = later(step_no)
        kind = op[0]
        if kind == "issue":
            _, acc, proj, n = op
            issued += 1
            prefix = issue_units(session_factory, projects[proj], orgs[acc], n, key=f"k-{issued}", at=at)
            prefixes[proj] = prefix
            first = next_number.get(prefix, 1)
            for k in range(first, first + n):
                model.units[(prefix, k)] = (acc, "held")
            next_number[prefix] = first + n
        elif kind in ("transfer", "transfer_range"):
            if kind == "transfer":
                _, frm, to, q = op
                chosen = model.held(frm)[:q]
                ok = len(chosen) == q
                sel = ledger.Selection(quantity=q)
            else:
                _, frm, to, proj, start, length = op
                if proj not in prefixes:
                    continue
                prefix = prefixes[proj]
                chosen = [(prefix, k) for k in range(start, start + length)]
                ok = all(model.units.get(c) == (frm, "held") for c in chosen)
                sel = ledger.Selection(ranges=(ledger.SerialRange(prefix, start, start + length - 1),))
            ok = ok and frm != to and frm not in model.frozen_accounts and to not in model.frozen_accounts
            order = ledger.TradeOrder(exchange_organisation_id=orgs[0], trade_ref=f"t-{step_no}",
                                      seller_account=numbers[frm], buyer_account=numbers[to], selection=sel,
                                      settled_at=at, recorded_at=at, recorded_by_user_id=actors[0].id)
            if run(lambda s: ledger.settle_trade(s, order), ok) is not None:
                for c in chosen:
                    model.units[c] = (to, "held")
        elif kind == "reserve":
            _, acc, q = op
            chosen = model.held(acc)[:q]
            ok = len(chosen) == q and acc not in model.frozen_accounts
            app = ledger.CancellationApplication(
                account_number=numbers[acc], applicant_user_id=actors[acc].id, request_key=f"c-{step_no}",
                selection=ledger.Selection(quantity=q), purpose="donation", beneficiary_name="someone", applied_at=at)
            out = run(lambda s: ledger.apply_for_cancellation(s, app)[0].id, ok)
            if out is not None:
                model.cancellations[out] = (acc, chosen)
                for c in chosen:
                    model.units[c] = (acc, "reserved")
        elif kind in ("release", "retire"):
            pending = sorted(c for c in model.cancellations)
            if not pending:
                continue
            cid = pending[op[1] % len(pending)]
            acc, chosen = model.cancellations[cid]
            if kind == "release":
                run(lambda s: ledger.release_cancellation(s, cid, status="withdrawn", reason=None, at=at,
                                                          actor_user_id=actors[acc].id), True)
                state = "held"
            else:
                ok = acc not in model.frozen_accounts
                if run(lambda s: ledger.confirm_cancellation(s, cid, at=at, year=2026,
                                                              actor_user_id=actors[0].id), ok) is None:
                    continue
                state = "retired"
            del model.cancellations[cid]
            for c in chosen:
                model.units[c] = (acc, state)
        elif kind in ("freeze_range", "unfreeze_range"):
            _, acc, proj, start, length = op
            if proj not in prefixes:
                continue
            prefix = prefixes[proj]
            chosen = [(prefix, k) for k in range(start, start + length)]
            need, becomes = ("held", "frozen") if kind == "freeze_range" else ("frozen", "held")
            ok = all(model.units.get(c) == (acc, need) for c in chosen)
            fn = ledger.freeze if kind == "freeze_range" else ledger.unfreeze
            rng = ledger.SerialRange(prefix, start, start + length - 1)

            def act(s, fn=fn, acc=acc, rng=rng):
                return fn(s, s.get(InstitutionalAccount, ids[acc]), reason="r", at=at, actor_user_id=actors[0].id,
                          ranges=[rng])
            if run(act, ok) is not None:
                for c in chosen:
                    model.units[c] = (acc, becomes)
        elif kind in ("freeze_account", "unfreeze_account"):
            _, acc = op
            fn = ledger.freeze if kind == "freeze_account" else ledger.unfreeze
            run(lambda s, fn=fn, acc=acc: fn(s, s.get(InstitutionalAccount, ids[acc]), reason="r", at=at,
                                             actor_user_id=actors[0].id), True)
            (model.frozen_accounts.add if kind == "freeze_account" else model.frozen_accounts.discard)(acc)

        with session_factory() as s:
            check_invariants(s)
            current = ledger.current_ledger(s)
            seen = {}
            for prefix, intervals in current.series.items():
                for start, end, account_id, state in intervals:
                    for k in range(start, end + 1):
                        seen[(prefix, k)] = (index[account_id], state)
            assert seen == model.units, f"after step {step_no} {op}"
            assert {index[a] for a in current.frozen_accounts} == model.frozen_accounts
            for i, a_id in enumerate(ids):
                assert ledger.balance(s, a_id) == len(model.held(i))
