"""Request and answer bodies of personal reductions (SPEC §2.5)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchAccepted(BaseModel):
    batch_id: int
    case_id: str
    records: int
    status: str


class BatchOut(BaseModel):
    batch_id: int
    case_id: str
    records: int
    status: str = Field(description="received | accounted | awaiting_binding (some records wait for a binding)")
    received_at: datetime
    accounted_at: datetime | None
    counts: dict[str, int] = Field(description="records per outcome now")
    grams: int = Field(description="grams credited by this batch so far")


class RecordOut(BaseModel):
    line_no: int
    source_event_id: str | None
    behaviour_code: str | None
    quantity: str | None = Field(description="as a decimal with 3 places (the unit of the behaviour)")
    occurred_at: datetime
    outcome: str | None
    reason: str | None
    grams: int | None


class BindingCodeIn(Strict):
    subject_ref: str = Field(min_length=1, max_length=128, description="your pseudonymous id of the user")


class BindingCodeOut(BaseModel):
    code: str = Field(description="one-time code; the user enters it in their personal account")
    expires_at: datetime


class ResidentIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    password: str = Field(min_length=1, max_length=256)


class ResidentSignIn(Strict):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class ResidentOut(BaseModel):
    user_id: int
    account_number: str
    token: str = Field(description="bearer token (tph_…); shown once")
    expires_at: datetime


class PersonalAccountOut(BaseModel):
    account_number: str
    balance_g: int = Field(description="grams CO2e")
    created_at: datetime


class StatementLine(BaseModel):
    day: date
    behaviour: str
    grams: int


class BindingIn(Strict):
    code: str = Field(min_length=1, max_length=40)


class BindingOut(BaseModel):
    id: int
    source_id: int
    source_name: str
    bound_at: datetime
    unbound_at: datetime | None
    credited_records: int = 0
    credited_grams: int = 0


class DataSourceIn(Strict):
    organisation_id: int
    behaviours: list[str] = Field(min_length=1, max_length=100)


class StatusIn(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class DataSourceOut(BaseModel):
    id: int
    organisation_id: int
    organisation_name: str
    status: str
    approved_at: datetime
    suspended_at: datetime | None
    suspended_reason: str | None
    behaviours: list[str]


class StatisticsLine(BaseModel):
    day: date
    outcome: str
    records: int
    grams: int
