"""Activities of the issuance case: idempotent writes of case facts, publicity notices, objection
steps, and the issuance itself. Timestamps come from the workflow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain import serials
from domain.contracts.issuance import (
    CLOSE_PUBLICITY_NOTICE,
    ISSUE_REDUCTIONS,
    RECORD_ISSUANCE_STEP,
    RECORD_OBJECTION_STEP,
    SAVE_PUBLICITY_NOTICE,
    CaseFacts,
    IssuanceStep,
    IssueRequest,
    IssueResult,
    NoticeClose,
    NoticeWrite,
    ObjectionStep,
)
from domain.issuance import vintage
from settings import Settings
from store import audit, cases, ledger, notifications
from store.identity import now_utc
from store.models.identity import Organisation
from store.models.issuance import IssuanceCase, Objection, Project, PublicityNotice
from store.models.ledger import InstitutionalAccount
from store.session import transaction


def _save_facts_statement():
    table = IssuanceCase.__table__
    return (update(table)
            .where(table.c.case_id == bindparam("b_case_id"), table.c.facts_seq < bindparam("b_seq"))
            # A step that does not restate the benefit-sharing statement keeps the stored one.
            .values(benefit_sharing=func.coalesce(bindparam("b_benefit_sharing", type_=table.c.benefit_sharing.type),
                                                  table.c.benefit_sharing)))


# Built once: every step of every issuance case runs it (see store.cases._MIRROR).
_SAVE_FACTS = _save_facts_statement()


def _case(session: Session, case_id: str) -> IssuanceCase:
    case = session.scalar(select(IssuanceCase).where(IssuanceCase.case_id == case_id))
    if case is None:
        raise ApplicationError(f"issuance case {case_id} does not exist", type="not_found", non_retryable=True)
    return case


class IssuanceActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=RECORD_ISSUANCE_STEP)
    def record_issuance_step(self, step: IssuanceStep) -> None:
        with transaction(self.session_factory) as session:
            self._save_facts(session, step.facts)
            cases.mirror(session, step.mirror)
            # Webhooks are due from the relay's (wall) clock, not the workflow's.
            notifications.notify(session, step.notification, now=now_utc())
            audit.append(session, **step.audit.model_dump())  # last: it holds the chain lock to commit

    @staticmethod
    def _save_facts(session: Session, facts: CaseFacts) -> None:
        """One conditional UPDATE: a retry of this or an older step (its seq not newer) changes nothing."""
        updated = session.execute(_SAVE_FACTS, {
            "b_case_id": facts.case_id, "b_seq": facts.seq, "facts_seq": facts.seq, "stage": facts.stage.value,
            "updated_at": facts.occurred_at, "verifier_organisation_id": facts.verifier_organisation_id,
            "claimed_grams": facts.claimed_grams, "b_benefit_sharing": facts.benefit_sharing,
            "verified_grams": facts.verified_grams, "verification_conclusion": facts.verification_conclusion,
        }).rowcount
        if not updated:
            _case(session, facts.case_id)  # a retry, or a case that does not exist (refused)

    @activity.defn(name=SAVE_PUBLICITY_NOTICE)
    def save_publicity_notice(self, notice: NoticeWrite) -> int:
        """Open the round's notice with the facts as they are now; a repeat only ever moves the end later."""
        with transaction(self.session_factory) as session:
            case = _case(session, notice.case_id)
            project = session.get(Project, case.project_id)
            developer = session.get(Organisation, case.organisation_id)
            assert project is not None and developer is not None
            stmt = insert(PublicityNotice).values(
                issuance_case_id=case.id, round_no=notice.round_no, starts_at=notice.starts_at,
                ends_at=notice.ends_at, provisional=notice.provisional, project_name=project.name,
                district=project.district, developer_name=developer.name, period_start=case.period_start,
                period_end=case.period_end, verified_grams=notice.verified_grams, benefit_sharing=case.benefit_sharing)
            stmt = stmt.on_conflict_do_update(
                constraint="uq_publicity_notices_round",
                set_={"ends_at": func.greatest(PublicityNotice.ends_at, stmt.excluded.ends_at),
                      "provisional": stmt.excluded.provisional},
            ).returning(PublicityNotice.id)
            return session.execute(stmt).scalar_one()

    @activity.defn(name=CLOSE_PUBLICITY_NOTICE)
    def close_publicity_notice(self, close: NoticeClose) -> None:
        with transaction(self.session_factory) as session:
            case = _case(session, close.case_id)
            notice = session.scalar(select(PublicityNotice).where(
                PublicityNotice.issuance_case_id == case.id, PublicityNotice.round_no == close.round_no))
            if notice is None or notice.closed_at is not None:
                return
            notice.closed_at = close.closed_at
            notice.outcome = close.outcome
            # Objections nobody ruled on lapse with the round (a new round starts afresh).
            session.execute(update(Objection).where(Objection.notice_id == notice.id, Objection.ruling.is_(None))
                            .values(ruling="lapsed", ruled_at=close.closed_at))

    @activity.defn(name=RECORD_OBJECTION_STEP)
    def record_objection_step(self, step: ObjectionStep) -> None:
        with transaction(self.session_factory) as session:
            objection = session.get(Objection, step.objection_id, with_for_update=True)
            if objection is None:
                raise ApplicationError(f"objection {step.objection_id} does not exist", type="not_found",
                                       non_retryable=True)
            if step.answer is not None and objection.answered_at is None:
                objection.answer, objection.answered_at = step.answer, step.at
            if step.ruling is not None and objection.ruled_at is None:
                objection.ruling, objection.ruling_reason = step.ruling, step.ruling_reason
                objection.ruled_at, objection.ruled_by_user_id = step.at, step.ruled_by_user_id

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
            account = session.get(InstitutionalAccount, issued.account_id)
            assert account is not None
            return IssueResult(
                issuance_id=issued.id, tonnes=issued.tonnes, remainder_grams=issued.remainder_grams,
                serial_range=ledger.issued_range(session, issued.id),
                account_number=account.account_number)


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [IssuanceActivities(session_factory)]
