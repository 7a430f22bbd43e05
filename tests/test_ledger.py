"""Accounts and the serial-numbered ledger: exact quantities, one block per issuance, idempotent and
race-free issuance, balances, the public serial lookup."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from activities.issuance import IssuanceActivities
from domain import serials
from domain.contracts.issuance import IssueRequest
from domain.rules import Refusal
from domain.roles import OrganisationType, Role
from store import ledger
from store.models.ledger import InstitutionalAccount, Issuance, SerialSeries, UnitBlock
from tests.issuance_helpers import T0, make_project, make_verified_case
from tests.ledger_helpers import check_invariants
from tests.test_ledger_api import market  # noqa: F401  (a fixture)

# --- pure -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,grams", [("1234.567", 1_234_567_000), ("0.001", 1_000), ("2", 2_000_000),
                                        ("1.5000", 1_500_000), ("1E+2", 100_000_000)])
def test_tonnes_are_stored_exactly_as_grams(text, grams):
    assert serials.tonnes_to_grams(Decimal(text)) == grams
    assert serials.grams_to_tonnes(grams) == Decimal(text)


@pytest.mark.parametrize("text", ["1.0001", "0.0000001", "NaN", "Infinity"])
def test_finer_than_kilograms_is_refused_not_rounded(text):
    with pytest.raises(ValueError):
        serials.tonnes_to_grams(Decimal(text))


def test_whole_tonnes_round_down_and_keep_the_remainder():
    assert serials.whole_tonnes(1_234_567_000) == (1234, 567_000)
    assert serials.whole_tonnes(999_999) == (0, 999_999)
    assert serials.whole_tonnes(5_000_000) == (5, 0)


def test_serial_encodes_vintage_project_and_methodology_and_parses_back():
    seg = serials.methodology_segment("wh-m-travel 001", 2)
    assert seg == "WH-M-TRAVEL-001-V2"
    prefix = serials.series_prefix(2026, 12, seg)
    s = serials.serial(prefix, 42)
    assert s == "WH-2026-000012-WH-M-TRAVEL-001-V2-000000042"
    parsed = serials.parse_serial(s.lower())
    assert (parsed.prefix, parsed.vintage, parsed.project_id, parsed.methodology, parsed.number) == (
        prefix, 2026, 12, seg, 42)
    assert serials.serial_range(prefix, 1, 1234) == "WH-2026-000012-WH-M-TRAVEL-001-V2-000000001..000001234"
    for bad in ["WH-2026-12-X-V1-000000001", "WH-2026-000012-WH-M-V1-000000000", "nonsense"]:
        with pytest.raises(ValueError):
            serials.parse_serial(bad)


# --- store and activity ---------------------------------------------------------------------------


@pytest.fixture
def developer(make_actor):
    return make_actor(Role.APPLICANT)


@pytest.fixture
def verifier_org(make_org):
    return make_org(org_type=OrganisationType.VERIFICATION_BODY)


def _issue(session_factory, case, operator_id: int):
    return IssuanceActivities(session_factory).issue_reductions(
        IssueRequest(case_id=case.case_id, issued_at=T0, operator_user_id=operator_id))


def test_issuance_is_one_block_of_whole_tonnes_with_the_remainder_recorded(
        session_factory, developer, verifier_org, operator):
    project = make_project(session_factory, developer.user.organisation_id, developer.id)
    case = make_verified_case(session_factory, project, developer.id, verifier_org.id, verified_grams=1_234_567_890)
    result = _issue(session_factory, case, operator.id)
    assert (result.tonnes, result.remainder_grams) == (1234, 567_890)
    assert result.serial_range == f"WH-2025-{project.id:06d}-WH-M-PV-001-V1-000000001..000001234"
    with session_factory() as s:
        blocks = s.scalars(select(UnitBlock)).all()
        assert len(blocks) == 1 and blocks[0].not_declarable_elsewhere and blocks[0].vintage == 2025
        account = s.get(InstitutionalAccount, blocks[0].account_id)
        assert account.organisation_id == developer.user.organisation_id
        assert ledger.balance(s, account.id) == 1234


def test_repeated_issuance_returns_the_first_and_issues_nothing_more(
        session_factory, developer, verifier_org, operator):
    project = make_project(session_factory, developer.user.organisation_id, developer.id)
    case = make_verified_case(session_factory, project, developer.id, verifier_org.id, verified_grams=10_000_000)
    first = _issue(session_factory, case, operator.id)
    again = _issue(session_factory, case, operator.id)
    assert again == first
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(UnitBlock)) == 1
        assert s.get(SerialSeries, f"WH-2025-{project.id:06d}-WH-M-PV-001-V1").next_number == 11


def test_less_than_a_tonne_records_the_remainder_and_issues_no_block(
        session_factory, developer, verifier_org, operator):
    project = make_project(session_factory, developer.user.organisation_id, developer.id)
    case = make_verified_case(session_factory, project, developer.id, verifier_org.id, verified_grams=999_999)
    result = _issue(session_factory, case, operator.id)
    assert (result.tonnes, result.remainder_grams, result.serial_range) == (0, 999_999, None)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(UnitBlock)) == 0
        assert s.scalar(select(Issuance.remainder_grams)) == 999_999


def test_concurrent_retries_issue_once_and_series_never_overlap(session_factory, developer, verifier_org, operator):
    """Eight racing retries of each of four cases of one series: four blocks, disjoint, balance exact."""
    project = make_project(session_factory, developer.user.organisation_id, developer.id)
    quantities = [3_500_000, 7_000_000, 1_999_999, 12_000_001]
    cases = [make_verified_case(session_factory, project, developer.id, verifier_org.id, verified_grams=g,
                                period=(date(2025, m, 1), date(2025, m, 28)))
             for m, g in zip(range(1, 5), quantities, strict=True)]
    barrier = threading.Barrier(32)

    def race(case):
        barrier.wait()
        return _issue(session_factory, case, operator.id)

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(race, [c for c in cases for _ in range(8)]))
    by_case = {}
    for case, result in zip([c for c in cases for _ in range(8)], results, strict=True):
        by_case.setdefault(case.case_id, set()).add(result.model_dump_json())
    assert all(len(v) == 1 for v in by_case.values())  # every retry saw the same issuance
    with session_factory() as s:
        blocks = s.scalars(select(UnitBlock).order_by(UnitBlock.serial_start)).all()
        assert sorted(b.serial_end - b.serial_start + 1 for b in blocks) == [1, 3, 7, 12]
        numbers = [n for b in blocks for n in range(b.serial_start, b.serial_end + 1)]
        assert len(numbers) == len(set(numbers)) == 3 + 7 + 1 + 12
        assert sorted(numbers) == list(range(1, 24))  # consecutive, nothing lost
        assert s.scalar(select(func.count()).select_from(Issuance)) == 4
        assert ledger.balance(s, blocks[0].account_id) == 23


def test_account_numbers_are_stable_and_opened_once(session_factory, developer):
    org_id = developer.user.organisation_id
    with session_factory() as s, s.begin():
        a = ledger.ensure_account(s, org_id)
    with session_factory() as s, s.begin():
        b = ledger.ensure_account(s, org_id)
    assert a.id == b.id and a.account_number == b.account_number == f"TPH-I-{org_id:08d}"


# --- API ------------------------------------------------------------------------------------------


async def test_owner_and_authorities_see_the_account_others_do_not(
        client, session_factory, developer, verifier_org, operator, bureau, make_actor):
    project = make_project(session_factory, developer.user.organisation_id, developer.id)
    case = make_verified_case(session_factory, project, developer.id, verifier_org.id, verified_grams=5_250_000)
    _issue(session_factory, case, operator.id)
    mine = (await client.get("/api/v1/accounts/mine", headers=developer.headers)).json()
    assert mine["balance_tonnes"] == 5 and len(mine["blocks"]) == 1
    block = mine["blocks"][0]
    assert block["tonnes"] == 5 and block["not_declarable_elsewhere"] is True
    number = mine["account_number"]
    for actor in (developer, bureau, operator):
        r = await client.get(f"/api/v1/accounts/{number}", headers=actor.headers)
        assert r.status_code == 200 and r.json()["balance_tonnes"] == 5
    stranger = make_actor(Role.APPLICANT)
    assert (await client.get(f"/api/v1/accounts/{number}", headers=stranger.headers)).status_code == 404
    assert (await client.get(f"/api/v1/accounts/{number}")).status_code == 401
    assert (await client.get("/api/v1/accounts", headers=developer.headers)).status_code == 403


async def test_authority_list_opens_an_account_for_every_active_organisation(client, bureau, make_org):
    from domain.roles import OrganisationStatus

    active, pending = make_org(), make_org(status=OrganisationStatus.PENDING)
    r = await client.get("/api/v1/accounts", headers=bureau.headers)
    assert r.status_code == 200
    numbers = {a["organisation_id"]: a["account_number"] for a in r.json()}
    assert numbers[active.id] == f"TPH-I-{active.id:08d}" and pending.id not in numbers
    again = await client.get("/api/v1/accounts", headers=bureau.headers)
    assert {a["organisation_id"]: a["account_number"] for a in again.json()} == numbers


async def test_public_serial_lookup(client, session_factory, developer, verifier_org, operator):
    project = make_project(session_factory, developer.user.organisation_id, developer.id, code="WH-M-PV-001")
    case = make_verified_case(session_factory, project, developer.id, verifier_org.id, verified_grams=3_000_000)
    _issue(session_factory, case, operator.id)
    serial = f"WH-2025-{project.id:06d}-WH-M-PV-001-V1-000000002"
    r = await client.get(f"/api/v1/serials/{serial}")
    assert r.status_code == 200
    body = r.json()
    assert (body["project_id"], body["vintage"], body["state"], body["case_id"]) == (
        project.id, 2025, "held", case.case_id)
    assert body["methodology"] == "WH-M-PV-001 v1" and body["not_declarable_elsewhere"] is True
    assert body["serial_range"].endswith("000000001..000000003")
    missing = await client.get(f"/api/v1/serials/WH-2025-{project.id:06d}-WH-M-PV-001-V1-000000004")
    assert missing.status_code == 404
    bad = await client.get("/api/v1/serials/not-a-serial")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "serial"


# --- the moves inside PostgreSQL (migration 0015) --------------------------------------------------


def _trade(session_factory, seller: str, buyer: str, ref: str, exchange_org: int, actor_id: int,
           selection: ledger.Selection):
    order = ledger.TradeOrder(exchange_organisation_id=exchange_org, trade_ref=ref, seller_account=seller,
                              buyer_account=buyer, selection=selection, settled_at=None, recorded_at=T0,
                              recorded_by_user_id=actor_id)
    with session_factory() as s, s.begin():
        return ledger.settle_trade(s, order)


def test_two_ranges_inside_one_block_move_in_one_trade(session_factory, market):
    prefix, a, b = market.prefix, market.a, market.b
    sel = ledger.Selection(ranges=(ledger.SerialRange(prefix, 30, 40), ledger.SerialRange(prefix, 10, 20)))
    out = _trade(session_factory, a, b, "R-1", market.exchange.user.organisation_id, market.exchange.id, sel)
    assert out.result["serial_ranges"] == [serials.serial_range(prefix, 10, 20), serials.serial_range(prefix, 30, 40)]
    assert out.result["quantity"] == 22 and not out.replayed
    with session_factory() as s:
        check_invariants(s)
        held = [(x.serial_start, x.serial_end, x.account_id) for x in s.scalars(
            select(UnitBlock).where(UnitBlock.serial_prefix == prefix).order_by(UnitBlock.serial_start))]
        seller_id, buyer_id = (ledger.find_account(s, n).id for n in (a, b))
    assert held == [(1, 9, seller_id), (10, 20, buyer_id), (21, 29, seller_id), (30, 40, buyer_id),
                    (41, 100, seller_id)]


def test_refusals_raised_in_postgresql_keep_rule_field_and_words_and_leave_nothing(session_factory, market):
    prefix, a, b = market.prefix, market.a, market.b
    org, me = market.exchange.user.organisation_id, market.exchange.id
    with pytest.raises(Refusal) as refused:
        _trade(session_factory, a, b, "R-2", org, me, ledger.Selection(quantity=101))
    assert (refused.value.status, refused.value.field, refused.value.rule, refused.value.message) == (
        409, "quantity", "ledger.insufficient_units", "101 t asked, 100 t held and usable (account: held 100) / 可用减排量不足")
    overlapping = ledger.Selection(ranges=(ledger.SerialRange(prefix, 1, 5), ledger.SerialRange(prefix, 4, 6)))
    with pytest.raises(Refusal) as refused:
        _trade(session_factory, a, b, "R-2", org, me, overlapping)
    assert (refused.value.status, refused.value.rule, refused.value.message) == (
        422, "ledger.ranges_overlap",
        f"serial ranges {serials.serial_range(prefix, 1, 5)} and {serials.serial_range(prefix, 4, 6)} overlap")
    with pytest.raises(Refusal) as refused:
        _trade(session_factory, a, "TPH-I-99999999", "R-2", org, me, ledger.Selection(quantity=1))
    assert (refused.value.status, refused.value.field, refused.value.rule) == (
        422, "buyer_account", "ledger.unknown_account")
    # The refused reference was rolled back with the refusal: it can be used for a real trade.
    out = _trade(session_factory, a, b, "R-2", org, me, ledger.Selection(quantity=1))
    assert out.result["serial_ranges"] == [serials.serial_range(prefix, 1, 1)]


def test_serial_ranges_read_the_same_from_postgresql_and_python(session_factory):
    from sqlalchemy import text

    cases = [("WH-2026-000012-WH-M-TRAVEL-001-V2", 1, 1), ("WH-2025-000001-X-V1", 42, 1234),
             ("WH-2025-000001-X-V1", 1, serials.MAX_SERIAL_NUMBER)]
    with session_factory() as s:
        for prefix, start, end in cases:
            got = s.scalar(text("SELECT ledger_range_text(:p, :s, :e)"), {"p": prefix, "s": start, "e": end})
            assert got == serials.serial_range(prefix, start, end)
        merged = s.scalar(text("SELECT ledger_merged_ranges(ARRAY['B', 'A', 'A', 'A'], ARRAY[1, 11, 1, 30]::bigint[], "
                               "ARRAY[5, 20, 10, 31]::bigint[])"))
    assert merged == ["A-000000001..000000020", "A-000000030..000000031", "B-000000001..000000005"]
