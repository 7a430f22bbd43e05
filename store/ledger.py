"""Institutional accounts and serial-numbered blocks of whole tonnes (SPEC §2.6).

Writes are safe under concurrency and retries: accounts are created with ON CONFLICT, serial numbers
are taken from a per-series counter row (an atomic UPDATE … RETURNING), and an issuance is claimed by
its unique key before anything is allocated, so a retried or concurrent issuance issues once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain import serials
from store.models.ledger import InstitutionalAccount, Issuance, SerialSeries, UnitBlock

# Blocks in these states still belong to the holder's balance.
HELD_STATES = ("active",)


def account_number(organisation_id: int) -> str:
    return f"TPH-I-{organisation_id:08d}"


def ensure_account(session: Session, organisation_id: int) -> InstitutionalAccount:
    """The organisation's institutional account, opened on first use (idempotent, race-free)."""
    session.execute(
        insert(InstitutionalAccount)
        .values(organisation_id=organisation_id, account_number=account_number(organisation_id))
        .on_conflict_do_nothing(index_elements=[InstitutionalAccount.organisation_id])
    )
    return session.scalars(
        select(InstitutionalAccount).where(InstitutionalAccount.organisation_id == organisation_id)
    ).one()


def allocate(session: Session, prefix: str, count: int) -> tuple[int, int]:
    """Reserve `count` consecutive serial numbers of a series; returns the inclusive range."""
    if count <= 0:
        raise ValueError("count must be positive")
    stmt = insert(SerialSeries).values(prefix=prefix, next_number=1 + count)
    stmt = stmt.on_conflict_do_update(
        index_elements=[SerialSeries.prefix], set_={"next_number": SerialSeries.next_number + count}
    ).returning(SerialSeries.next_number)
    following = session.execute(stmt).scalar_one()
    start, end = following - count, following - 1
    if end > serials.MAX_SERIAL_NUMBER:
        raise ValueError(f"series {prefix} is exhausted")
    return start, end


@dataclass(frozen=True)
class IssueOrder:
    issuance_key: str
    organisation_id: int
    project_id: int
    vintage: int
    methodology: str  # serials.methodology_segment(code, version)
    verified_grams: int
    issued_at: datetime
    issued_by_user_id: int | None = None


def issue(session: Session, order: IssueOrder) -> Issuance:
    """Issue the whole tonnes of `verified_grams` as ONE block into the organisation's account.

    The first call for a key issues; any later call (a retried activity, a replayed workflow) returns
    the first issuance unchanged. A later call with different quantities is a programming error.
    """
    tonnes, remainder = serials.whole_tonnes(order.verified_grams)
    account = ensure_account(session, order.organisation_id)
    claimed = session.execute(
        insert(Issuance)
        .values(issuance_key=order.issuance_key, project_id=order.project_id, account_id=account.id,
                vintage=order.vintage, verified_grams=order.verified_grams, tonnes=tonnes,
                remainder_grams=remainder, issued_at=order.issued_at, issued_by_user_id=order.issued_by_user_id)
        .on_conflict_do_nothing(index_elements=[Issuance.issuance_key])
        .returning(Issuance.id)
    ).scalar_one_or_none()
    if claimed is None:
        existing = session.scalars(select(Issuance).where(Issuance.issuance_key == order.issuance_key)).one()
        if (existing.verified_grams, existing.project_id, existing.account_id) != (
                order.verified_grams, order.project_id, account.id):
            raise ValueError(f"issuance {order.issuance_key} was already made with different quantities")
        return existing
    if tonnes > 0:
        prefix = serials.series_prefix(order.vintage, order.project_id, order.methodology)
        start, end = allocate(session, prefix, tonnes)
        session.add(UnitBlock(account_id=account.id, serial_prefix=prefix, serial_start=start, serial_end=end,
                              state="active", issuance_id=claimed, project_id=order.project_id,
                              vintage=order.vintage, not_declarable_elsewhere=True, created_at=order.issued_at))
        session.flush()
    return session.get(Issuance, claimed)  # type: ignore[return-value]


def balance(session: Session, account_id: int) -> int:
    """Whole tonnes held: the sum of the account's held blocks."""
    return session.scalar(
        select(func.coalesce(func.sum(UnitBlock.serial_end - UnitBlock.serial_start + 1), 0)).where(
            UnitBlock.account_id == account_id, UnitBlock.state.in_(HELD_STATES))
    ) or 0


def blocks(session: Session, account_id: int) -> list[UnitBlock]:
    return list(session.scalars(
        select(UnitBlock).where(UnitBlock.account_id == account_id)
        .order_by(UnitBlock.serial_prefix, UnitBlock.serial_start)))


def issued_range(session: Session, issuance_id: int) -> str | None:
    """The serial range an issuance created, also after its block was split; None for zero tonnes."""
    row = session.execute(
        select(UnitBlock.serial_prefix, func.min(UnitBlock.serial_start), func.max(UnitBlock.serial_end))
        .where(UnitBlock.issuance_id == issuance_id).group_by(UnitBlock.serial_prefix)).first()
    return None if row is None else serials.serial_range(*row)


def find_block(session: Session, serial: str) -> UnitBlock | None:
    """The block holding a serial number now, or None (malformed serials raise ValueError)."""
    parsed = serials.parse_serial(serial)
    return session.scalars(select(UnitBlock).where(
        UnitBlock.serial_prefix == parsed.prefix,
        UnitBlock.serial_start <= parsed.number, UnitBlock.serial_end >= parsed.number)).first()

