"""Scenario annual neutrality (Art. 17): one durable obligation per published scenario, workflow
`neutrality-{scenario_id}`, one run per year (continue-as-new carries the scenario to the next year).

By `neutrality_report_due` (MMDD of the next year; default 31 March) the scenario's organisation
reports the year's emissions in whole tCO2e with a document; by `neutrality_due` (default 30 June)
confirmed cancellations with purpose `annual_neutrality` naming the scenario and the year must cover
them (cancellations.scenario_id + neutrality_year are the link). Reminders before each date, overdue
entries for the operator and the bureau, an extension by the operator with a reason.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.contracts.cases import Actor

CASE_TYPE = "neutrality"
NEUTRALITY_WORKFLOW = "ScenarioNeutrality"
NEUTRALITY_STATE_QUERY = "neutrality_state"

UPDATE_REPORT = "report_emissions"
UPDATE_EXTEND = "grant_extension"
SIGNAL_CANCELLATIONS = "cancellations_changed"  # the API tells the case a cancellation was confirmed

COUNT_NEUTRALITY_CANCELLATIONS = "count_neutrality_cancellations"
SCENARIO_LABELLED_UNTIL = "scenario_labelled_until"


def case_id(scenario_id: int) -> str:
    return f"neutrality-{scenario_id}"


class Stage(StrEnum):
    AWAITING_REPORT = "awaiting_report"
    AWAITING_OFFSET = "awaiting_offset"
    MET = "met"
    LATE = "late"
    UNMET = "unmet"


FINAL_STAGES = frozenset({Stage.MET, Stage.LATE, Stage.UNMET})


class NeutralityStart(BaseModel):
    case_id: str
    deployment_id: str
    scenario_id: int
    organisation_id: int
    label_code: str
    label_valid_until: datetime
    year: int  # the year whose emissions this run offsets
    seq: int = 0  # the case's last step: carried over continue-as-new, so steps stay numbered in order


class EmissionsReport(BaseModel):
    actor: Actor
    year: int
    emissions_tco2e: int = Field(ge=0, le=10**9, description="whole tonnes, rounded up (Art. 17)")
    document_id: int


class Extension(BaseModel):
    actor: Actor
    year: int
    reason: str = Field(max_length=4000)
    report_due: date | None = None
    due: date | None = None


class CountRequest(BaseModel):
    scenario_id: int
    year: int


class LabelledUntil(BaseModel):
    """The latest validity end of the scenario's labels (a re-evaluation before expiry extends it)."""

    valid_until: datetime | None


class NeutralityState(BaseModel):
    case_id: str
    scenario_id: int
    organisation_id: int
    year: int
    stage: Stage
    status: str = "open"  # open, met, late, unmet (the public compliance list)
    report_due: date | None = None
    due: date | None = None
    emissions_tco2e: int | None = None
    document_id: int | None = None
    reported_at: datetime | None = None
    reported_late: bool = False
    cancelled_tonnes: int = 0
    met_at: datetime | None = None
    report_reminded: bool = False
    report_overdue: bool = False
    offset_reminded: bool = False
    offset_overdue: bool = False
    extension_reason: str | None = None


NeutralityFacts = NeutralityState  # what every step writes into neutrality_obligations
