"""Cancellation (注销, Art. 29) end to end through HTTP with the real worker: units reserved at once,
confirmed (retired for ever, gapless certificate, PDF with Chinese, public verification, anonymous
beneficiary), rejected or withdrawn (released), freezes, reminder and overdue, idempotent retries."""

from __future__ import annotations

import asyncio
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pypdf
import pytest
from sqlalchemy import select

from activities.cancellation import CancellationActivities
from domain.contracts.cancellation import ConfirmRequest
from domain.contracts.cases import CASE_STATE_QUERY, CaseView
from domain.rules import Refusal
from domain.roles import Role
from store import ledger
from store.models.audit import AuditEvent
from store.models.ledger import Certificate
from store.models.notifications import Notification as NotificationRow
from tests.ledger_helpers import T0, check_invariants, issue_units, later, make_project


@pytest.fixture
def holder(session_factory, make_actor):
    actor = make_actor(Role.APPLICANT)
    project = make_project(session_factory, actor.user.organisation_id, actor.id)
    prefix = issue_units(session_factory, project, actor.user.organisation_id, 50, key="issuance-c")
    with session_factory() as s, s.begin():
        number = ledger.ensure_account(s, actor.user.organisation_id).account_number
    return type("Holder", (), {"actor": actor, "prefix": prefix, "number": number})


def application(h, **extra):
    return {"account_number": h.number, "quantity": 10, "purpose": "event", "purpose_text": "2026 武汉马拉松",
            "beneficiary_name": "武汉马拉松组委会", **extra}


async def apply(client, h, expect=201, **extra):
    r = await client.post("/api/v1/cancellations", json=application(h, **extra), headers=h.actor.headers)
    assert r.status_code == expect, r.text
    return r.json()


async def holdings(client, h):
    return (await client.get(f"/api/v1/accounts/{h.number}/holdings", headers=h.actor.headers)).json()["tonnes"]


