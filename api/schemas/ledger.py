"""Ledger requests and answers: trades, holdings, statements, serial history, freezes, disclosure."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_TEXT = {"min_length": 1, "max_length": 2000}
_RANGE = Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$",
               description="WH-…-000000001..000000010, or one serial number")


class TradeIn(BaseModel):
    """A trade the exchange has settled (Art. 27): whole tonnes from seller to buyer."""

    model_config = ConfigDict(extra="forbid")

    trade_ref: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$",
                           description="the exchange's own reference, unique per exchange")
    seller_account: str = Field(min_length=1, max_length=20)
    buyer_account: str = Field(min_length=1, max_length=20)
    quantity: int | None = Field(default=None, gt=0, le=10**9, description="whole tonnes")
    series: str | None = Field(default=None, max_length=120, description="narrow to one series (WH-YYYY-PPPPPP-METH-Vn)")
    vintage: int | None = Field(default=None, ge=1000, le=9999)
    serial_ranges: list[str] = Field(default_factory=list, max_length=100)
    settled_at: datetime | None = Field(default=None, description="when the exchange settled it (default: now)")

    @model_validator(mode="after")
    def _quantity_or_ranges(self) -> TradeIn:
        if self.serial_ranges and (self.series or self.vintage):
            raise ValueError("give serial_ranges or a series/vintage narrowing, not both")
        if self.quantity is None and not self.serial_ranges:
            raise ValueError("give a quantity or serial_ranges")
        return self


class TradeOut(BaseModel):
    trade_id: int
    trade_ref: str
    seller_account: str
    buyer_account: str
    quantity: int
    serial_ranges: list[str]
    settled_at: datetime
    recorded_at: datetime


class RangeOut(BaseModel):
    serial_range: str
    first_serial: str
    last_serial: str
    tonnes: int
    state: Literal["held", "reserved", "frozen", "retired"]
    cancellation_id: int | None = None


class SeriesHolding(BaseModel):
    series: str
    project_id: int
    vintage: int
    tonnes: dict[str, int]  # by state
    ranges: list[RangeOut]


class HoldingsOut(BaseModel):
    account_number: str
    kind: Literal["institutional", "personal"]
    frozen: bool
    frozen_reason: str | None
    tonnes: dict[str, int]  # held, reserved, frozen, retired
    series: list[SeriesHolding]


class MovementOut(BaseModel):
    id: int
    occurred_at: datetime
    kind: str  # issued, transferred_in, transferred_out, reserved, released, retired, frozen, unfrozen, account_…
    serial_range: str | None
    tonnes: int | None
    counterparty_account: str | None = None
    trade_ref: str | None = None
    cancellation_id: int | None = None
    issuance_case: str | None = None
    reason: str | None = None


class MovementPage(BaseModel):
    items: list[MovementOut]
    next_page_token: str | None


class FreezeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(**_TEXT, pattern=r"^[^\x00]*$")
    serial_ranges: list[str] = Field(default_factory=list, max_length=100,
                                     description="freeze these serials only; none: the whole account")


class FreezeOut(BaseModel):
    account_number: str
    frozen: bool
    frozen_reason: str | None
    serial_ranges: list[str]  # changed by this call


class SerialEvent(BaseModel):
    occurred_at: datetime
    kind: str
    serial_range: str
    from_account: str | None = None
    to_account: str | None = None
    trade_ref: str | None = None
    issuance_case: str | None = None
    certificate_number: str | None = None


class SerialHistoryOut(BaseModel):
    serial: str
    serial_range: str  # the block that holds it now
    holder_account: str  # an account number only: an individual's name is never shown
    project_id: int
    project_name: str
    methodology: str
    vintage: int
    state: str
    not_declarable_elsewhere: bool
    issued_at: datetime
    case_id: str
    certificate_number: str | None = None
    history: list[SerialEvent]


class TotalsRow(BaseModel):
    year: int
    methodology: str
    issued: int
    transferred: int
    retired: int


class TotalsOut(BaseModel):
    unit: Literal["tCO2e"] = "tCO2e"
    rows: list[TotalsRow]
    issued: int
    transferred: int
    retired: int


class CertificateOut(BaseModel):
    number: str
    issued_at: datetime
    beneficiary: str  # "匿名 / anonymous" when the beneficiary asked so
    purpose: str
    purpose_text: str | None
    quantity: int
    unit: Literal["tCO2e"] = "tCO2e"
    serial_ranges: list[str]
    account_number: str | None  # not shown for an anonymous beneficiary
    verification_url: str
    pdf_url: str


class CertificatePage(BaseModel):
    items: list[CertificateOut]
    next_page_token: str | None


class CancellationIn(BaseModel):
    """An application to cancel (注销, Art. 29): a quantity or serial ranges, a purpose, a beneficiary."""

    model_config = ConfigDict(extra="forbid")

    account_number: str = Field(min_length=1, max_length=20)
    quantity: int | None = Field(default=None, gt=0, le=10**9, description="whole tonnes")
    serial_ranges: list[str] = Field(default_factory=list, max_length=100)
    purpose: Literal["event", "annual_neutrality", "donation", "other"]
    purpose_text: str | None = Field(default=None, max_length=500, pattern=r"^[^\x00]*$")
    beneficiary_name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")
    beneficiary_anonymous: bool = False
    scenario_id: int | None = Field(default=None, ge=1, description="annual neutrality: the scenario (Art. 17)")
    neutrality_year: int | None = Field(default=None, ge=2000, le=9999)

    @model_validator(mode="after")
    def _consistent(self) -> CancellationIn:
        if (self.quantity is None) == (not self.serial_ranges):
            raise ValueError("give either a quantity or serial_ranges")
        if self.purpose == "other" and not (self.purpose_text or "").strip():
            raise ValueError("purpose 'other' needs a purpose_text")
        if self.purpose == "annual_neutrality" and self.neutrality_year is None:
            raise ValueError("purpose 'annual_neutrality' needs the neutrality_year")
        return self


class CancellationOut(BaseModel):
    cancellation_id: int
    case_id: str
    account_number: str
    quantity: int
    unit: Literal["tCO2e"] = "tCO2e"
    serial_ranges: list[str]
    purpose: str
    purpose_text: str | None
    beneficiary_name: str
    beneficiary_anonymous: bool
    scenario_id: int | None
    neutrality_year: int | None
    status: Literal["reserved", "confirmed", "rejected", "withdrawn"]
    applied_at: datetime
    decided_at: datetime | None
    decision_reason: str | None
    due: datetime | None
    certificate_number: str | None


class CancellationDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=4000, pattern=r"^[^\x00]*$")
