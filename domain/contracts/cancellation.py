"""The cancellation case (注销, SPEC §2.6, Art. 29): one workflow per application, `cancellation-{n}`.

The units are reserved by the API when the holder applies (at once, in the same transaction as the
application); the case then waits for the operator's confirmation (retire + certificate) or rejection,
or the holder's withdrawal (release), with a reminder and an overdue entry for the operator. A case
on the kit (workflows/kit.py): its steps are the kit's record_case_step; the ledger writes are
activities of their own, idempotent on the cancellation.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.contracts.cases import Actor

CASE_TYPE = "cancellation"
CANCELLATION_WORKFLOW = "CancellationCase"
CANCELLATION_STATE_QUERY = "cancellation_state"

UPDATE_DECIDE = "decide"
UPDATE_WITHDRAW = "withdraw"

CONFIRM_CANCELLATION = "confirm_cancellation"
RELEASE_CANCELLATION = "release_cancellation"


def case_id(cancellation_id: int) -> str:
    return f"cancellation-{cancellation_id}"


class Stage(StrEnum):
    AWAITING_DECISION = "awaiting_decision"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


TERMINAL_STAGES = frozenset({Stage.CONFIRMED, Stage.REJECTED, Stage.WITHDRAWN})


class CancellationStart(BaseModel):
    case_id: str
    deployment_id: str
    cancellation_id: int
    applicant: Actor
    holder_organisation_id: int | None  # None: an individual's own account
    holder_user_id: int | None
    account_number: str
    quantity: int
    applied_at: datetime


class Decision(BaseModel):
    actor: Actor
    confirm: bool
    reason: str | None = Field(default=None, max_length=4000)


class Withdrawal(BaseModel):
    actor: Actor
    reason: str | None = Field(default=None, max_length=4000)


class CancellationState(BaseModel):
    case_id: str
    cancellation_id: int
    stage: Stage
    due: datetime | None = None
    reminded: bool = False
    overdue: bool = False
    certificate_number: str | None = None
    reason: str | None = None


class ConfirmRequest(BaseModel):
    cancellation_id: int
    at: datetime
    actor_user_id: int


class ConfirmResult(BaseModel):
    certificate_number: str
    quantity: int
    serial_ranges: list[str]


class ReleaseRequest(BaseModel):
    cancellation_id: int
    status: str  # rejected, withdrawn
    reason: str | None
    at: datetime
    actor_user_id: int