async def test_apply_reserves_at_once_then_confirm_retires_with_a_certificate(
        client, worker, holder, operator, make_actor, session_factory):
    h = holder
    x = await apply(client, h)
    assert x["status"] == "reserved" and x["serial_ranges"] == [f"{h.prefix}-000000001..000000010"]
    assert x["case_id"] == f"cancellation-{x['cancellation_id']}"
    assert await holdings(client, h) == {"held": 40, "reserved": 10, "frozen": 0, "retired": 0}
    # Reserved units no longer move.
    exchange = make_actor(Role.EXCHANGE)
    buyer = make_actor(Role.APPLICANT)
    with session_factory() as s, s.begin():
        b = ledger.ensure_account(s, buyer.user.organisation_id).account_number
    r = await client.post("/api/v1/trades", headers=exchange.headers, json={
        "trade_ref": "after-reserve", "seller_account": h.number, "buyer_account": b,
        "serial_ranges": [f"{h.prefix}-000000005"]})
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "ledger.units_reserved"
    # Only the operator confirms.
    n = x["cancellation_id"]
    for who in (h.actor, make_actor(Role.BUREAU_ADMIN)):
        r = await client.post(f"/api/v1/cancellations/{n}/confirm", headers=who.headers)
        assert r.status_code == 403, r.text
    r = await client.post(f"/api/v1/cancellations/{n}/confirm", headers=operator.headers)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "confirmed" and done["certificate_number"].startswith("WH-C-2026-")
    # Confirming again (an HTTP retry) changes nothing; rejecting now is refused.
    again = await client.post(f"/api/v1/cancellations/{n}/confirm", headers=operator.headers)
    assert again.status_code == 200 and again.json()["certificate_number"] == done["certificate_number"]
    r = await client.post(f"/api/v1/cancellations/{n}/reject", headers=operator.headers, json={"reason": "late"})
    assert r.status_code == 409
    assert await holdings(client, h) == {"held": 40, "reserved": 0, "frozen": 0, "retired": 10}
    # A cancelled unit can never move again.
    r = await client.post("/api/v1/trades", headers=exchange.headers, json={
        "trade_ref": "after-retire", "seller_account": h.number, "buyer_account": b,
        "serial_ranges": [f"{h.prefix}-000000005"]})
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "art29.units_retired"
    # Public verification, serial history, the PDF.
    number = done["certificate_number"]
    cert = (await client.get(f"/api/v1/public/certificates/{number}")).json()
    assert cert["beneficiary"] == "武汉马拉松组委会" and cert["quantity"] == 10
    assert cert["serial_ranges"] == [f"{h.prefix}-000000001..000000010"] and cert["account_number"] == h.number
    listed = (await client.get("/api/v1/public/certificates")).json()["items"]
    assert [c["number"] for c in listed] == [number]
    serial = (await client.get(f"/api/v1/serials/{h.prefix}-000000003")).json()
    assert [e["kind"] for e in serial["history"]] == ["issued", "reserved", "retired"]
    assert serial["state"] == "retired" and serial["certificate_number"] == number
    r = await client.get(f"/api/v1/public/certificates/{number}/pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = pypdf.PdfReader(io.BytesIO(r.content)).pages[0].extract_text()
    for expected in ("碳普惠减排量注销证明", number, "武汉马拉松组委会", "活动碳中和", "2026 武汉马拉松",
                     "10 吨二氧化碳当量", f"{h.prefix}-000000001..000000010", "注销确认专用",
                     f"/api/v1/public/certificates/{number}"):
        assert expected in text, expected
    totals = (await client.get("/api/v1/public/ledger/totals")).json()
    assert totals["retired"] == 10
    with session_factory() as s:
        check_invariants(s)


async def test_anonymous_beneficiary_and_certificate_refusals(client, worker, holder, operator):
    h = holder
    x = await apply(client, h, beneficiary_anonymous=True, purpose="donation", purpose_text=None)
    r = await client.post(f"/api/v1/cancellations/{x['cancellation_id']}/confirm", headers=operator.headers)
    number = r.json()["certificate_number"]
    cert = (await client.get(f"/api/v1/public/certificates/{number}")).json()
    assert cert["beneficiary"] == "匿名 / anonymous" and cert["account_number"] is None
    r = await client.get(f"/api/v1/public/certificates/{number}/pdf")
    assert "武汉马拉松组委会" not in pypdf.PdfReader(io.BytesIO(r.content)).pages[0].extract_text()
    assert (await client.get("/api/v1/public/certificates/WH-C-2026-999999")).status_code == 404
    r = await client.get("/api/v1/public/certificates/nonsense")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "number"


async def test_reject_and_withdraw_release_the_units(client, worker, holder, operator, make_actor, session_factory):
    h = holder
    a = await apply(client, h, quantity=5)
    b = await apply(client, h, quantity=7)
    assert await holdings(client, h) == {"held": 38, "reserved": 12, "frozen": 0, "retired": 0}
    r = await client.post(f"/api/v1/cancellations/{a['cancellation_id']}/reject", headers=operator.headers, json={})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await client.post(f"/api/v1/cancellations/{a['cancellation_id']}/reject", headers=operator.headers,
                          json={"reason": "受益方信息不完整 / beneficiary incomplete"})
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["serial_ranges"] == []
    # Only the holder withdraws; others do not even see it.
    other = make_actor(Role.APPLICANT)
    r = await client.post(f"/api/v1/cancellations/{b['cancellation_id']}/withdraw", headers=other.headers, json={})
    assert r.status_code == 404
    r = await client.post(f"/api/v1/cancellations/{b['cancellation_id']}/withdraw", headers=operator.headers, json={})
    assert r.status_code == 403
    r = await client.post(f"/api/v1/cancellations/{b['cancellation_id']}/withdraw", headers=h.actor.headers,
                          json={"reason": "changed plans"})
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    r = await client.post(f"/api/v1/cancellations/{b['cancellation_id']}/confirm", headers=operator.headers)
    assert r.status_code == 409
    assert await holdings(client, h) == {"held": 50, "reserved": 0, "frozen": 0, "retired": 0}
    listed = (await client.get("/api/v1/cancellations", headers=h.actor.headers)).json()
    assert [x["status"] for x in listed] == ["rejected", "withdrawn"]
    assert (await client.get("/api/v1/cancellations", headers=other.headers)).json() == []
    assert (await client.get(f"/api/v1/cancellations/{a['cancellation_id']}", headers=other.headers)).status_code == 404
    with session_factory() as s:
        check_invariants(s)


async def test_application_refusals(client, worker, holder, make_actor, operator):
    h = holder
    cases = [
        (application(h, quantity=51), 409, "ledger.insufficient_units"),
        (application(h, purpose="other", purpose_text=None), 422, "value_error"),
        (application(h, purpose="annual_neutrality"), 422, "value_error"),
        (application(h, quantity=None), 422, "value_error"),
        (application(h, purpose="marketing"), 422, "literal_error"),
        (application(h, beneficiary_name="a\x00b"), 422, "no_nul"),  # refused at the door (api.guards)
        (application(h, beneficiary_name="x" * 201), 422, "string_too_long"),
        (application(h, quantity=None, serial_ranges=["bad"]), 422, "format"),
    ]
    for body, status, expected in cases:
        r = await client.post("/api/v1/cancellations", json=body, headers=h.actor.headers)
        assert r.status_code == status, (body, r.text)
        assert expected in {e["rule"] for e in r.json()["errors"]}, r.text
    # Another organisation's account is not the caller's to cancel.
    r = await client.post("/api/v1/cancellations", json=application(h), headers=make_actor(Role.APPLICANT).headers)
    assert r.status_code == 404
    assert (await client.post("/api/v1/cancellations", json=application(h))).status_code == 401
    assert await holdings(client, h) == {"held": 50, "reserved": 0, "frozen": 0, "retired": 0}


async def test_same_idempotency_key_reserves_once(client, worker, holder):
    h = holder
    headers = {**h.actor.headers, "Idempotency-Key": "apply-1"}
    first = await client.post("/api/v1/cancellations", json=application(h), headers=headers)
    again = await client.post("/api/v1/cancellations", json=application(h), headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["cancellation_id"] == first.json()["cancellation_id"]
    other = await client.post("/api/v1/cancellations", json=application(h, quantity=3), headers=headers)
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await holdings(client, h) == {"held": 40, "reserved": 10, "frozen": 0, "retired": 0}


async def test_frozen_units_cannot_be_reserved_or_cancelled(client, worker, holder, operator, session_factory):
    h = holder
    x = await apply(client, h, quantity=5)
    r = await client.post(f"/api/v1/accounts/{h.number}/freeze", headers=operator.headers,
                          json={"reason": "Art. 33 suspension"})
    assert r.status_code == 200
    r = await client.post("/api/v1/cancellations", json=application(h, quantity=1), headers=h.actor.headers)
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "art33.account_frozen"
    r = await client.post(f"/api/v1/cancellations/{x['cancellation_id']}/confirm", headers=operator.headers)
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "art33.account_frozen"
    # The refused confirmation is a step of the case (audited); the same request after the unfreeze is
    # a new action at the next step, not the refused one answered again.
    with session_factory() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == x["case_id"])).all()
    assert "cancellation.decision_refused" in actions
    await client.post(f"/api/v1/accounts/{h.number}/unfreeze", headers=operator.headers, json={"reason": "lifted"})
    r = await client.post(f"/api/v1/cancellations/{x['cancellation_id']}/confirm", headers=operator.headers)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"


