from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.schemas.types import IsoAwareDatetime

from domain.policy import PolicyParameters


class PolicyChangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameter: str = Field(min_length=1, max_length=60, description="a field of the policy parameters")
    value: StrictInt
    effective_from: IsoAwareDatetime | None = Field(default=None, description="omitted: effective at once")
    reason: str = Field(min_length=1, max_length=2000)


class PolicyChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    parameter: str
    value: int
    effective_from: datetime
    changed_by: int
    reason: str
    created_at: datetime


class ScheduledChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    parameter: str
    value: int
    effective_from: datetime
    reason: str


class PolicyOut(BaseModel):
    as_of: datetime
    in_force: PolicyParameters
    scheduled: list[ScheduledChangeOut]
