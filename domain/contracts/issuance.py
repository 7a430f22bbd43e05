"""The issuance case workflow's interface: activity names and models, updates, signal, query."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

ISSUANCE_WORKFLOW = "IssuanceCase"
CASE_TYPE = "issuance"


def case_id_for(issuance_case_id: int) -> str:
    return f"issuance-{issuance_case_id}"


# --- activities ----------------------------------------------------------------------------------
ISSUE_REDUCTIONS = "issue_reductions"


class IssueRequest(BaseModel):
    """Issue the case's verified quantity as whole tonnes, once (the case id is the issuance key)."""

    case_id: str
    issued_at: datetime  # workflow.now()
    operator_user_id: int


class IssueResult(BaseModel):
    issuance_id: int
    tonnes: int
    remainder_grams: int
    serial_range: str | None  # None when less than one whole tonne was verified
    account_number: str
