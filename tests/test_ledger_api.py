"""The ledger through HTTP: trades settled by the exchange (splits, idempotency, refusals naming the
rule), holdings, statements, serial history, freezes, public totals."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from domain.roles import OrganisationStatus, OrganisationType, Role
from store import ledger
from store.models.audit import AuditEvent
from store.models.identity import Organisation
from tests.ledger_helpers import check_invariants, issue_units, make_project


@pytest.fixture
def market(session_factory, make_actor, make_org):
    """Two member organisations with accounts, 100 t issued to the first, and an exchange."""
    seller = make_actor(Role.APPLICANT)
    buyer = make_actor(Role.APPLICANT)
    project = make_project(session_factory, seller.user.organisation_id, seller.id)
    prefix = issue_units(session_factory, project, seller.user.organisation_id, 100, key="issuance-a")
    with session_factory() as s, s.begin():
        a = ledger.ensure_account(s, seller.user.organisation_id).account_number
        b = ledger.ensure_account(s, buyer.user.organisation_id).account_number
    exchange = make_actor(Role.EXCHANGE)
    return type("Market", (), {"seller": seller, "buyer": buyer, "exchange": exchange, "prefix": prefix,
                               "a": a, "b": b, "project": project})


def trade(ref: str, m, quantity: int | None = 10, **extra):
    body = {"trade_ref": ref, "seller_account": m.a, "buyer_account": m.b, **extra}
    if quantity is not None:
        body["quantity"] = quantity
    return body


def rule(r) -> str:
    return r.json()["errors"][0]["rule"]


async def test_a_trade_moves_whole_blocks_and_splits_the_last_keeping_serials(client, market, session_factory):
    m = market
    r = await client.post("/api/v1/trades", json=trade("T-1", m, 30), headers=m.exchange.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["serial_ranges"] == [f"{m.prefix}-000000001..000000030"] and body["quantity"] == 30
    # A second trade back, by explicit range, splits the buyer's block in the middle.
    r = await client.post("/api/v1/trades", headers=m.exchange.headers, json={
        "trade_ref": "T-2", "seller_account": m.b, "buyer_account": m.a,
        "serial_ranges": [f"{m.prefix}-000000011..000000015"]})
    assert r.status_code == 201, r.text
    r = await client.get(f"/api/v1/accounts/{m.b}/holdings", headers=m.buyer.headers)
    assert r.status_code == 200
    h = r.json()
    assert h["tonnes"] == {"held": 25, "reserved": 0, "frozen": 0, "retired": 0}
    assert [x["serial_range"] for x in h["series"][0]["ranges"]] == [
        f"{m.prefix}-000000001..000000010", f"{m.prefix}-000000016..000000030"]
    r = await client.get(f"/api/v1/accounts/{m.a}/holdings", headers=m.seller.headers)
    assert r.json()["tonnes"]["held"] == 75
    with session_factory() as s:
        check_invariants(s)


async def test_statement_is_paged_and_names_trade_and_counterparty(client, market):
    m = market
    for i in range(3):
        r = await client.post("/api/v1/trades", json=trade(f"S-{i}", m, 2), headers=m.exchange.headers)
        assert r.status_code == 201
    r = await client.get(f"/api/v1/accounts/{m.a}/movements?page_size=2", headers=m.seller.headers)
    page = r.json()
    assert [x["kind"] for x in page["items"]] == ["issued", "transferred_out"]
    assert page["items"][0]["issuance_case"] == "issuance-a"
    assert page["items"][1]["trade_ref"] == "S-0" and page["items"][1]["counterparty_account"] == m.b
    r = await client.get(f"/api/v1/accounts/{m.a}/movements?page_size=2&page_token={page['next_page_token']}",
                         headers=m.seller.headers)
    rest = r.json()
    assert [x["trade_ref"] for x in rest["items"]] == ["S-1", "S-2"] and rest["next_page_token"] is None
    r = await client.get(f"/api/v1/accounts/{m.b}/movements", headers=m.buyer.headers)
    assert [x["kind"] for x in r.json()["items"]] == ["transferred_in"] * 3
    r = await client.get(f"/api/v1/accounts/{m.a}/movements?page_token=abc", headers=m.seller.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "page_token"


async def test_holdings_and_statements_are_for_owners_and_authorities_only(client, market, operator, make_actor):
    m = market
    for who, status in [(m.buyer, 404), (m.exchange, 404), (make_actor(Role.VERIFIER), 404), (operator, 200),
                        (m.seller, 200)]:
        for path in ("holdings", "movements"):
            r = await client.get(f"/api/v1/accounts/{m.a}/{path}", headers=who.headers)
            assert r.status_code == status, (who.user.role, path)
    r = await client.get(f"/api/v1/accounts/{m.a}/holdings")
    assert r.status_code == 401


async def test_the_same_trade_again_answers_the_first_and_other_content_is_409(client, market, make_actor):
    m = market
    first = await client.post("/api/v1/trades", json=trade("R-1", m, 7), headers=m.exchange.headers)
    again = await client.post("/api/v1/trades", json=trade("R-1", m, 7), headers=m.exchange.headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = await client.post("/api/v1/trades", json=trade("R-1", m, 8), headers=m.exchange.headers)
    assert other.status_code == 409 and rule(other) == "ledger.trade_ref_reused"
    # References are the exchange's own: another exchange may use the same one.
    exchange2 = make_actor(Role.EXCHANGE)
    r = await client.post("/api/v1/trades", json=trade("R-1", m, 8), headers=exchange2.headers)
    assert r.status_code == 201
    r = await client.get(f"/api/v1/accounts/{m.b}/holdings", headers=m.buyer.headers)
    assert r.json()["tonnes"]["held"] == 15


async def test_thirty_two_identical_trades_at_once_move_the_units_once(client, market, session_factory):
    m = market
    rs = await asyncio.gather(*[client.post("/api/v1/trades", json=trade("C-1", m, 9), headers=m.exchange.headers)
                                for _ in range(32)])
    assert sorted(r.status_code for r in rs) == [200] * 31 + [201]
    assert len({r.text for r in rs}) == 1
    r = await client.get(f"/api/v1/accounts/{m.b}/holdings", headers=m.buyer.headers)
    assert r.json()["tonnes"]["held"] == 9
    with session_factory() as s:
        check_invariants(s)


async def test_refusals_name_the_rule(client, market, session_factory, operator, make_actor):
    m = market
    h = m.exchange.headers
    cases = [
        (trade("X-1", m, 101), 409, "ledger.insufficient_units"),
        ({**trade("X-2", m), "seller_account": "TPH-I-99999999"}, 422, "ledger.unknown_account"),
        ({**trade("X-3", m), "buyer_account": m.a}, 422, "ledger.same_account"),
        (trade("X-4", m, 5, serial_ranges=[f"{m.prefix}-000000001..000000004"]), 422,
         "ledger.quantity_matches_ranges"),
        (trade("X-5", m, None, serial_ranges=["WH-nonsense"]), 422, "format"),
        (trade("X-6", m, None, serial_ranges=[f"{m.prefix}-000000099..000000120"]), 409, "ledger.serials_not_held"),
        (trade("X-7", m, None, serial_ranges=[f"{m.prefix}-000000001..000000005", f"{m.prefix}-000000004..000000006"]),
         422, "ledger.ranges_overlap"),
        (trade("X\x008", m), 422, "no_nul"),  # refused at the door (api.guards)
        (trade("X-9", m, 0), 422, "greater_than"),
        (trade("X-10", m, None), 422, "value_error"),
        ({**trade("X-11", m), "unexpected": 1}, 422, "extra_forbidden"),
        (trade("X" * 101, m), 422, "string_too_long"),
    ]
    for body, status, expected in cases:
        r = await client.post("/api/v1/trades", json=body, headers=h)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert expected in {e["rule"] for e in r.json()["errors"]}, (body, r.text)
    for who in (m.seller, operator):
        r = await client.post("/api/v1/trades", json=trade("X-12", m), headers=who.headers)
        assert r.status_code == 403
    assert (await client.post("/api/v1/trades", json=trade("X-13", m))).status_code == 401
    # Nothing moved.
    r = await client.get(f"/api/v1/accounts/{m.a}/holdings", headers=m.seller.headers)
    assert r.json()["tonnes"]["held"] == 100


@pytest.mark.parametrize("status", [OrganisationStatus.SUSPENDED, OrganisationStatus.TERMINATED])
async def test_a_suspended_or_terminated_participant_cannot_trade(client, market, session_factory, status):
    m = market
    for side, org_id in (("seller_account", m.seller.user.organisation_id),
                         ("buyer_account", m.buyer.user.organisation_id)):
        with session_factory() as s, s.begin():
            s.get(Organisation, org_id).status = status.value
        r = await client.post("/api/v1/trades", json=trade(f"P-{side}", m), headers=m.exchange.headers)
        assert r.status_code == 409 and r.json()["errors"][0] == {
            "field": side, "rule": f"art33.participant_{status.value}", "message": r.json()["detail"]}
        with session_factory() as s, s.begin():
            s.get(Organisation, org_id).status = OrganisationStatus.ACTIVE.value
    # A trade recorded before the suspension still answers its first result.
    r = await client.post("/api/v1/trades", json=trade("P-ok", m), headers=m.exchange.headers)
    assert r.status_code == 201
    with session_factory() as s, s.begin():
        s.get(Organisation, m.seller.user.organisation_id).status = status.value
    r = await client.post("/api/v1/trades", json=trade("P-ok", m), headers=m.exchange.headers)
    assert r.status_code == 200


async def test_freezes_stop_trades_and_are_audited(client, market, session_factory, operator, make_actor):
    m = market
    h = m.exchange.headers
    # Given serials: frozen ones cannot move, the rest can.
    r = await client.post(f"/api/v1/accounts/{m.a}/freeze", headers=operator.headers, json={
        "reason": "举报核查中 / report under review", "serial_ranges": [f"{m.prefix}-000000001..000000090"]})
    assert r.status_code == 200 and r.json()["serial_ranges"] == [f"{m.prefix}-000000001..000000090"]
    r = await client.post("/api/v1/trades", json=trade("F-1", m, 20), headers=h)
    assert r.status_code == 409 and rule(r) == "art33.units_frozen"
    r = await client.post("/api/v1/trades", json=trade("F-2", m, None,
                                                       serial_ranges=[f"{m.prefix}-000000005"]), headers=h)
    assert r.status_code == 409 and rule(r) == "art33.units_frozen"
    r = await client.post("/api/v1/trades", json=trade("F-3", m, 10), headers=h)
    assert r.status_code == 201 and r.json()["serial_ranges"] == [f"{m.prefix}-000000091..000000100"]
    r = await client.post(f"/api/v1/accounts/{m.a}/unfreeze", headers=h, json={
        "reason": "cleared", "serial_ranges": [f"{m.prefix}-000000001..000000090"]})
    assert r.status_code == 200
    # The whole account (by the exchange): neither sending nor receiving.
    r = await client.post(f"/api/v1/accounts/{m.b}/freeze", headers=h, json={"reason": "Art. 33 suspension"})
    assert r.status_code == 200 and r.json()["frozen"] is True
    r = await client.post("/api/v1/trades", json=trade("F-4", m, 1), headers=h)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "buyer_account"
    assert rule(r) == "art33.account_frozen"
    r = await client.get(f"/api/v1/accounts/{m.b}/holdings", headers=m.buyer.headers)
    assert r.json()["frozen"] is True and r.json()["frozen_reason"] == "Art. 33 suspension"
    r = await client.post(f"/api/v1/accounts/{m.b}/unfreeze", headers=operator.headers, json={"reason": "lifted"})
    assert r.json()["frozen"] is False
    r = await client.post("/api/v1/trades", json=trade("F-5", m, 1), headers=h)
    assert r.status_code == 201
    # Refusals: wrong role, unknown account, no reason, serials not frozen.
    for who in (m.seller, make_actor(Role.BUREAU_ADMIN)):
        r = await client.post(f"/api/v1/accounts/{m.a}/freeze", headers=who.headers, json={"reason": "x"})
        assert r.status_code == 403
    r = await client.post("/api/v1/accounts/TPH-I-99999999/freeze", headers=h, json={"reason": "x"})
    assert r.status_code == 404
    r = await client.post(f"/api/v1/accounts/{m.a}/freeze", headers=h, json={"reason": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await client.post(f"/api/v1/accounts/{m.a}/unfreeze", headers=h, json={
        "reason": "x", "serial_ranges": [f"{m.prefix}-000000001"]})
    assert r.status_code == 409
    r = await client.get(f"/api/v1/accounts/{m.a}/movements?page_size=500", headers=m.seller.headers)
    kinds = [x["kind"] for x in r.json()["items"]]
    assert "frozen" in kinds and "unfrozen" in kinds
    with session_factory() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "account")
                            .order_by(AuditEvent.id)).all()
        assert actions == ["ledger.frozen", "ledger.unfrozen", "ledger.frozen", "ledger.unfrozen"]
        check_invariants(s)


async def test_an_individual_buys_whole_tonnes_and_the_serial_history_never_names_them(
        client, market, make_actor, session_factory):
    m = market
    resident = make_actor(Role.INDIVIDUAL, name="张三")
    number = ledger.personal_account_number(resident.id)
    r = await client.post("/api/v1/trades", json={**trade("I-1", m, 3), "buyer_account": number},
                          headers=m.exchange.headers)
    assert r.status_code == 201, r.text
    r = await client.get("/api/v1/accounts/mine", headers=resident.headers)
    assert r.json()["account_number"] == number and r.json()["kind"] == "personal"
    assert r.json()["balance_tonnes"] == 3
    r = await client.get(f"/api/v1/accounts/{number}/holdings", headers=resident.headers)
    assert r.json()["tonnes"]["held"] == 3
    r = await client.get(f"/api/v1/accounts/{number}/holdings", headers=m.buyer.headers)
    assert r.status_code == 404
    r = await client.get(f"/api/v1/serials/{m.prefix}-000000002")
    body = r.json()
    assert body["holder_account"] == number and "张三" not in r.text
    assert [(e["kind"], e["trade_ref"]) for e in body["history"]] == [("issued", None), ("transferred", "I-1")]
    assert body["history"][0]["issuance_case"] == "issuance-a" and body["history"][1]["to_account"] == number
    # A number of no individual is unknown.
    r = await client.post("/api/v1/trades", json={**trade("I-2", m, 1), "buyer_account": "TPH-P-99999999"},
                          headers=m.exchange.headers)
    assert r.status_code == 422 and rule(r) == "ledger.unknown_account"


async def test_public_totals_by_year_and_methodology(client, market):
    m = market
    await client.post("/api/v1/trades", json=trade("Y-1", m, 12), headers=m.exchange.headers)
    r = await client.get("/api/v1/public/ledger/totals")
    assert r.status_code == 200
    body = r.json()
    assert (body["issued"], body["transferred"], body["retired"]) == (100, 12, 0)
    assert [(x["methodology"], x["issued"]) for x in body["rows"] if x["issued"]] == [("WH-M-PV-001-V1", 100)]


async def test_serial_lookup_refusals(client, market):
    r = await client.get("/api/v1/serials/WH-nonsense")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "serial"
    r = await client.get(f"/api/v1/serials/{market.prefix}-000000999")
    assert r.status_code == 404
