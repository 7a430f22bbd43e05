"""Institutional accounts (owner and authorities) and the public serial-number lookup (SPEC §2.6)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import Authority, CurrentUser, DbSession
from api.errors import not_found, unprocessable
from api.public import ONE_RESPONSES, public_answer
from api.schemas.issuance import AccountOut, BlockOut
from api.schemas.ledger import SerialEvent, SerialHistoryOut
from domain import serials
from domain.roles import AUTHORITIES, OrganisationStatus, Role
from store import ledger, ledger_reports
from store.models.identity import Organisation, User
from store.models.issuance import Project
from store.models.ledger import InstitutionalAccount, Issuance, UnitBlock

router = APIRouter(tags=["accounts"])


def may_see_account(user: User, account: InstitutionalAccount) -> bool:
    if Role(user.role) in AUTHORITIES:
        return True
    if account.organisation_id is not None:
        return user.organisation_id == account.organisation_id
    return user.id == account.user_id


def visible_account(session: Session, user: User, number: str) -> InstitutionalAccount:
    account = ledger.find_account(session, number)
    if account is None or not may_see_account(user, account):
        raise not_found(f"account {number}")
    return account


def block_out(session: Session, block: UnitBlock) -> BlockOut:
    issuance = session.get(Issuance, block.issuance_id)
    assert issuance is not None
    return BlockOut(
        serial_range=serials.serial_range(block.serial_prefix, block.serial_start, block.serial_end),
        first_serial=serials.serial(block.serial_prefix, block.serial_start),
        last_serial=serials.serial(block.serial_prefix, block.serial_end),
        tonnes=block.serial_end - block.serial_start + 1, vintage=block.vintage, project_id=block.project_id,
        state=block.state, not_declarable_elsewhere=block.not_declarable_elsewhere, issued_at=issuance.issued_at)


def _account_out(session: Session, account: InstitutionalAccount) -> AccountOut:
    org = session.get(Organisation, account.organisation_id) if account.organisation_id is not None else None
    return AccountOut(account_number=account.account_number, kind=account.kind,
                      organisation_id=org.id if org else None, organisation_name=org.name if org else None,
                      balance_tonnes=ledger.balance(session, account.id),
                      blocks=[block_out(session, b) for b in ledger.blocks(session, account.id)])


@router.get("/accounts/mine", response_model=AccountOut,
            summary="The caller's organisation's account, or an individual's own account of whole tonnes")
def my_account(session: DbSession, user: CurrentUser):
    if user.role == Role.INDIVIDUAL.value:
        account = ledger.ensure_personal_account(session, user.id)
    elif user.organisation_id is None:
        raise not_found("an institutional account of yours")
    else:
        account = ledger.ensure_account(session, user.organisation_id)
    session.commit()
    return _account_out(session, account)


@router.get("/accounts", response_model=list[AccountOut], summary="Every active organisation's account")
def list_accounts(session: DbSession, _: Authority):
    # Each active organisation has an account: open any that were never used (idempotent).
    unopened = session.scalars(select(Organisation.id).where(
        Organisation.status == OrganisationStatus.ACTIVE.value,
        Organisation.id.not_in(select(InstitutionalAccount.organisation_id).where(
            InstitutionalAccount.organisation_id.is_not(None))))).all()
    for org_id in unopened:
        ledger.ensure_account(session, org_id)
    session.commit()
    accounts = session.scalars(select(InstitutionalAccount).order_by(InstitutionalAccount.id)).all()
    return [_account_out(session, a) for a in accounts]


@router.get("/accounts/{account_number}", response_model=AccountOut, summary="An account's balance and blocks")
def get_account(account_number: str, session: DbSession, user: CurrentUser):
    return _account_out(session, visible_account(session, user, account_number))


@router.get("/serials/{serial}", response_model=SerialHistoryOut,
            summary="Public lookup of one serial number: who holds it (account number) and its whole life",
            responses=ONE_RESPONSES)
def lookup_serial(serial: str, request: Request, session: DbSession):
    return public_answer(request, session, SERIAL_TABLES, lambda: serial_history(session, serial))


# What a serial's answer is made of: blocks and their movements (changes with every trade), the rest rarely.
SERIAL_TABLES = ("ledger", "projects")  # "ledger": every ledger table (migration 0017)


def serial_history(session: Session, serial: str) -> SerialHistoryOut:
    """One serial's holder and life (also the web page's)."""
    try:
        parsed = serials.parse_serial(serial)
        block = ledger.find_block(session, serial)
    except ValueError as exc:
        raise unprocessable("serial", "format", str(exc))
    if block is None:
        raise not_found(f"serial {serial}")
    project = session.get(Project, block.project_id)
    issuance = session.get(Issuance, block.issuance_id)
    holder = session.get(InstitutionalAccount, block.account_id)
    assert project is not None and issuance is not None and holder is not None
    history = ledger_reports.serial_history(session, parsed.prefix, parsed.number)
    retired = [h["certificate_number"] for h in history if h["kind"] == "retired"]
    return SerialHistoryOut(
        serial=serials.serial(parsed.prefix, parsed.number),
        serial_range=serials.serial_range(block.serial_prefix, block.serial_start, block.serial_end),
        holder_account=holder.account_number,
        project_id=project.id, project_name=project.name,
        methodology=f"{project.methodology_code} v{project.methodology_version}", vintage=block.vintage,
        state=block.state, not_declarable_elsewhere=block.not_declarable_elsewhere, issued_at=issuance.issued_at,
        case_id=issuance.issuance_key, certificate_number=retired[-1] if retired else None,
        history=[SerialEvent(**h) for h in history])
