"""Supervision's writes (Art. 33, 34): reports filed with their limits, the report and sanction facts,
the sanction's effects (status, freeze, the participant's cases)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.contracts.report import ReportFacts
from domain.contracts.sanction import FreezeRequest, FreezeResult, SanctionFacts, StatusRequest
from domain.rules import Kind, Refusal
from domain.roles import OrganisationStatus
from store import identity, ledger
from store.models.cases import Case
from store.models.documents import Document
from store.models.identity import Organisation, User
from store.models.supervision import Report, Sanction

# Cases that are not the participant's own business: supervision itself, and expert reviews.
_NOT_TOLD = ("report", "sanction", "review")
_SOURCE_LOCK = 0x7A4E_0034


class TooMany(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def receipt_hash(code: str) -> str:
    """Only this is stored: the code is 128 random bits, so a plain SHA-256 cannot be searched back."""
    return hashlib.sha256(f"report-receipt:{code}".encode()).hexdigest()


def file_report(session: Session, *, organisation_id: int, content: str, evidence_document_ids: list[int],
                reporter_user: User | None, sealed: str | None, receipt: str, source_hash: str, now: datetime,
                per_source: int, per_participant: int) -> Report:
    """Store a report in the caller's transaction, within the hourly caps (per source, per participant).
    The organisation's row lock and the source's advisory lock serialise concurrent filings, so the caps
    hold. Evidence must be the reporter's own unattached uploads; they are attached without an audit
    event (an event would name the reporter as its actor)."""
    org = session.get(Organisation, organisation_id, with_for_update=True)
    if org is None:
        raise Refusal(Kind.INVALID, "exists", f"organisation {organisation_id} does not exist", "organisation_id")
    session.execute(text("SELECT pg_advisory_xact_lock(:k, hashtext(:s))"), {"k": _SOURCE_LOCK & 0x7FFFFFFF,
                                                                            "s": source_hash})
    hour_ago = now - timedelta(hours=1)
    recent = select(func.count()).select_from(Report).where(Report.filed_at > hour_ago)
    if session.scalar(recent.where(Report.source_hash == source_hash)) >= per_source:
        raise TooMany(f"at most {per_source} reports per hour from one source / 举报过于频繁")
    if session.scalar(recent.where(Report.reported_organisation_id == organisation_id)) >= per_participant:
        raise TooMany(f"at most {per_participant} reports per hour about one participant / 举报过于频繁")
    ids = sorted(set(evidence_document_ids))
    docs: list[Document] = []
    if ids:
        if reporter_user is None:
            raise Refusal(Kind.INVALID, "login_required",
                          "evidence documents are uploaded signed in / 上传证据须登录", "evidence_document_ids")
        docs = list(session.scalars(select(Document).where(Document.id.in_(ids)).with_for_update()))
        own = {d.id for d in docs if d.uploaded_by_user_id == reporter_user.id and d.case_id is None}
        if own != set(ids):
            raise Refusal(Kind.INVALID, "own_documents",
                          f"documents {sorted(set(ids) - own)} are not your own unattached uploads", "evidence_document_ids")
    report = Report(reported_organisation_id=organisation_id, content=content, evidence_document_ids=ids,
                    reporter_sealed=sealed, receipt_hash=receipt_hash(receipt), source_hash=source_hash,
                    filed_at=now, stage="awaiting_assignment", overdue=False)
    session.add(report)
    session.flush()
    for d in docs:
        d.case_id, d.attached_at = f"report-{report.id}", now
    return report


def by_receipt(session: Session, code: str) -> Report | None:
    return session.scalar(select(Report).where(Report.receipt_hash == receipt_hash(code)))


def write_report_facts(session: Session, f: ReportFacts) -> None:
    r = session.get(Report, f.report_id, with_for_update=True)
    if r is None:
        raise LookupError(f"report {f.report_id}")
    r.stage, r.handler_user_id, r.ack_due, r.conclude_due = f.stage, f.handler_user_id, f.ack_due, f.conclude_due
    r.acknowledged_at, r.concluded_at, r.substantiated = f.acknowledged_at, f.concluded_at, f.substantiated
    r.conclusion, r.measures, r.overdue = f.conclusion, f.measures, f.overdue


# --- sanctions ------------------------------------------------------------------------------------

def create_sanction(session: Session, *, organisation_id: int, measure: str, reason: str, report_id: int | None,
                    actor: User, now: datetime, request_key: str) -> tuple[Sanction, bool]:
    """(the sanction, created now). The same request key again answers the first; a second measure on a
    participant with one in force is refused (the partial unique index decides, also under races)."""
    earlier = session.scalar(select(Sanction).where(Sanction.request_key == request_key))
    if earlier is not None:
        return earlier, False
    if session.get(Organisation, organisation_id) is None:
        raise Refusal(Kind.INVALID, "exists", f"organisation {organisation_id} does not exist", "organisation_id")
    if report_id is not None and session.get(Report, report_id) is None:
        raise Refusal(Kind.INVALID, "exists", f"report {report_id} does not exist", "report_id")
    sanction = Sanction(organisation_id=organisation_id, measure=measure, reason=reason, report_id=report_id,
                        imposed_by_user_id=actor.id, imposed_at=now, request_key=request_key, stage="imposing",
                        froze_account=False, cases_told=[])
    try:
        with session.begin_nested():
            session.add(sanction)
            session.flush()
    except IntegrityError:
        earlier = session.scalar(select(Sanction).where(Sanction.request_key == request_key))
        if earlier is not None:
            return earlier, False
        raise Refusal(Kind.CONFLICT, "art33.measure_in_force",
                      f"organisation {organisation_id} has a measure in force / 已有措施生效", "organisation_id") from None
    return sanction, True


def write_sanction_facts(session: Session, f: SanctionFacts) -> None:
    s = session.get(Sanction, f.sanction_id, with_for_update=True)
    if s is None:
        raise LookupError(f"sanction {f.sanction_id}")
    s.stage, s.cases_told, s.lift_reason, s.lifted_at = f.stage, f.cases_told, f.lift_reason, f.lifted_at


def set_participant_status(session: Session, r: StatusRequest) -> None:
    """Idempotent: the status already set changes (and audits) nothing."""
    org = session.get(Organisation, r.organisation_id, with_for_update=True)
    assert org is not None
    identity.set_organisation_status(session, org, OrganisationStatus(r.status), actor=session.get(User, r.actor_user_id),
                                     reason=f"sanction-{r.sanction_id}: {r.reason}")


def freeze_participant_units(session: Session, r: FreezeRequest) -> FreezeResult:
    """Freeze the participant's account (once: if another measure froze it already, that freeze stays
    that measure's), or lift the freeze this sanction made. Idempotent on the sanction's row."""
    sanction = session.get(Sanction, r.sanction_id, with_for_update=True)
    assert sanction is not None
    account = ledger.ensure_account(session, r.organisation_id)
    if r.freeze:
        if account.frozen_at is None:
            ledger.freeze(session, account, reason=r.reason, at=r.at, actor_user_id=r.actor_user_id)
            sanction.froze_account = True
    elif sanction.froze_account:
        ledger.unfreeze(session, account, reason=r.reason, at=r.at, actor_user_id=r.actor_user_id)
    return FreezeResult(account_number=account.account_number, froze_account=sanction.froze_account)


def cases_of_participant(session: Session, organisation_id: int) -> list[str]:
    """The cases the participant owns (ended ones too: telling those is refused and harmless)."""
    return list(session.scalars(select(Case.case_id).where(
        Case.owner_organisation_id == organisation_id, Case.case_type.not_in(_NOT_TOLD)).order_by(Case.case_id)))


def sanctions_in_force(session: Session) -> list[tuple[Sanction, Organisation]]:
    rows = session.execute(select(Sanction, Organisation).join(Organisation, Organisation.id == Sanction.organisation_id)
                           .where(Sanction.stage != "lifted").order_by(Sanction.id))
    return [(s, o) for s, o in rows]
