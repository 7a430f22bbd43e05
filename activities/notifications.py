"""The `notify` activity (writes the outbox) and the webhook relay the worker runs beside it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain import notifications as rules
from domain.clock import now_utc
from domain.contracts.notifications import NOTIFY, Notification
from settings import Settings
from store import notifications
from store.models.identity import Organisation
from store.models.notifications import Notification as NotificationRow
from store.models.notifications import WebhookDelivery
from store.session import transaction

log = logging.getLogger(__name__)


class NotificationActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=NOTIFY)
    def notify(self, message: Notification) -> int:
        """Returns the notification id; a retry (same dedupe_key) writes nothing twice."""
        with transaction(self.session_factory) as session:
            # Webhooks are due from the relay's (wall) clock, not the workflow's.
            return notifications.notify(session, message, now=now_utc())


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [NotificationActivities(session_factory)]


@dataclass(frozen=True)
class _Attempt:
    delivery_id: int
    attempts: int
    url: str | None
    secret: str | None
    body: bytes


def _payload(delivery: WebhookDelivery, n: NotificationRow) -> bytes:
    return json.dumps({
        "delivery_id": delivery.id, "notification_id": n.id, "kind": n.kind, "subject": n.subject,
        "body": n.body, "case_id": n.case_id, "occurred_at": n.occurred_at.isoformat(),
    }, ensure_ascii=False, separators=(",", ":")).encode()


def _post(http: httpx.Client, a: _Attempt, now: datetime) -> str | None:
    """None when the receiver answered 2xx, else why not."""
    if not a.url:
        return "the organisation has no webhook URL any more"
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        rules.TIMESTAMP_HEADER: str(timestamp),
        rules.SIGNATURE_HEADER: rules.signature(a.secret or "", timestamp, a.body),
        rules.DELIVERY_HEADER: str(a.delivery_id),
    }
    try:
        response = http.post(a.url, content=a.body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    return None if response.is_success else f"HTTP {response.status_code}"


def deliver_due(
    session_factory: sessionmaker[Session],
    now: datetime,
    http: httpx.Client,
    *,
    max_attempts: int = rules.MAX_ATTEMPTS,
    batch: int = 20,
    lease: timedelta = timedelta(minutes=5),
) -> int:
    """One relay step: POST every due delivery once and record the outcome; returns how many were tried.

    Claiming commits before any POST, so no transaction stays open across the network and several
    relays (one per worker) share the work.
    """
    with transaction(session_factory) as session:
        claimed = notifications.claim_due(session, now=now, lease=lease, batch=batch)
        attempts = []
        for d in claimed:
            n = session.get(NotificationRow, d.notification_id)
            org = session.get(Organisation, d.organisation_id)
            attempts.append(_Attempt(d.id, d.attempts, org.webhook_url, org.webhook_secret, _payload(d, n)))
    for a in attempts:
        error = _post(http, a, now)
        if error is None:
            values: dict[str, Any] = {"status": "delivered", "delivered_at": now, "last_error": None}
        elif a.attempts >= max_attempts or not a.url:
            values = {"status": "failed", "last_error": error}
        else:
            values = {"next_attempt_at": now + rules.retry_delay(a.attempts), "last_error": error}
        if error is not None:
            log.warning("webhook delivery %s attempt %s failed: %s", a.delivery_id, a.attempts, error)
        with transaction(session_factory) as session:
            # Only while still ours: if the lease ran out and another relay claimed it, its outcome counts.
            session.execute(update(WebhookDelivery).where(
                WebhookDelivery.id == a.delivery_id, WebhookDelivery.status == "pending",
                WebhookDelivery.attempts == a.attempts).values(**values))
    return len(attempts)


async def run_webhook_relay(
    session_factory: sessionmaker[Session], stop: asyncio.Event, *, idle_seconds: float = 2.0,
    http: httpx.Client | None = None,
) -> None:
    """Deliver webhooks until `stop` is set: at once while work is due, else every `idle_seconds`."""
    with contextlib.ExitStack() as stack:
        http = http or stack.enter_context(httpx.Client(timeout=10.0))
        while not stop.is_set():
            try:
                tried = await asyncio.to_thread(deliver_due, session_factory, now_utc(), http)
            except Exception:  # the database may be briefly away; keep relaying
                log.exception("webhook relay step failed")
                tried = 0
            if tried == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle_seconds)
