"""The outbox: writing notifications idempotently, the inbox, and claiming webhook deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.contracts.notifications import Notification as NotificationMessage
from store.models.identity import Organisation, User
from store.models.notifications import InboxItem, Notification, WebhookDelivery


def notify(session: Session, message: NotificationMessage, *, now: datetime) -> int:
    """Write the notification, one inbox row per recipient and a pending webhook delivery per addressed
    organisation with a webhook URL; a repeat with the same dedupe_key writes nothing and returns the id.

    Recipients are the active users named, of the organisations named and with the roles named. Only
    organisations addressed as such get a webhook delivery: a message to one user (an expert, say) is not
    sent to their affiliation's systems.
    """
    values = message.model_dump(include={"dedupe_key", "kind", "subject", "body", "case_id", "occurred_at"})
    # Core statements: this runs inside stage changes of every process.
    table = Notification.__table__
    new_id = session.scalar(insert(table).values(**values)
                            .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id))
    if new_id is None:  # written by an earlier attempt, in full (one transaction)
        return session.scalar(select(Notification.id).where(Notification.dedupe_key == message.dedupe_key))

    who = []
    if message.recipient_user_ids:
        who.append(User.id.in_(message.recipient_user_ids))
    if message.recipient_organisation_ids:
        who.append(User.organisation_id.in_(message.recipient_organisation_ids))
    if message.recipient_roles:
        who.append(User.role.in_(message.recipient_roles))
    if who:
        user_ids = session.scalars(select(User.id).where(User.active, or_(*who))).all()
        if user_ids:
            session.execute(insert(InboxItem.__table__).values([{"notification_id": new_id, "user_id": u} for u in user_ids])
                            .on_conflict_do_nothing())
    if message.recipient_organisation_ids:
        org_ids = session.scalars(select(Organisation.id).where(
            Organisation.id.in_(message.recipient_organisation_ids), Organisation.webhook_url.is_not(None))).all()
        if org_ids:
            session.execute(insert(WebhookDelivery.__table__).values(
                [{"notification_id": new_id, "organisation_id": o, "next_attempt_at": now} for o in org_ids])
                .on_conflict_do_nothing())
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
