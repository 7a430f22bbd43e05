"""Institutional accounts (owner and authorities) and the public serial-number lookup (SPEC §2.6)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import Authority, CurrentUser, DbSession
from api.errors import not_found, unprocessable
from api.schemas.issuance import AccountOut, BlockOut, SerialOut
from domain import serials
from domain.roles import AUTHORITIES, OrganisationStatus, Role
from store import ledger
from store.models.identity import Organisation, User
from store.models.issuance import Project
from store.models.ledger import InstitutionalAccount, Issuance, UnitBlock

router = APIRouter(tags=["accounts"])


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
    org = session.get(Organisation, account.organisation_id)
    assert org is not None
    return AccountOut(account_number=account.account_number, organisation_id=org.id, organisation_name=org.name,
                      balance_tonnes=ledger.balance(session, account.id),
                      blocks=[block_out(session, b) for b in ledger.blocks(session, account.id)])


@router.get("/accounts/mine", response_model=AccountOut, summary="The caller's organisation's account")
def my_account(session: DbSession, user: CurrentUser):
    if user.organisation_id is None:
        raise not_found("an institutional account of yours")
    account = ledger.ensure_account(session, user.organisation_id)
    session.commit()
    return _account_out(session, account)


@router.get("/accounts", response_model=list[AccountOut], summary="Every active organisation's account")
def list_accounts(session: DbSession, _: Authority):
    # Each active organisation has an account: open any that were never used (idempotent).
    unopened = session.scalars(select(Organisation.id).where(
        Organisation.status == OrganisationStatus.ACTIVE.value,
        Organisation.id.not_in(select(InstitutionalAccount.organisation_id)))).all()
    for org_id in unopened:
        ledger.ensure_account(session, org_id)
    session.commit()
    accounts = session.scalars(select(InstitutionalAccount).order_by(InstitutionalAccount.id)).all()
    return [_account_out(session, a) for a in accounts]


def _visible_account(session: Session, user: User, number: str) -> InstitutionalAccount:
    account = session.scalar(select(InstitutionalAccount).where(InstitutionalAccount.account_number == number))
    if account is None or (Role(user.role) not in AUTHORITIES and account.organisation_id != user.organisation_id):
        raise not_found(f"account {number}")
    return account


@router.get("/accounts/{account_number}", response_model=AccountOut, summary="An account's balance and blocks")
def get_account(account_number: str, session: DbSession, user: CurrentUser):
    return _account_out(session, _visible_account(session, user, account_number))


@router.get("/serials/{serial}", response_model=SerialOut, summary="Public lookup of one serial number")
def lookup_serial(serial: str, session: DbSession):
    try:
        block = ledger.find_block(session, serial)
    except ValueError as exc:
        raise unprocessable("serial", "format", str(exc))
    if block is None:
        raise not_found(f"serial {serial}")
    project = session.get(Project, block.project_id)
    issuance = session.get(Issuance, block.issuance_id)
    assert project is not None and issuance is not None
    return SerialOut(
        serial=serial.strip().upper(),
        serial_range=serials.serial_range(block.serial_prefix, block.serial_start, block.serial_end),
        project_id=project.id, project_name=project.name,
        methodology=f"{project.methodology_code} v{project.methodology_version}", vintage=block.vintage,
        state=block.state, not_declarable_elsewhere=block.not_declarable_elsewhere, issued_at=issuance.issued_at,
        case_id=issuance.issuance_key)
