"""Notifications: the notify activity on a real worker, the private inbox, signed webhook delivery with retries."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from temporalio import workflow
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import httpx
    from sqlalchemy import func, select, update

    from activities import notifications as notification_activities
    from activities.notifications import deliver_due, run_webhook_relay
    from activities.registry import collect
    from domain import notifications as rules
    from domain.contracts.notifications import NOTIFY, Notification
    from domain.roles import OrganisationStatus, OrganisationType, Role
    from store import identity, notifications
    from store.models.identity import Organisation, User
    from store.models.notifications import InboxItem, WebhookDelivery
    from store.models.notifications import Notification as NotificationRow

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@workflow.defn(name="NotifyTwiceTest")
class NotifyTwice:
    """Stands for any process workflow that notifies, with the activity retried as a whole."""

    @workflow.run
    async def run(self, message: Notification) -> list[int]:
        return [await workflow.execute_activity(NOTIFY, message, result_type=int,
                                                start_to_close_timeout=timedelta(seconds=30)) for _ in range(2)]


def _message(**kw) -> Notification:
    return Notification(**{"dedupe_key": f"test-{uuid.uuid4().hex}", "occurred_at": T0, "kind": "review.task_assigned",
                           "subject": "A review task is assigned", "body": "Please review.", "case_id": "methodology-1",
                           **kw})


def _org_with_webhook(session_factory, url: str | None) -> Organisation:
    with session_factory() as s, s.begin():
        return identity.create_organisation(s, name=f"hooked-{uuid.uuid4().hex[:8]}", org_type=OrganisationType.ENTERPRISE,
                                            webhook_url=url, status=OrganisationStatus.ACTIVE)


def _notify(session_factory, message: Notification, now: datetime = T0) -> int:
    with session_factory() as s, s.begin():
        return notifications.notify(s, message, now=now)


async def test_notify_activity_writes_each_recipient_once(temporal_env, session_factory, settings, activity_executor,
                                                          make_actor, db):
    hooked = _org_with_webhook(session_factory, "http://127.0.0.1:9/hook")
    plain = _org_with_webhook(session_factory, None)
    staff = [make_actor(Role.APPLICANT, org=hooked) for _ in range(2)]
    gone = make_actor(Role.APPLICANT, org=hooked)
    db.execute(update(User).where(User.id == gone.id).values(active=False))
    db.commit()
    expert = make_actor(Role.EXPERT)
    operators = [make_actor(Role.OPERATOR_ADMIN) for _ in range(2)]
    bystander = make_actor(Role.APPLICANT, org=plain)
    message = _message(recipient_user_ids=[expert.id, staff[0].id], recipient_organisation_ids=[hooked.id, plain.id],
                       recipient_roles=[Role.OPERATOR_ADMIN.value])

    queue = f"notify-{uuid.uuid4().hex[:8]}"
    async with Worker(temporal_env.client, task_queue=queue, workflows=[NotifyTwice],
                      activities=collect(notification_activities.activities(session_factory, settings)),
                      activity_executor=activity_executor, workflow_failure_exception_types=[Exception]):
        first = await temporal_env.client.execute_workflow(NotifyTwice.run, message, id=f"wf-{uuid.uuid4()}",
                                                           task_queue=queue)
        again = await temporal_env.client.execute_workflow(NotifyTwice.run, message, id=f"wf-{uuid.uuid4()}",
                                                           task_queue=queue)

    assert len(set(first + again)) == 1
    recipients = db.scalars(select(InboxItem.user_id).where(InboxItem.notification_id == first[0])).all()
    assert sorted(recipients) == sorted([expert.id, *(a.id for a in staff), *(o.id for o in operators), bystander.id])
    assert db.scalar(select(func.count()).select_from(NotificationRow)) == 1
    deliveries = db.scalars(select(WebhookDelivery)).all()
    assert [(d.organisation_id, d.status, d.attempts) for d in deliveries] == [(hooked.id, "pending", 0)]


async def test_a_user_named_alone_does_not_trigger_their_organisations_webhook(session_factory, make_actor, db):
    hooked = _org_with_webhook(session_factory, "http://127.0.0.1:9/hook")
    member = make_actor(Role.APPLICANT, org=hooked)
    _notify(session_factory, _message(recipient_user_ids=[member.id]))
    assert db.scalar(select(func.count()).select_from(InboxItem)) == 1
    assert db.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


async def test_the_inbox_is_private(client, make_actor, session_factory):
    alice, bob = make_actor(Role.APPLICANT), make_actor(Role.APPLICANT)
    ids = [_notify(session_factory, _message(subject=f"to alice {i}", recipient_user_ids=[alice.id])) for i in range(3)]
    bobs = _notify(session_factory, _message(subject="to bob", recipient_user_ids=[bob.id]))

    r = await client.get("/api/v1/notifications", headers=alice.headers)
    assert r.status_code == 200
    assert [n["id"] for n in r.json()["items"]] == ids[::-1] and r.json()["next_before"] is None
    r = await client.get("/api/v1/notifications", headers=bob.headers)
    assert [n["subject"] for n in r.json()["items"]] == ["to bob"]

    # Bob can neither mark Alice's notification nor learn that it exists.
    r = await client.post(f"/api/v1/notifications/{ids[0]}/read", headers=bob.headers)
    assert r.status_code == 404
    r = await client.post("/api/v1/notifications/999999/read", headers=bob.headers)
    assert r.status_code == 404
    assert (await client.get("/api/v1/notifications")).status_code == 401
    assert (await client.post(f"/api/v1/notifications/{bobs}/read")).status_code == 401

    first = await client.post(f"/api/v1/notifications/{ids[0]}/read", headers=alice.headers)
    assert first.status_code == 200 and first.json()["read_at"] is not None
    again = await client.post(f"/api/v1/notifications/{ids[0]}/read", headers=alice.headers)
    assert again.status_code == 200 and again.json()["read_at"] == first.json()["read_at"]
    unread = await client.get("/api/v1/notifications", params={"unread": True}, headers=alice.headers)
    assert [n["id"] for n in unread.json()["items"]] == [ids[2], ids[1]]
    r = await client.get("/api/v1/notifications", params={"unread": True}, headers=bob.headers)
    assert [n["read_at"] for n in r.json()["items"]] == [None]


async def test_inbox_pages_by_keyset(client, make_actor, session_factory):
    alice = make_actor(Role.INDIVIDUAL)
    ids = [_notify(session_factory, _message(recipient_user_ids=[alice.id])) for _ in range(5)]
    seen, before = [], None
    while True:
        params = {"limit": 2, **({"before": before} if before else {})}
        page = (await client.get("/api/v1/notifications", params=params, headers=alice.headers)).json()
        seen += [n["id"] for n in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == ids[::-1]
    r = await client.get("/api/v1/notifications", params={"limit": 0}, headers=alice.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"


class _Receiver:
    """A webhook receiver on 127.0.0.1 that answers with the given statuses in turn (the last one repeats)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses[min(len(receiver.requests), len(receiver.statuses)) - 1]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0, trust_env=False) as c:  # loopback only: no proxy from the environment
        yield c


