"""The generic case register: every process case, its owner, stage and participants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

MIRROR_CASE = "mirror_case"
GRANT_CASE_ACCESS = "grant_case_access"


class CaseMirror(BaseModel):
    """Upsert the case row with its current stage (idempotent: the same stage twice changes nothing)."""

    case_id: str  # business id = workflow id, e.g. methodology-42
    case_type: str
    stage: str
    occurred_at: datetime
    owner_organisation_id: int | None = None
    title: str | None = None
    deadline: datetime | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class CaseAccessGrant(BaseModel):
    """Let a user or organisation see a case and its documents (an assigned expert, a verifier)."""

    case_id: str
    capacity: str  # expert, verifier, …
    granted_at: datetime
    user_id: int | None = None
    organisation_id: int | None = None
    revoke: bool = False


# Every process workflow (and the review) answers this query, for the admin view of workflows.
CASE_STATE_QUERY = "case_state"


class OpenTask(BaseModel):
    task_id: str
    kind: str  # review, resubmission, verification, publicity, …
    assignee: str | None = None  # a role or "expert:<roster id>", never personal data
    due: datetime | None = None
    overdue: bool = False


class CaseView(BaseModel):
    case_id: str
    case_type: str
    stage: str
    deadline: datetime | None = None
    open_tasks: list[OpenTask] = Field(default_factory=list)
