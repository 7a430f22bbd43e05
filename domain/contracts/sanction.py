"""Sanctions (SPEC §2.7, Art. 33): the operator or the exchange suspends or terminates a participant;
one case per sanction, `sanction-{n}`.

imposing (status set → every open case told → units frozen) → in_force, or → terminated (final);
in_force → (reinstatement) lifting (units unfrozen → cases told → status active) → lifted. Every step
is an idempotent activity or signal and a recorded, audited step, so a worker dying anywhere leaves
the same end state once the case runs on.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.contracts.cases import Actor

CASE_TYPE = "sanction"
SANCTION_WORKFLOW = "SanctionCase"
SANCTION_STATE_QUERY = "sanction_state"

UPDATE_REINSTATE = "reinstate"

SET_PARTICIPANT_STATUS = "set_participant_status"
FREEZE_PARTICIPANT_UNITS = "freeze_participant_units"
CASES_OF_PARTICIPANT = "cases_of_participant"

SUSPEND, TERMINATE = "suspend", "terminate"


def case_id(sanction_id: int) -> str:
    return f"sanction-{sanction_id}"


class Stage(StrEnum):
    IMPOSING = "imposing"
    IN_FORCE = "in_force"
    TERMINATED = "terminated"
    LIFTING = "lifting"
    LIFTED = "lifted"


FINAL_STAGES = frozenset({Stage.TERMINATED, Stage.LIFTED})


class SanctionStart(BaseModel):
    case_id: str
    deployment_id: str
    sanction_id: int
    organisation_id: int
    measure: str  # suspend, terminate
    reason: str
    report_id: int | None = None
    actor: Actor
    imposed_at: datetime


class Reinstatement(BaseModel):
    actor: Actor
    reason: str = Field(min_length=1, max_length=4000)


class SanctionState(BaseModel):
    case_id: str
    sanction_id: int
    organisation_id: int
    measure: str
    stage: Stage
    progress: list[str] = Field(default_factory=list)  # the steps done, in order
    cases_told: list[str] = Field(default_factory=list)
    froze_account: bool = False
    lift_reason: str | None = None
    lifted_at: datetime | None = None


class SanctionFacts(BaseModel):
    sanction_id: int
    stage: str
    cases_told: list[str]
    lift_reason: str | None
    lifted_at: datetime | None


class StatusRequest(BaseModel):
    sanction_id: int
    organisation_id: int
    status: str  # suspended, terminated, active
    reason: str
    actor_user_id: int


class FreezeRequest(BaseModel):
    sanction_id: int
    organisation_id: int
    freeze: bool
    reason: str
    at: datetime
    actor_user_id: int


class FreezeResult(BaseModel):
    account_number: str | None  # None: the participant holds no account
    froze_account: bool  # this sanction's freeze is on the account


class CasesRequest(BaseModel):
    organisation_id: int
