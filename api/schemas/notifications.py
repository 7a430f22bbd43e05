from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class InboxEntry(BaseModel):
    id: int  # the notification's id
    kind: str
    subject: str
    body: str
    case_id: str | None
    occurred_at: datetime
    read_at: datetime | None


class InboxPage(BaseModel):
    items: list[InboxEntry]
    next_before: int | None  # pass as `before` for the next (older) page; None on the last page
