"""Personal reductions through the HTTP API (SPEC §2.5, Art. 15, 22, 33): pushes, outcomes, caps, grams,
bindings, expiry, refusals, idempotency, two workers, a crash mid-batch, privacy of subject references."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import uuid
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from sqlalchemy import text

from domain.contracts import personal as c
from domain.roles import OrganisationStatus, Role
from store import identity, personal
from store.models.identity import Organisation, User
from store.session import transaction
from tests.personal_helpers import approve_source, bind, publish_personal, record, sign_up, wait_accounted

P = "/api/v1"


@pytest.fixture
def methodology(session_factory):
    return publish_personal(session_factory)


def rule(r) -> str:
    return r.json()["errors"][0]["rule"]


async def _push(client, headers, records, **kw):
    return await client.post(f"{P}/behaviour-batches", headers=headers, json={"records": records}, **kw)


async def test_a_batch_is_accounted_with_one_outcome_per_record(client, worker, operator, make_actor, methodology,
                                                                 session_factory, temporal_env, caplog):
    caplog.set_level(logging.DEBUG)
    source, src = await approve_source(client, operator, make_actor)
    resident, me = await sign_up(client)
    assert me["account_number"].startswith("TPH-P-")
    subject, stranger = f"u-{uuid.uuid4().hex[:10]}", f"u-{uuid.uuid4().hex[:10]}"
    await bind(client, source.headers, resident, subject)
    records = [
        # Grams floor on the day's running total: 1.5 km × 51.2345 g = 76.85 → 76 g; 41.5 km: 2126.23 → 2126,
        # so +2050 g; the cap (50 km a day) leaves 8.5 km of 20: 2561.72 → 2561, so +435 g.
        record(1, subject, quantity=1.5),
        record(2, subject, quantity=40),
        record(3, subject, quantity=20),
        record(2, subject, quantity=40),                     # the same event again: duplicate
        record(4, subject, behaviour="bike_km"),             # known, but not approved for this source
        record(5, subject, behaviour="teleport_km"),         # unknown behaviour
        record(6, stranger),                                 # nobody bound: waits
        record(7, "13812345678"),                            # a phone number: refused, never stored
        record(8, "42010119900101123X"),                     # an ID-card number
        record(9, "zhang@example.cn"),                       # an e-mail
        record(10, subject, quantity=-1),                    # invalid quantity
        record(11, subject, unit="m"),                       # wrong unit
    ]
    r = await _push(client, source.headers, records)
    assert r.status_code == 202, r.text
    batch = r.json()
    done = await wait_accounted(client, source.headers, batch["batch_id"])
    assert done["status"] == "awaiting_binding"
    assert done["counts"] == {"credited": 2, "capped": 1, "duplicate": 1, "behaviour_not_approved_for_source": 1,
                              "unknown_behaviour": 1, "unbound_subject": 1, "invalid": 5}
    assert done["grams"] == 2561
    account = (await client.get(f"{P}/personal-account", headers=resident)).json()
    assert account["balance_g"] == 2561
    statement = (await client.get(f"{P}/personal-account/statement", headers=resident)).json()
    assert sum(line["grams"] for line in statement) == account["balance_g"]
    page = (await client.get(f"{P}/behaviour-batches/{batch['batch_id']}/records?outcome=capped",
                             headers=source.headers)).json()
    assert [(p["line_no"], p["quantity"], p["grams"]) for p in page] == [(3, "20.000", 435)]
    invalid = (await client.get(f"{P}/behaviour-batches/{batch['batch_id']}/records?outcome=invalid",
                                headers=source.headers)).json()
    assert all("art15.identifying_subject_ref" in p["reason"] for p in invalid[:3])
    # Privacy (Art. 15, 33): no subject reference in the database, the logs or the case's history.
    with session_factory() as s:
        dump = s.execute(text("SELECT string_agg(t::text, '|') FROM behaviour_records t")).scalar_one()
        audit = s.execute(text("SELECT string_agg(details::text, '|') FROM audit_events")).scalar_one()
    history = (await temporal_env.client.get_workflow_handle(batch["case_id"]).fetch_history()).to_json()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for ref in (subject, stranger, "13812345678", "42010119900101123X", "zhang@example.cn"):
        assert ref not in dump and ref not in audit and ref not in history and ref not in logs, ref
    stats = (await client.get(f"{P}/data-sources/{src['id']}/statistics", headers=operator.headers)).json()
    assert sum(s["records"] for s in stats) == len(records) and sum(s["grams"] for s in stats) == done["grams"]


async def test_waiting_records_are_credited_on_binding_or_expire(client, worker, operator, make_actor, methodology,
                                                                temporal_env):
    source, _ = await approve_source(client, operator, make_actor)
    late, early = f"u-{uuid.uuid4().hex[:10]}", f"u-{uuid.uuid4().hex[:10]}"
    r = await _push(client, source.headers, [record("w1", early, quantity=2), record("w2", late, quantity=3)])
    batch = r.json()
    done = await wait_accounted(client, source.headers, batch["batch_id"])
    assert done["counts"] == {"unbound_subject": 2}
    resident, _ = await sign_up(client)
    bound = await bind(client, source.headers, resident, early)
    assert bound["credited_records"] == 1 and bound["credited_grams"] == 102  # 2 × 51.2345 → 102 g
    assert (await client.get(f"{P}/personal-account", headers=resident)).json()["balance_g"] == 102
    # The policy's 30 days pass (the test server skips time): the other record expires.
    await temporal_env.sleep(timedelta(days=31))
    for _ in range(100):
        done = (await client.get(f"{P}/behaviour-batches/{batch['batch_id']}", headers=source.headers)).json()
        if "expired" in done["counts"]:
            break
        await asyncio.sleep(0.1)
    assert done["counts"] == {"credited": 1, "expired": 1} and done["status"] == "accounted"


async def test_re_pushing_never_credits_twice(client, worker, operator, make_actor, methodology):
    source, _ = await approve_source(client, operator, make_actor)
    resident, _ = await sign_up(client)
    subject = f"u-{uuid.uuid4().hex[:10]}"
    await bind(client, source.headers, resident, subject)
    records = [record(n, subject, quantity=1) for n in range(5)]
    keyed = {**source.headers, "Idempotency-Key": "k1"}
    first = await _push(client, keyed, records)
    again = await _push(client, keyed, records)
    assert first.json()["batch_id"] == again.json()["batch_id"] and again.headers["Idempotent-Replayed"] == "true"
    await wait_accounted(client, source.headers, first.json()["batch_id"])
    other = await client.post(f"{P}/behaviour-batches", content=b"\n".join(orjson.dumps(x) for x in records),
                              headers={**source.headers, "Content-Type": "application/x-ndjson"})
    assert other.status_code == 202
    done = await wait_accounted(client, source.headers, other.json()["batch_id"])
    assert done["counts"] == {"duplicate": 5}
    assert (await client.get(f"{P}/personal-account", headers=resident)).json()["balance_g"] == 256  # floor(5 × 51.2345)


async def test_too_large_pushes_are_413(client, operator, make_actor, methodology):
    source, _ = await approve_source(client, operator, make_actor)
    many = [record(n, "u-1") for n in range(10_001)]
    r = await _push(client, source.headers, many)
    assert r.status_code == 413 and rule(r) == "batch_size"
    big = b'{"records": [' + b" " * (5 * 1024 * 1024) + b"]}"
    r = await client.post(f"{P}/behaviour-batches", content=big,
                          headers={**source.headers, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 413


async def test_refusals(client, operator, make_actor, methodology, session_factory):
    source, src = await approve_source(client, operator, make_actor)
    rec = [record(1, "u-1")]
    # Suspended by the operator (Art. 33).
    r = await client.post(f"{P}/data-sources/{src['id']}/suspend", headers=operator.headers, json={"reason": "假数据"})
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    r = await _push(client, source.headers, rec)
    assert r.status_code == 403 and rule(r) == "art33.source_suspended"
    r = await client.post(f"{P}/binding-codes", headers=source.headers, json={"subject_ref": "u-1"})
    assert r.status_code == 403 and rule(r) == "art33.source_suspended"
    await client.post(f"{P}/data-sources/{src['id']}/reinstate", headers=operator.headers, json={"reason": "ok"})
    # The organisation suspended (sanctions).
    with session_factory() as s, s.begin():
        org = s.get(Organisation, source.user.organisation_id)
        identity.set_organisation_status(s, org, OrganisationStatus.SUSPENDED, actor=s.get(User, operator.id),
                                         reason="sanction")
    r = await _push(client, source.headers, rec)
    assert r.status_code == 403 and rule(r) == "art33.organisation_suspended"
    # Not approved as a data source; other roles.
    stranger = make_actor(Role.DATA_SOURCE)
    r = await _push(client, stranger.headers, rec)
    assert r.status_code == 403 and rule(r) == "art22.source_not_approved"
    resident, _ = await sign_up(client)
    for headers in (resident, operator.headers, make_actor(Role.APPLICANT).headers):
        assert (await _push(client, headers, rec)).status_code == 403
    assert (await client.get(f"{P}/personal-account", headers=source.headers)).status_code == 403
    assert (await client.post(f"{P}/data-sources", headers=source.headers,
                              json={"organisation_id": 1, "behaviours": ["metro_km"]})).status_code == 403
    # A subject reference that identifies a person is refused for a code too (Art. 15).
    source2, _ = await approve_source(client, operator, make_actor)
    r = await client.post(f"{P}/binding-codes", headers=source2.headers, json={"subject_ref": "+8613812345678"})
    assert r.status_code == 422 and rule(r) == "art15.identifying_subject_ref"
    # A code is used once; an unknown code is refused.
    code = (await client.post(f"{P}/binding-codes", headers=source2.headers, json={"subject_ref": "u-9"})).json()
    other, _ = await sign_up(client)
    assert (await client.post(f"{P}/personal-account/bindings", headers=resident,
                              json={"code": code["code"]})).status_code == 201
    r = await client.post(f"{P}/personal-account/bindings", headers=other, json={"code": code["code"]})
    assert r.status_code == 422 and rule(r) == "art22.binding_code"
    r = await client.post(f"{P}/personal-account/bindings", headers=other, json={"code": "NOPE123456"})
    assert r.status_code == 422
    # A new code for a user of the source already bound to another resident's account (Art. 22: one account).
    again = (await client.post(f"{P}/binding-codes", headers=source2.headers, json={"subject_ref": "u-9"})).json()
    r = await client.post(f"{P}/personal-account/bindings", headers=other, json={"code": again["code"]})
    assert r.status_code == 409 and rule(r) == "art22.already_bound"
    # Sign-up: a weak password, an e-mail twice.
    r = await client.post(f"{P}/residents", json={"name": "x", "email": "a@b.cn", "password": "short"})
    assert r.status_code == 422 and rule(r) == "password_policy"


async def test_another_sources_batch_is_hidden(client, worker, operator, make_actor, methodology):
    source, _ = await approve_source(client, operator, make_actor)
    other, _ = await approve_source(client, operator, make_actor)
    batch = (await _push(client, source.headers, [record(1, "u-1")])).json()
    await wait_accounted(client, source.headers, batch["batch_id"])
    assert (await client.get(f"{P}/behaviour-batches/{batch['batch_id']}", headers=other.headers)).status_code == 404
    assert (await client.get(f"{P}/behaviour-batches/{batch['batch_id']}/records",
                             headers=other.headers)).status_code == 404
    assert (await client.get(f"{P}/behaviour-batches/{batch['batch_id']}", headers=operator.headers)).status_code == 200
    assert (await client.get(f"{P}/behaviour-batches/{batch['batch_id']}/records",
                             headers=operator.headers)).status_code == 403  # statistics, not records


async def _received_batch(client, operator, make_actor, n=200):
    """A pushed batch whose case runs on no worker here: the test accounts it itself."""
    source, _ = await approve_source(client, operator, make_actor)
    resident, _ = await sign_up(client)
    subject = f"u-{uuid.uuid4().hex[:10]}"
    await bind(client, source.headers, resident, subject)
    r = await _push(client, source.headers, [record(i, subject, behaviour="walk_step", quantity=150, unit="step")
                                             for i in range(n)])
    return r.json()["batch_id"], resident


async def test_two_workers_on_one_batch_credit_once(client, operator, make_actor, methodology, session_factory,
                                                    temporal_env):
    batch_id, resident = await _received_batch(client, operator, make_actor)

    def account():
        with transaction(session_factory) as s:
            return personal.account_batch(s, batch_id, unbound_wait_days=30)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda _: account(), range(2))
    assert a.counts == b.counts  # the second found the batch accounted and answered the same counts
    balance = (await client.get(f"{P}/personal-account", headers=resident)).json()["balance_g"]
    assert balance == a.grams == b.grams  # 20,000 steps × 0.0003 g = 6 g, once
    assert balance == 6


async def test_a_crash_mid_batch_leaves_nothing_and_the_retry_credits_once(client, operator, make_actor, methodology,
                                                                          session_factory, temporal_env, monkeypatch):
    batch_id, resident = await _received_batch(client, operator, make_actor)
    real = personal._credit

    def crash(session, **kw):
        real(session, **kw)
        raise ConnectionError("the worker died after crediting, before the commit")

    monkeypatch.setattr(personal, "_credit", crash)
    with pytest.raises(ConnectionError):
        with transaction(session_factory) as s:
            personal.account_batch(s, batch_id, unbound_wait_days=30)
    assert (await client.get(f"{P}/personal-account", headers=resident)).json()["balance_g"] == 0
    monkeypatch.setattr(personal, "_credit", real)
    with transaction(session_factory) as s:
        result = personal.account_batch(s, batch_id, unbound_wait_days=30)
    with transaction(session_factory) as s:
        again = personal.account_batch(s, batch_id, unbound_wait_days=30)
    assert result.grams == again.grams == 6
    assert (await client.get(f"{P}/personal-account", headers=resident)).json()["balance_g"] == 6


async def test_identical_pushes_at_once_credit_once(client, worker, operator, make_actor, methodology, session_factory):
    source, _ = await approve_source(client, operator, make_actor)
    resident, _ = await sign_up(client)
    subject = f"u-{uuid.uuid4().hex[:10]}"
    await bind(client, source.headers, resident, subject)
    records = [record(n, subject, quantity=2) for n in range(3)]
    keyed = {**source.headers, "Idempotency-Key": "same"}
    answers = await asyncio.gather(*[_push(client, keyed, records) for _ in range(16)],
                                   *[_push(client, source.headers, records) for _ in range(16)])
    assert {r.status_code for r in answers} == {202}
    assert len({r.json()["batch_id"] for r in answers[:16]}) == 1
    for r in answers:
        await wait_accounted(client, source.headers, r.json()["batch_id"])
    # 6 km once: floor(6 × 51.2345) = 307 g, whatever the number of identical pushes.
    assert (await client.get(f"{P}/personal-account", headers=resident)).json()["balance_g"] == 307
    with session_factory() as s:
        assert s.execute(text("SELECT count(*) FROM behaviour_records WHERE outcome = 'credited'")).scalar() == 3


async def test_unbinding_stops_credits(client, worker, operator, make_actor, methodology):
    source, _ = await approve_source(client, operator, make_actor)
    resident, _ = await sign_up(client)
    subject = f"u-{uuid.uuid4().hex[:10]}"
    binding = await bind(client, source.headers, resident, subject)
    listed = (await client.get(f"{P}/personal-account/bindings", headers=resident)).json()
    assert [b["id"] for b in listed] == [binding["id"]] and listed[0]["unbound_at"] is None
    r = await client.delete(f"{P}/personal-account/bindings/{binding['id']}", headers=resident)
    assert r.status_code == 200 and r.json()["unbound_at"] is not None
    other, _ = await sign_up(client)
    assert (await client.delete(f"{P}/personal-account/bindings/{binding['id']}", headers=other)).status_code == 404
    batch = (await _push(client, source.headers, [record("after", subject)])).json()
    done = await wait_accounted(client, source.headers, batch["batch_id"])
    # Waiting for a binding (or, once the test server has skipped past the wait, expired): never credited.
    assert list(done["counts"]) in (["unbound_subject"], ["expired"])
    assert (await client.get(f"{P}/personal-account", headers=resident)).json()["balance_g"] == 0


async def test_one_pass_accounts_the_waiting_batches_of_its_source(client, operator, make_actor, methodology,
                                                                    session_factory, temporal_env):
    source, _ = await approve_source(client, operator, make_actor)
    resident, _ = await sign_up(client)
    subject = f"u-{uuid.uuid4().hex[:10]}"
    await bind(client, source.headers, resident, subject)
    at = datetime.now(timezone.utc) - timedelta(hours=1)
    ids = [(await _push(client, source.headers, [record(f"{b}-{i}", subject, behaviour="walk_step", quantity=150,
                                                        unit="step", at=at) for i in range(100)]
                        + [record(f"0-{b}", subject, behaviour="walk_step", quantity=150, unit="step", at=at)])
            ).json()["batch_id"] for b in range(3)]
    with transaction(session_factory) as s:
        first = personal.account_batch(s, ids[1], unbound_wait_days=30)
    with session_factory() as s:  # the pass took the source's three waiting batches (the asked one first)
        assert s.execute(text("SELECT count(*) FROM behaviour_batches WHERE id = ANY(:i) AND status = 'accounted'"),
                         {"i": ids}).scalar() == 3
    answers = []
    for batch_id in ids:  # their own activities find them accounted and answer the same counts
        with transaction(session_factory) as s:
            answers.append(personal.account_batch(s, batch_id, unbound_wait_days=30))
    assert answers[1] == first
    # 300 records of 150 steps (+ 0-0, 0-1, 0-2 sent again: duplicates, within the pass too) = 45,000 steps,
    # capped at 20,000 for the day: 6 g.
    assert sum(a.grams for a in answers) == 6
    assert [a.counts.get("duplicate", 0) for a in answers] == [1, 1, 1]
    balance = (await client.get(f"{P}/personal-account", headers=resident)).json()["balance_g"]
    assert balance == 6


async def test_a_day_row_changed_meanwhile_is_credited_again_locked_and_never_exceeds_the_cap(
        client, operator, make_actor, methodology, session_factory, temporal_env, monkeypatch):
    """The accounting reads the day rows without a lock and writes them only if unchanged: here another
    transaction (as another source's pass would) credits the same day after the read; the write finds the
    row changed (`CreditConflict`), the pass rolls back to its savepoint and credits again with the day rows
    locked, counting what the other credited."""
    source, _ = await approve_source(client, operator, make_actor)
    resident, _ = await sign_up(client)
    subject = f"u-{uuid.uuid4().hex[:10]}"
    await bind(client, source.headers, resident, subject)
    at = datetime.now(timezone.utc) - timedelta(hours=1)
    walk = [record("first", subject, behaviour="walk_step", quantity=1000, unit="step", at=at)]
    with transaction(session_factory) as s:
        personal.account_batch(s, (await _push(client, source.headers, walk)).json()["batch_id"],
                               unbound_wait_days=30)
    batch_id = (await _push(client, source.headers, [record(i, subject, behaviour="walk_step", quantity=150,
                                                            unit="step", at=at) for i in range(200)])).json()["batch_id"]
    number = (await client.get(f"{P}/personal-account", headers=resident)).json()["account_number"]
    day = {"n": number, "sql": "behaviour_code = 'walk_step' AND account_id = "
                                "(SELECT id FROM personal_accounts WHERE account_number = :n)"}
    other = session_factory()
    other.execute(text("UPDATE personal_daily_credits SET used_milli = used_milli + 5000000, grams = grams + 1 "
                       f"WHERE {day['sql']}"), {"n": number})

    def account():
        with transaction(session_factory) as s:
            return personal.account_batch(s, batch_id, unbound_wait_days=30)

    conflicts = []
    real = personal._credit

    def credit(session, *, lock, **kw):
        try:
            return real(session, lock=lock, **kw)
        except personal.CreditConflict:
            conflicts.append(True)
            raise

    monkeypatch.setattr(personal, "_credit", credit)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        attempt = pool.submit(account)
        try:
            for _ in range(300):  # until the pass waits on the row the other transaction changed
                with session_factory() as s:
                    if s.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                      "AND query LIKE '%UPDATE personal_daily_credits%'")).scalar():
                        break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the pass never waited on the changed day row")
            other.commit()
        finally:
            other.close()  # (rolls back on a failure above, so that the pass is not left waiting)
        result = attempt.result(timeout=30)
    assert conflicts == [True]  # the unlocked attempt saw the change
    # 1,000 + 5,000 steps counted before: 14,000 of 30,000 fit (93 records in full, one in part)
    assert result.counts == {"credited": 93, "capped": 107}
    with session_factory() as s:
        used = s.execute(text(f"SELECT used_milli FROM personal_daily_credits WHERE {day['sql']}"),
                         {"n": number}).scalar()
    assert used == 20_000 * 1000  # the cap, not 1,000 + 5,000 + 19,000 steps