async def test_an_identical_retry_answers_the_first_result_and_another_payload_is_409(
        client, worker, holder, operator, session_factory):
    h = holder
    x = await apply(client, h, quantity=3)
    url = f"/api/v1/cancellations/{x['cancellation_id']}/reject"
    body = {"reason": "受益方不符 / beneficiary mismatch"}
    first, again = await asyncio.gather(*[client.post(url, headers=operator.headers, json=body) for _ in range(2)])
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    later_retry = await client.post(url, headers=operator.headers, json=body)  # after the case ended
    assert later_retry.status_code == 200 and later_retry.json() == first.json()
    other = await client.post(url, headers=operator.headers, json={"reason": "another reason"})
    assert other.status_code == 409, other.text
    with session_factory() as s, pytest.raises(Refusal) as refused:  # Art. 29: decided once
        ledger.release_cancellation(s, x["cancellation_id"], status="withdrawn", reason="late", at=later(1),
                                    actor_user_id=None)
    assert (refused.value.status, refused.value.rule) == (409, "art29.already_decided")
    assert await holdings(client, h) == {"held": 50, "reserved": 0, "frozen": 0, "retired": 0}
    with session_factory() as s:
        released = s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == x["case_id"],
                                                             AuditEvent.action == "cancellation.rejected")).all()
    assert len(released) == 1