@pytest.fixture
def receiver_factory():
    made: list[_Receiver] = []

    def make(statuses: list[int]) -> _Receiver:
        made.append(_Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _delivery(db) -> WebhookDelivery:
    db.expire_all()
    return db.scalars(select(WebhookDelivery)).one()


async def test_webhook_is_signed_and_retried_after_a_500(session_factory, receiver_factory, http, db):
    receiver = receiver_factory([500, 204])
    org = _org_with_webhook(session_factory, receiver.url)
    notification_id = _notify(session_factory, _message(recipient_organisation_ids=[org.id]))

    assert deliver_due(session_factory, T0, http) == 1
    d = _delivery(db)
    assert (d.status, d.attempts, d.last_error) == ("pending", 1, "HTTP 500")
    assert d.next_attempt_at == T0 + rules.retry_delay(1)
    assert deliver_due(session_factory, T0 + timedelta(seconds=29), http) == 0  # backing off

    later = T0 + rules.retry_delay(1)
    assert deliver_due(session_factory, later, http) == 1
    d = _delivery(db)
    assert (d.status, d.attempts, d.delivered_at, d.last_error) == ("delivered", 2, later, None)
    assert deliver_due(session_factory, later + timedelta(days=1), http) == 0
    assert len(receiver.requests) == 2

    headers, body = receiver.requests[-1]
    timestamp = int(headers[rules.TIMESTAMP_HEADER])
    assert timestamp == int(later.timestamp())
    assert headers[rules.SIGNATURE_HEADER] == rules.signature(org.webhook_secret, timestamp, body)
    assert headers[rules.SIGNATURE_HEADER] != rules.signature("another secret", timestamp, body)
    assert headers["Content-Type"] == "application/json" and headers[rules.DELIVERY_HEADER] == str(d.id)
    sent = json.loads(body)
    assert (sent["notification_id"], sent["kind"], sent["case_id"]) == (notification_id, "review.task_assigned",
                                                                        "methodology-1")


async def test_webhook_fails_after_the_attempt_limit(session_factory, receiver_factory, http, db):
    receiver = receiver_factory([500])
    org = _org_with_webhook(session_factory, receiver.url)
    _notify(session_factory, _message(recipient_organisation_ids=[org.id]))
    now = T0
    for attempt in range(1, 4):
        assert deliver_due(session_factory, now, http, max_attempts=3) == 1
        now += rules.retry_delay(attempt)
    d = _delivery(db)
    assert (d.status, d.attempts, d.last_error) == ("failed", 3, "HTTP 500")
    assert deliver_due(session_factory, now + timedelta(days=1), http, max_attempts=3) == 0
    assert len(receiver.requests) == 3


async def test_unreachable_receiver_counts_as_a_failed_attempt(session_factory, http, db):
    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    closed_port = probe.server_address[1]
    probe.server_close()
    org = _org_with_webhook(session_factory, f"http://127.0.0.1:{closed_port}/hook")
    _notify(session_factory, _message(recipient_organisation_ids=[org.id]))
    assert deliver_due(session_factory, T0, http) == 1
    d = _delivery(db)
    assert d.status == "pending" and d.attempts == 1 and d.last_error.startswith("ConnectError")


async def test_a_claimed_delivery_is_skipped_by_other_relays(session_factory, db):
    org = _org_with_webhook(session_factory, "http://127.0.0.1:9/hook")
    _notify(session_factory, _message(recipient_organisation_ids=[org.id]))
    with session_factory() as first, first.begin():
        assert len(notifications.claim_due(first, now=T0, lease=timedelta(minutes=5), batch=10)) == 1
        with session_factory() as second, second.begin():
            assert notifications.claim_due(second, now=T0, lease=timedelta(minutes=5), batch=10) == []
    # Leased after the claim: another relay takes it only once the lease has run out.
    with session_factory() as s, s.begin():
        assert notifications.claim_due(s, now=T0 + timedelta(minutes=4), lease=timedelta(minutes=5), batch=10) == []
        assert len(notifications.claim_due(s, now=T0 + timedelta(minutes=5), lease=timedelta(minutes=5), batch=10)) == 1


async def test_relay_loop_delivers_and_stops(session_factory, receiver_factory, http, db):
    receiver = receiver_factory([200])
    org = _org_with_webhook(session_factory, receiver.url)
    stop = asyncio.Event()
    relay = asyncio.create_task(run_webhook_relay(session_factory, stop, idle_seconds=0.05, http=http))
    # Due from the database clock: the relay picks it up on its next step.
    with session_factory() as s, s.begin():
        notifications.notify(s, _message(recipient_organisation_ids=[org.id]), now=identity.now_utc())
    for _ in range(200):
        if receiver.requests:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(relay, 5)
    assert len(receiver.requests) == 1
    assert _delivery(db).status == "delivered"


async def test_the_worker_process_runs_the_relay(local_temporal_env, settings, session_factory, receiver_factory, db):
    import worker

    receiver = receiver_factory([200])
    org = _org_with_webhook(session_factory, receiver.url)
    with session_factory() as s, s.begin():
        notifications.notify(s, _message(recipient_organisation_ids=[org.id]), now=identity.now_utc())
    process_settings = settings.model_copy(update={
        "temporal_address": local_temporal_env.client.service_client.config.target_host,
        "task_queue": f"relay-{uuid.uuid4().hex[:8]}"})
    running = asyncio.create_task(worker.run(process_settings))
    for _ in range(200):
        if receiver.requests or running.done():
            break
        await asyncio.sleep(0.05)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(running, 10)
    # A cancelled run shuts its Temporal worker down: none is left polling (or stuck starting) behind it.
    assert [t for t in asyncio.all_tasks() if not t.done() and t.get_coro().__qualname__ == "Worker.run"] == []
    assert len(receiver.requests) == 1
    assert _delivery(db).status == "delivered"


async def test_a_removed_webhook_url_fails_the_delivery_at_once(session_factory, http, db):
    org = _org_with_webhook(session_factory, "http://127.0.0.1:9/hook")
    _notify(session_factory, _message(recipient_organisation_ids=[org.id]))
    db.execute(update(Organisation).where(Organisation.id == org.id).values(webhook_url=None))
    db.commit()
    assert deliver_due(session_factory, T0, http) == 1
    d = _delivery(db)
    assert (d.status, d.attempts, d.last_error) == ("failed", 1, "the organisation has no webhook URL any more")


def test_retry_delay_doubles_up_to_an_hour():
    assert [rules.retry_delay(n) for n in (1, 2, 3, 4)] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert rules.retry_delay(30) == timedelta(hours=1)
