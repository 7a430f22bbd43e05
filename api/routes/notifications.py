"""The caller's in-app inbox (issue: notifications). Nobody reads or marks another user's inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, DbSession
from api.errors import not_found
from api.schemas.notifications import InboxEntry, InboxPage
from domain.clock import now_utc
from store import notifications

router = APIRouter(prefix="/notifications", tags=["notifications"])


def _entry(row) -> InboxEntry:
    n, read_at = row
    return InboxEntry(id=n.id, kind=n.kind, subject=n.subject, body=n.body, case_id=n.case_id,
                      occurred_at=n.occurred_at, read_at=read_at)


@router.get("", response_model=InboxPage, summary="The caller's notifications, newest first")
def list_notifications(
    session: DbSession,
    user: CurrentUser,
    unread: Annotated[bool, Query(description="only those not yet read")] = False,
    before: Annotated[int | None, Query(ge=1, description="next_before of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    rows = notifications.inbox(session, user.id, unread_only=unread, before=before, limit=limit + 1)
    items = [_entry(r) for r in rows[:limit]]
    return InboxPage(items=items, next_before=items[-1].id if len(rows) > limit else None)


@router.post("/{notification_id}/read", response_model=InboxEntry, summary="Mark one of the caller's notifications read")
def mark_read(notification_id: int, session: DbSession, user: CurrentUser):
    row = notifications.mark_read(session, user.id, notification_id, now=now_utc())
    if row is None:
        raise not_found(f"notification {notification_id}")
    session.commit()
    return _entry(row)