async def test_reminder_then_overdue_for_the_operator(client, worker, holder, operator, temporal_env, session_factory):
    h = holder
    x = await apply(client, h, quantity=2)
    case_id = x["case_id"]
    await temporal_env.sleep(timedelta(days=12))  # past 5 working days, whatever the holidays
    # What the admin view asks every case (the time-skipping server has no visibility to list it).
    view = await temporal_env.client.get_workflow_handle(case_id).query(CASE_STATE_QUERY, result_type=CaseView)
    assert view.stage == "awaiting_decision" and view.deadline is not None
    assert [(t.kind, t.assignee, t.overdue) for t in view.open_tasks] == [("decision", "operator_admin", True)]
    with session_factory() as s:
        kinds = s.scalars(select(NotificationRow.kind).where(NotificationRow.case_id == case_id)).all()
    assert "cancellation.reminder_sent" in kinds and "cancellation.overdue" in kinds
    # Still decidable after the deadline.
    r = await client.post(f"/api/v1/cancellations/{x['cancellation_id']}/confirm", headers=operator.headers)
    assert r.status_code == 200


def test_confirmation_retried_after_a_crash_retires_once_and_numbers_have_no_gaps(
        session_factory, holder, operator):
    """A confirm activity run again (the worker died after the commit) answers the first certificate;
    16 confirmations racing (one rolled back after taking its number) leave numbers 1..16, no gap."""
    h = holder
    ids = []
    for i in range(17):
        with session_factory() as s, s.begin():
            x, _ = ledger.apply_for_cancellation(s, ledger.CancellationApplication(
                account_number=h.number, applicant_user_id=h.actor.id, request_key=f"k{i}",
                selection=ledger.Selection(quantity=1), purpose="donation", beneficiary_name="b", applied_at=T0))
            ids.append(x.id)
    acts = CancellationActivities(session_factory)
    first = acts.confirm_cancellation(ConfirmRequest(cancellation_id=ids[0], at=later(1), actor_user_id=operator.id))
    again = acts.confirm_cancellation(ConfirmRequest(cancellation_id=ids[0], at=later(2), actor_user_id=operator.id))
    assert again == first and first.certificate_number == "WH-C-2026-000001"
    barrier = threading.Barrier(16)

    def confirm(n: int, rollback: bool):
        barrier.wait()
        with session_factory() as s:
            ledger.confirm_cancellation(s, n, at=later(3), year=2026, actor_user_id=operator.id)
            if rollback:
                s.rollback()
                raise Refusal("conflict", "x", "rolled back on purpose", "x")
            s.commit()

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(confirm, n, i == 5) for i, n in enumerate(ids[1:])]
        outcomes = [f.exception() for f in futures]
    assert sum(1 for o in outcomes if o is not None) == 1
    with session_factory() as s:
        seqs = sorted(s.scalars(select(Certificate.seq)))
        assert seqs == list(range(1, 17))  # the first, then 15 of 16 racing: no gap
        assert ledger.balance(s, ledger.account_by_number(s, h.number).id) == 50 - 17
        check_invariants(s)
