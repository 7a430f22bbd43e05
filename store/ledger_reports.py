"""Read models of the ledger: holdings, statements, a serial's life, public totals and certificates.
Reads only; everything here derives from blocks, movements, trades and certificates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, and_, case, cast, func, literal, literal_column, or_, select
from sqlalchemy.orm import Session

from domain import serials
from store.models.ledger import (
    Cancellation,
    Certificate,
    InstitutionalAccount,
    Issuance,
    LedgerMovement,
    Trade,
    UnitBlock,
)

STATES = ("held", "reserved", "frozen", "retired")


def holdings(session: Session, account: InstitutionalAccount) -> dict[str, Any]:
    rows = session.execute(select(UnitBlock).where(UnitBlock.account_id == account.id)
                           .order_by(UnitBlock.serial_prefix, UnitBlock.serial_start)).scalars().all()
    totals = dict.fromkeys(STATES, 0)
    series: dict[str, dict[str, Any]] = {}
    for b in rows:
        n = b.serial_end - b.serial_start + 1
        totals[b.state] += n
        s = series.setdefault(b.serial_prefix, {"series": b.serial_prefix, "project_id": b.project_id,
                                                "vintage": b.vintage, "tonnes": dict.fromkeys(STATES, 0),
                                                "ranges": []})
        s["tonnes"][b.state] += n
        s["ranges"].append({"serial_range": serials.serial_range(b.serial_prefix, b.serial_start, b.serial_end),
                            "first_serial": serials.serial(b.serial_prefix, b.serial_start),
                            "last_serial": serials.serial(b.serial_prefix, b.serial_end),
                            "tonnes": n, "state": b.state, "cancellation_id": b.cancellation_id})
    return {"account_number": account.account_number, "kind": account.kind, "frozen": account.frozen_at is not None,
            "frozen_reason": account.frozen_reason, "tonnes": totals, "series": list(series.values())}


def _numbers(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(InstitutionalAccount.id, InstitutionalAccount.account_number)
                                .where(InstitutionalAccount.id.in_(ids))).all())


def movements(session: Session, account: InstitutionalAccount, *, after: int | None, limit: int) -> list[dict]:
    """The account's statement, oldest first, from movement id `after` on."""
    q = (select(LedgerMovement, Trade.trade_ref, Issuance.issuance_key)
         .outerjoin(Trade, Trade.id == LedgerMovement.trade_id)
         .outerjoin(Issuance, Issuance.id == LedgerMovement.issuance_id)
         .where(or_(LedgerMovement.from_account_id == account.id, LedgerMovement.to_account_id == account.id))
         .order_by(LedgerMovement.id).limit(limit))
    if after is not None:
        q = q.where(LedgerMovement.id > after)
    rows = session.execute(q).all()
    names = _numbers(session, {i for m, _, _ in rows for i in (m.from_account_id, m.to_account_id) if i})
    out = []
    for m, trade_ref, issuance_key in rows:
        kind, counterparty = m.kind, None
        if m.kind == "transferred":
            outgoing = m.from_account_id == account.id
            kind = "transferred_out" if outgoing else "transferred_in"
            counterparty = names.get(m.to_account_id if outgoing else m.from_account_id)  # type: ignore[arg-type]
        ranged = m.serial_prefix is not None
        out.append({
            "id": m.id, "occurred_at": m.occurred_at, "kind": kind,
            "serial_range": serials.serial_range(m.serial_prefix, m.serial_start, m.serial_end) if ranged else None,
            "tonnes": (m.serial_end - m.serial_start + 1) if ranged else None,
            "counterparty_account": counterparty, "trade_ref": trade_ref, "cancellation_id": m.cancellation_id,
            "issuance_case": issuance_key, "reason": m.reason})
    return out


def serial_history(session: Session, prefix: str, number: int) -> list[dict]:
    """Every movement of one serial number, oldest first (public: account numbers, never names)."""
    rng = literal_column("int8range(ledger_movements.serial_start, ledger_movements.serial_end, '[]')")
    rows = session.execute(
        select(LedgerMovement, Trade.trade_ref, Issuance.issuance_key, Certificate.number)
        .outerjoin(Trade, Trade.id == LedgerMovement.trade_id)
        .outerjoin(Issuance, Issuance.id == LedgerMovement.issuance_id)
        .outerjoin(Certificate, and_(Certificate.cancellation_id == LedgerMovement.cancellation_id,
                                     LedgerMovement.kind == "retired"))
        .where(LedgerMovement.serial_prefix == prefix, rng.op("@>")(cast(literal(number), BigInteger)))
        .order_by(LedgerMovement.id)).all()
    names = _numbers(session, {i for m, *_ in rows for i in (m.from_account_id, m.to_account_id) if i})
    return [{"occurred_at": m.occurred_at, "kind": m.kind,
             "serial_range": serials.serial_range(m.serial_prefix, m.serial_start, m.serial_end),
             "from_account": names.get(m.from_account_id) if m.from_account_id else None,
             "to_account": names.get(m.to_account_id) if m.to_account_id else None,
             "trade_ref": trade_ref, "issuance_case": key, "certificate_number": cert}
            for m, trade_ref, key, cert in rows]


def totals(session: Session) -> list[dict]:
    """Tonnes issued, transferred and retired, by year (Asia/Shanghai) and methodology (Art. 30, 31)."""
    year = func.extract("year", func.timezone("Asia/Shanghai", LedgerMovement.occurred_at)).label("year")
    # The series prefix is WH-YYYY-PPPPPP-{methodology}: the methodology starts at character 16.
    methodology = func.substr(LedgerMovement.serial_prefix, 16).label("methodology")
    n = LedgerMovement.serial_end - LedgerMovement.serial_start + 1

    def total(kind: str):
        return func.coalesce(func.sum(case((LedgerMovement.kind == kind, n), else_=0)), 0)

    rows = session.execute(
        select(year, methodology, total("issued"), total("transferred"), total("retired"))
        .where(LedgerMovement.kind.in_(("issued", "transferred", "retired")))
        .group_by(year, methodology).order_by(year, methodology)).all()
    return [{"year": int(y), "methodology": m, "issued": int(i), "transferred": int(t), "retired": int(r)}
            for y, m, i, t, r in rows]


def certificate_rows(session: Session, *, number: str | None = None, after: str | None = None,
                     limit: int = 50) -> list[tuple[Certificate, Cancellation, str]]:
    q = (select(Certificate, Cancellation, InstitutionalAccount.account_number)
         .join(Cancellation, Cancellation.id == Certificate.cancellation_id)
         .join(InstitutionalAccount, InstitutionalAccount.id == Cancellation.account_id))
    if number is not None:
        q = q.where(Certificate.number == number)
    # Newest first: year then sequence, both descending (the number sorts the same way).
    if after is not None:
        q = q.where(Certificate.number < after)
    return [tuple(r) for r in session.execute(q.order_by(Certificate.number.desc()).limit(limit)).all()]  # type: ignore[misc]

