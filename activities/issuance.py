"""Activities of the issuance case: idempotent writes of case facts, publicity and issuance."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain import serials
from domain.contracts.issuance import ISSUE_REDUCTIONS, IssueRequest, IssueResult
from domain.issuance import vintage
from settings import Settings
from store import ledger
from store.models.issuance import IssuanceCase, Project
from store.models.ledger import InstitutionalAccount
from store.session import transaction


def _case(session: Session, case_id: str) -> IssuanceCase:
    case = session.scalar(select(IssuanceCase).where(IssuanceCase.case_id == case_id))
    if case is None:
        raise ApplicationError(f"issuance case {case_id} does not exist", type="not_found", non_retryable=True)
    return case


class IssuanceActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=ISSUE_REDUCTIONS)
    def issue_reductions(self, req: IssueRequest) -> IssueResult:
        with transaction(self.session_factory) as session:
            case = _case(session, req.case_id)
            if case.verified_grams is None:
                raise ApplicationError(f"{req.case_id} has no verified quantity", type="not_verified",
                                       non_retryable=True)
            project = session.get(Project, case.project_id)
            assert project is not None
            issued = ledger.issue(session, ledger.IssueOrder(
                issuance_key=req.case_id, organisation_id=case.organisation_id, project_id=project.id,
                vintage=vintage(case.period_end),
                methodology=serials.methodology_segment(project.methodology_code, project.methodology_version),
                verified_grams=case.verified_grams, issued_at=req.issued_at, issued_by_user_id=req.operator_user_id))
            block = ledger.block_of_issuance(session, issued.id)
            account = session.get(InstitutionalAccount, issued.account_id)
            assert account is not None
            return IssueResult(
                issuance_id=issued.id, tonnes=issued.tonnes, remainder_grams=issued.remainder_grams,
                serial_range=None if block is None else serials.serial_range(
                    block.serial_prefix, block.serial_start, block.serial_end),
                account_number=account.account_number)


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [IssuanceActivities(session_factory)]
