"""The accounting of a behaviour batch (SPEC §2.5, Art. 22): one case workflow per batch,
`behaviour-batch-{id}`. Its payloads carry ids and counts only: never a record, a subject reference, a
name or an account (Art. 15, 33)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

CASE_TYPE = "behaviour_batch"
BATCH_WORKFLOW = "BehaviourBatchCase"
BATCH_STATE_QUERY = "behaviour_batch_state"

ACCOUNT_BATCH = "account_behaviour_batch"
EXPIRE_WAITING = "expire_waiting_records"


def case_id(batch_id: int) -> str:
    return f"behaviour-batch-{batch_id}"


class Stage(StrEnum):
    RECEIVED = "received"
    AWAITING_BINDING = "awaiting_binding"  # some records wait for their residents to bind
    ACCOUNTED = "accounted"


FINAL_STAGES = frozenset({Stage.ACCOUNTED})


class BatchStart(BaseModel):
    case_id: str
    deployment_id: str
    batch_id: int
    source_organisation_id: int
    records: int
    received_at: datetime


class AccountRequest(BaseModel):
    batch_id: int
    unbound_wait_days: int


class AccountResult(BaseModel):
    counts: dict[str, int] = Field(default_factory=dict)  # outcome → records
    grams: int = 0
    waiting: int = 0
    expires_at: datetime | None = None


class ExpireRequest(BaseModel):
    batch_id: int


class ExpireResult(BaseModel):
    expired: int


class BatchState(BaseModel):
    case_id: str
    batch_id: int
    stage: Stage
    counts: dict[str, int] = Field(default_factory=dict)
    expires_at: datetime | None = None
