"""Activities of the issuance case: its facts writer (the case row, publicity notices, objection steps,
in the step's transaction) and the issuance itself. Timestamps come from the workflow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain import serials
from domain.contracts.cases import CaseStep
from domain.contracts.issuance import (
    CASE_TYPE,
    ISSUE_REDUCTIONS,
    IssuanceFacts,
    IssueRequest,
    IssueResult,
    NoticeClose,
    NoticeWrite,
    ObjectionStep,
)
from domain.issuance import vintage
from domain.rules import Kind, Rule
from settings import Settings
from store import ledger
from store.models.identity import Organisation
from store.models.issuance import IssuanceCase, Objection, Project, PublicityNotice
from store.models.ledger import InstitutionalAccount
from store.session import transaction


def _save_facts_statement():
    table = IssuanceCase.__table__
    return (update(table)
            .where(table.c.case_id == bindparam("b_case_id"))
            # A step that does not restate the benefit-sharing statement keeps the stored one.
            .values(benefit_sharing=func.coalesce(bindparam("b_benefit_sharing", type_=table.c.benefit_sharing.type),
                                                  table.c.benefit_sharing))
            .returning(table.c.id))


# Built once: every step of every issuance case runs it (see store.cases._STEP).
_SAVE_FACTS = _save_facts_statement()


def _missing(what: str) -> ApplicationError:
    return ApplicationError(f"{what} does not exist", {"field": None, "rule": Rule.NOT_PART_OF_CASE.value},
                            type=Kind.NOT_FOUND.value, non_retryable=True)


def _case(session: Session, case_id: str) -> IssuanceCase:
    case = session.scalar(select(IssuanceCase).where(IssuanceCase.case_id == case_id))
    if case is None:
        raise _missing(f"issuance case {case_id}")
    return case


def write_facts(session: Session, step: CaseStep) -> None:
    """The issuance facts writer (the kit calls it in the step's transaction, newest steps only)."""
    facts = IssuanceFacts.model_validate(step.facts)
    case_id, at = step.mirror.case_id, step.mirror.occurred_at
    row_id = session.scalar(_SAVE_FACTS, {
        "b_case_id": case_id, "stage": facts.stage.value, "updated_at": at,
        "verifier_organisation_id": facts.verifier_organisation_id, "claimed_grams": facts.claimed_grams,
        "b_benefit_sharing": facts.benefit_sharing, "verified_grams": facts.verified_grams,
        "verification_conclusion": facts.verification_conclusion})
    if row_id is None:
        raise _missing(f"issuance case {case_id}")
    if facts.notice is not None:
        _save_notice(session, row_id, facts.notice)
    if facts.objection is not None:
        _objection_step(session, facts.objection)
    if facts.notice_close is not None:
        _close_notice(session, row_id, facts.notice_close)


FACTS_WRITERS = {CASE_TYPE: write_facts}


def _save_notice(session: Session, case_row_id: int, notice: NoticeWrite) -> None:
    """Open the round's notice with the facts as they are now; a repeat only ever moves the end later."""
    case = session.get(IssuanceCase, case_row_id)
    project = session.get(Project, case.project_id)
    developer = session.get(Organisation, case.organisation_id)
    assert project is not None and developer is not None
    stmt = insert(PublicityNotice).values(
        issuance_case_id=case.id, round_no=notice.round_no, starts_at=notice.starts_at,
        ends_at=notice.ends_at, provisional=notice.provisional, project_name=project.name,
        district=project.district, developer_name=developer.name, period_start=case.period_start,
        period_end=case.period_end, verified_grams=notice.verified_grams, benefit_sharing=case.benefit_sharing)
    session.execute(stmt.on_conflict_do_update(
        constraint="uq_publicity_notices_round",
        set_={"ends_at": func.greatest(PublicityNotice.ends_at, stmt.excluded.ends_at),
              "provisional": stmt.excluded.provisional}))


def _close_notice(session: Session, case_row_id: int, close: NoticeClose) -> None:
    notice = session.scalar(select(PublicityNotice).where(
        PublicityNotice.issuance_case_id == case_row_id, PublicityNotice.round_no == close.round_no))
    if notice is None or notice.closed_at is not None:
        return
    notice.closed_at = close.closed_at
    notice.outcome = close.outcome
    # Objections nobody ruled on lapse with the round (a new round starts afresh).
    session.execute(update(Objection).where(Objection.notice_id == notice.id, Objection.ruling.is_(None))
                    .values(ruling="lapsed", ruled_at=close.closed_at))


def _objection_step(session: Session, step: ObjectionStep) -> None:
    objection = session.get(Objection, step.objection_id, with_for_update=True)
    if objection is None:
        raise _missing(f"objection {step.objection_id}")
    if step.answer is not None and objection.answered_at is None:
        objection.answer, objection.answered_at = step.answer, step.at
    if step.ruling is not None and objection.ruled_at is None:
        objection.ruling, objection.ruling_reason = step.ruling, step.ruling_reason
        objection.ruled_at, objection.ruled_by_user_id = step.at, step.ruled_by_user_id
    session.flush()


class IssuanceActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=ISSUE_REDUCTIONS)
    def issue_reductions(self, req: IssueRequest) -> IssueResult:
        with transaction(self.session_factory) as session:
            case = _case(session, req.case_id)
            if case.verified_grams is None:
                raise ApplicationError(f"{req.case_id} has no verified quantity", {"field": None, "rule": "verified"},
                                       type=Kind.CONFLICT.value, non_retryable=True)
            project = session.get(Project, case.project_id)
            assert project is not None
            issued = ledger.issue(session, ledger.IssueOrder(
                issuance_key=req.case_id, organisation_id=case.organisation_id, project_id=project.id,
                vintage=vintage(case.period_end),
                methodology=serials.methodology_segment(project.methodology_code, project.methodology_version),
                verified_grams=case.verified_grams, issued_at=req.issued_at, issued_by_user_id=req.operator_user_id))
            account = session.get(InstitutionalAccount, issued.account_id)
            assert account is not None
            return IssueResult(
                issuance_id=issued.id, tonnes=issued.tonnes, remainder_grams=issued.remainder_grams,
                serial_range=ledger.issued_range(session, issued.id),
                account_number=account.account_number)


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [IssuanceActivities(session_factory)]
