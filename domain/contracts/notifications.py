from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

NOTIFY = "notify"


class Notification(BaseModel):
    """A message to users: in-app inbox rows, and webhook deliveries for organisations with a URL."""

    dedupe_key: str  # a retried activity notifies once
    occurred_at: datetime
    kind: str  # e.g. review.task_assigned, review.task_reminder, methodology.returned
    subject: str
    body: str = ""
    case_id: str | None = None
    recipient_user_ids: list[int] = Field(default_factory=list)
    recipient_organisation_ids: list[int] = Field(default_factory=list)  # every active user of these
    recipient_roles: list[str] = Field(default_factory=list)  # every active user with these roles
