from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from domain.roles import OrganisationStatus, OrganisationType, Role


class OrganisationCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    org_type: OrganisationType
    credit_code: str | None = Field(default=None, pattern=r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$",
                                    description="统一社会信用代码, 18 characters")
    webhook_url: HttpUrl | None = None


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    org_type: OrganisationType
    status: OrganisationStatus
    credit_code: str | None
    webhook_url: str | None
    status_reason: str | None
    created_at: datetime


class OrganisationCreated(OrganisationOut):
    webhook_secret: str | None = Field(description="HMAC key for webhook signatures; shown once")


class StatusChange(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    organisation_id: int | None = None
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    role: Role
    organisation_id: int | None
    email: str | None
    active: bool


class TokenCreate(BaseModel):
    label: str | None = Field(default=None, max_length=100)
    ttl_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    user_id: int
    label: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class TokenIssued(TokenOut):
    token: str = Field(description="The bearer secret; shown once, never stored")
