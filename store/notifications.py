"""The outbox: writing notifications idempotently, the inbox, and claiming webhook deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.contracts.notifications import Notification as NotificationMessage
from store.models.identity import Organisation, User
from store.models.notifications import InboxItem, Notification, WebhookDelivery


def _statements():
    notification = Notification.__table__
    recipients = select(User.id).where(User.active, or_(
        User.id.in_(bindparam("user_ids", expanding=True)),
        User.organisation_id.in_(bindparam("organisation_ids", expanding=True)),
        User.role.in_(bindparam("roles", expanding=True))))
    hooked = select(Organisation.id).where(Organisation.id.in_(bindparam("organisation_ids", expanding=True)),
                                           Organisation.webhook_url.is_not(None))
    return (insert(notification).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(notification.c.id),
            select(notification.c.id).where(notification.c.dedupe_key == bindparam("dedupe_key")),
            recipients, hooked,
            insert(InboxItem.__table__).on_conflict_do_nothing(),
            insert(WebhookDelivery.__table__).on_conflict_do_nothing())


# Built once: stage changes of every process notify (see store.cases._MIRROR).
_NOTIFICATION, _EXISTING, _RECIPIENTS, _HOOKED, _INBOX, _DELIVERY = _statements()


def notify(session: Session, message: NotificationMessage, *, now: datetime) -> int:
    """Write the notification, one inbox row per recipient and a pending webhook delivery per addressed
    organisation with a webhook URL; a repeat with the same dedupe_key writes nothing and returns the id.

    Recipients are the active users named, of the organisations named and with the roles named. Only
    organisations addressed as such get a webhook delivery: a message to one user (an expert, say) is not
    sent to their affiliation's systems.
    """
    values = message.model_dump(include={"dedupe_key", "kind", "subject", "body", "case_id", "occurred_at"})
    new_id = session.scalar(_NOTIFICATION, values)
    if new_id is None:  # written by an earlier attempt, in full (one transaction)
        return session.scalar(_EXISTING, {"dedupe_key": message.dedupe_key})
    organisation_ids = message.recipient_organisation_ids
    if message.recipient_user_ids or organisation_ids or message.recipient_roles:
        user_ids = session.scalars(_RECIPIENTS, {"user_ids": message.recipient_user_ids,
                                                 "organisation_ids": organisation_ids,
                                                 "roles": message.recipient_roles}).all()
        if user_ids:
            session.execute(_INBOX, [{"notification_id": new_id, "user_id": u} for u in user_ids])
    if organisation_ids:
        org_ids = session.scalars(_HOOKED, {"organisation_ids": organisation_ids}).all()
        if org_ids:
            session.execute(_DELIVERY, [{"notification_id": new_id, "organisation_id": o, "next_attempt_at": now}
                                        for o in org_ids])
    return new_id


def inbox(session: Session, user_id: int, *, unread_only: bool, before: int | None, limit: int):
    """The user's notifications, newest first, keyset-paged by notification id."""
    query = (select(Notification, InboxItem.read_at).join(InboxItem, InboxItem.notification_id == Notification.id)
             .where(InboxItem.user_id == user_id).order_by(Notification.id.desc()).limit(limit))
    if unread_only:
        query = query.where(InboxItem.read_at.is_(None))
    if before is not None:
        query = query.where(Notification.id < before)
    return session.execute(query).all()


def mark_read(session: Session, user_id: int, notification_id: int, *, now: datetime):
    """Mark the user's own inbox row read (the first read time is kept); None if the user has no such row."""
    session.execute(update(InboxItem).where(InboxItem.user_id == user_id, InboxItem.notification_id == notification_id,
                                            InboxItem.read_at.is_(None)).values(read_at=now))
    return session.execute(
        select(Notification, InboxItem.read_at).join(InboxItem, InboxItem.notification_id == Notification.id)
        .where(InboxItem.user_id == user_id, Notification.id == notification_id)).first()


def claim_due(session: Session, *, now: datetime, lease: timedelta, batch: int) -> list[WebhookDelivery]:
    """Take due pending deliveries that no other relay holds, counting the attempt and leasing them: a
    relay that dies mid-attempt leaves them due again when the lease ends."""
    due = list(session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(batch).with_for_update(skip_locked=True)))
    for d in due:
        d.attempts += 1
        d.next_attempt_at = now + lease
    session.flush()
    return due
