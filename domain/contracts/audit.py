from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

RECORD_AUDIT = "record_audit"


class AuditRecord(BaseModel):
    """One audit event written by a workflow; `dedupe_key` makes a retried activity write it once."""

    dedupe_key: str
    occurred_at: datetime  # workflow.now(), never the activity's clock
    action: str
    entity_type: str
    entity_id: str | None = None
    case_id: str | None = None
    workflow_id: str | None = None
    actor_user_id: int | None = None
    actor_role: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
