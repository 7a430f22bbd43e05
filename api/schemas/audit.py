from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    occurred_at: datetime
    actor_user_id: int | None
    actor_role: str | None
    action: str
    entity_type: str
    entity_id: str | None
    case_id: str | None
    workflow_id: str | None
    details: dict[str, Any]
    hash: str


class ChainReportOut(BaseModel):
    ok: bool
    events: int
    first_bad_id: int | None
    reason: str | None
