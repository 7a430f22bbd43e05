"""Disclosure lists (Art. 30, 31) and scenario annual neutrality (Art. 17)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    total: int = Field(description="rows matching the filters, all pages")
    limit: int | None
    offset: int
    items: list[T]


class CommitteeMember(BaseModel):
    name: str
    affiliation: str | None
    expertise: list[str]
    active: bool


class MethodologyRow(BaseModel):
    code: str
    scope: str
    domain: str
    status: str
    published_at: datetime
    retired_at: datetime | None
    current_version: int | None
    title: str | None
    reevaluation_due: datetime | None


class ScenarioRow(BaseModel):
    label_code: str
    scenario_id: int
    scenario_name: str
    organisation_name: str
    category: str
    district: str
    valid_from: datetime
    valid_until: datetime
    label_status: Literal["valid", "expired"]
    neutrality_year: int
    emissions_tco2e: int | None
    cancelled_tonnes: int | None
    neutrality_status: Literal["none", "open", "met", "late", "unmet"]


class ProjectRow(BaseModel):
    id: int
    name: str
    developer_name: str
    district: str
    methodology_code: str
    methodology_version: int
    start_date: date
    registered_at: datetime


class NoticeRow(BaseModel):
    id: int
    project_name: str
    district: str
    developer_name: str
    round_no: int
    verified_tco2e: str
    starts_at: datetime
    ends_at: datetime
    closed_at: datetime | None
    outcome: str | None
    open: bool
    remaining_seconds: int
    remaining_working_days: int = Field(description="whole working days after today until the notice ends")


class IssuanceRow(BaseModel):
    case_id: str
    project_id: int
    project_name: str
    developer_name: str
    district: str
    methodology_code: str
    vintage: int
    tonnes: int
    issued_at: datetime


class TransferMonth(BaseModel):
    month: str = Field(description="YYYY-MM, Asia/Shanghai")
    trades: int
    tonnes: int


class CancellationRow(BaseModel):
    certificate_number: str
    issued_at: datetime
    quantity: int
    purpose: str
    purpose_text: str | None
    beneficiary: str
    scenario_id: int | None
    neutrality_year: int | None
    serial_ranges: list[str]


class StatisticsRow(BaseModel):
    year: int | None = None
    district: str | None = None
    methodology: str | None = None
    issued_tonnes: int
    retired_tonnes: int
    issuances: int
    projects: int


class Statistics(BaseModel):
    unit: Literal["tCO2e"] = "tCO2e"
    by: list[str]
    rows: list[StatisticsRow]


NeutralityStatus = Literal["open", "met", "late", "unmet"]


class NeutralityRow(BaseModel):
    year: int
    scenario_id: int
    scenario_name: str
    organisation_name: str
    emissions_tco2e: int | None
    cancelled_tonnes: int
    report_due: date
    due: date
    status: NeutralityStatus
    met_at: datetime | None
    extended: bool


class EmissionsReportIn(BaseModel):
    emissions_tco2e: int = Field(ge=0, le=10**9, description="last year's emissions in whole tonnes, rounded up")
    document_id: int = Field(ge=1, description="the emissions report, uploaded by the scenario's organisation")


class ExtensionIn(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)
    report_due: date | None = Field(default=None, description="new day (Asia/Shanghai) to report by")
    due: date | None = Field(default=None, description="new day (Asia/Shanghai) to offset by")


class ObligationOut(BaseModel):
    case_id: str
    scenario_id: int
    organisation_id: int
    year: int
    report_due: date
    due: date
    emissions_tco2e: int | None
    emissions_document_id: int | None
    reported_at: datetime | None
    reported_late: bool
    cancelled_tonnes: int
    met_at: datetime | None
    status: NeutralityStatus
    extension_reason: str | None
    overdue: bool = Field(description="a day has passed with the report or the offset missing")
