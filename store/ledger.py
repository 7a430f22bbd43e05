"""Accounts and the serial-numbered ledger of whole tonnes (SPEC §2.6, Art. 21, 24–29, 33).

Guarantees, and where they come from:
- a unit is in exactly one block: PostgreSQL's EXCLUDE constraint on (series, serial range) refuses
  overlapping blocks whatever the code above does; splitting a block shortens it first and then adds
  the rest, so no serial is ever renumbered;
- no unit is spent twice: every change to an account's blocks happens under that account's row lock
  (`FOR NO KEY UPDATE`); an operation on two accounts locks both in ascending id order, so crossing
  trades wait for each other instead of deadlocking (PostgreSQL still breaks any deadlock it finds and
  the API retries that transaction);
- every change is a row of `ledger_movements` in the same transaction, so holdings replay from them;
- a trade is claimed by its (exchange, reference) before anything moves: the same trade sent again,
  concurrently or after a crash, answers what the first answered and moves nothing.

The moves themselves run in PostgreSQL (functions of migration 0015): a trade is one statement
(`ledger_settle_trade`), so its accounts are locked only while that statement runs; cancellations and
freezes call the same `ledger_lock`, `ledger_check_may_move` and `ledger_move`. The functions refuse
with SQLSTATE TPH01 and the problem as JSON, which `_refusals` turns into a Refusal.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from domain import serials
from domain.rules import Refusal, Rule
from store.models.ledger import (
    Cancellation,
    Certificate,
    CertificateCounter,
    InstitutionalAccount,
    Issuance,
    LedgerMovement,
    SerialSeries,
    UnitBlock,
)

# Blocks in these states still belong to the holder's balance.
HELD_STATES = ("held",)
BLOCK_STATES = ("held", "reserved", "frozen", "retired")


def account_number(organisation_id: int) -> str:
    return f"TPH-I-{organisation_id:08d}"


def personal_account_number(user_id: int) -> str:
    """An individual's account: whole tonnes here, grams in the personal account of the same number."""
    return f"TPH-P-{user_id:08d}"


def ensure_personal_account(session: Session, user_id: int) -> InstitutionalAccount:
    """The (active) individual's account for whole tonnes, opened on first use (idempotent, race-free)."""
    account = find_account(session, personal_account_number(user_id))
    if account is None:
        raise ValueError(f"user {user_id} is not an active individual")
    return account


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
                              state="held", issuance_id=claimed, project_id=order.project_id,
                              vintage=order.vintage, not_declarable_elsewhere=True, created_at=order.issued_at))
        session.add(LedgerMovement(occurred_at=order.issued_at, kind="issued", serial_prefix=prefix,
                                   serial_start=start, serial_end=end, to_account_id=account.id,
                                   issuance_id=claimed, actor_user_id=order.issued_by_user_id))
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



# --- refusals ------------------------------------------------------------------------------------


def _refuse(status: int, field_: str, rule: str, message: str) -> Refusal:
    return Refusal.of_status(status, field_, rule, message)


# The SQLSTATE the ledger's functions refuse with (ledger_refuse); DETAIL holds the problem as JSON.
REFUSAL_SQLSTATE = "TPH01"


@contextmanager
def _refusals() -> Iterator[None]:
    """A refusal raised inside PostgreSQL becomes a Refusal (the statement was rolled back with it)."""
    try:
        yield
    except DBAPIError as exc:
        if getattr(exc.orig, "pgcode", None) != REFUSAL_SQLSTATE:
            raise
        problem = json.loads(exc.orig.diag.message_detail)  # type: ignore[union-attr]
        raise Refusal.of_status(problem["status"], problem["field"], problem["rule"], problem["message"]) from None


# --- locks and accounts -----------------------------------------------------------------------------


CERTIFICATE_NUMBER = re.compile(r"^WH-C-\d{4}-\d{6}$")
_FIND_ACCOUNT = text("SELECT ledger_find_account(:number)")


def find_account(session: Session, number: str) -> InstitutionalAccount | None:
    """The account of that number; an individual's is opened on first use (a purchase into it)."""
    account_id = session.scalar(_FIND_ACCOUNT, {"number": number.strip().upper()})
    return None if account_id is None else session.get(InstitutionalAccount, account_id)


def account_by_number(session: Session, number: str, *, field_: str = "account_number") -> InstitutionalAccount:
    account = find_account(session, number)
    if account is None:
        raise _refuse(422, field_, "ledger.unknown_account", f"account {number} does not exist / 账户不存在")
    return account


_LOCK = text("SELECT ledger_lock(CAST(:writes AS bigint[]), CAST(:reads AS bigint[]))")


def lock_accounts(session: Session, writes: Iterable[int], reads: Iterable[int] = ()) -> None:
    """Row locks in ascending id order (the one order every ledger transaction uses): accounts whose
    blocks change get FOR NO KEY UPDATE, accounts only checked (a buyer) get FOR SHARE."""
    session.execute(_LOCK, {"writes": list(writes), "reads": list(reads)})


_CHECK_MAY_MOVE = text("SELECT ledger_check_may_move(:account, :field)")


def _check_may_move(session: Session, account: InstitutionalAccount, field_: str) -> None:
    """Art. 33: refuses a frozen account or a suspended or terminated participant (read under the lock)."""
    with _refusals():
        session.execute(_CHECK_MAY_MOVE, {"account": account.id, "field": field_})


# --- picking and splitting blocks ---------------------------------------------------------------------


@dataclass(frozen=True)
class SerialRange:
    prefix: str
    start: int
    end: int

    @property
    def count(self) -> int:
        return self.end - self.start + 1

    def text(self) -> str:
        return serials.serial_range(self.prefix, self.start, self.end)


def parse_range(text_: str) -> SerialRange:
    """`WH-…-000000001..000000010`, `WH-…-000000001..WH-…-000000010` or a single serial."""
    first, sep, last = text_.strip().upper().partition("..")
    a = serials.parse_serial(first)
    if not sep:
        return SerialRange(a.prefix, a.number, a.number)
    if last.isdigit():
        end = int(last)
    else:
        b = serials.parse_serial(last)
        if b.prefix != a.prefix:
            raise ValueError("a serial range lies within one series")
        end = b.number
    if not a.number <= end <= serials.MAX_SERIAL_NUMBER:
        raise ValueError("a serial range ends at or after its start")
    return SerialRange(a.prefix, a.number, end)


@dataclass(frozen=True)
class Selection:
    """What to take from an account: a quantity (oldest vintage first, optionally narrowed to a series
    or a vintage) or explicit serial ranges (each wholly held)."""

    quantity: int | None = None
    series: str | None = None
    vintage: int | None = None
    ranges: tuple[SerialRange, ...] = ()

    def params(self) -> dict[str, Any]:
        """The selection as the ledger's functions take it."""
        return {"quantity": None if self.ranges else self.quantity, "series": self.series or None,
                "vintage": self.vintage or None, "prefixes": [r.prefix for r in self.ranges],
                "starts": [r.start for r in self.ranges], "ends": [r.end for r in self.ranges]}


_MOVE = text(
    "SELECT moved_prefix, moved_start, moved_end FROM ledger_move(:account, :need, :field, :quantity, :series, "
    ":vintage, CAST(:prefixes AS text[]), CAST(:starts AS bigint[]), CAST(:ends AS bigint[]), :of_cancellation, "
    ":kind, :at, :to_account, :state, :cancellation_id, :trade_id, :reason, :actor_user_id, :movement_cancellation_id)")


def _move(session: Session, account_id: int, selection: Selection | None, *, need: str, field_: str, kind: str,
          at: datetime, to_account: int, state: str, of_cancellation: int | None = None,
          cancellation_id: int | None = None, trade_id: int | None = None, reason: str | None = None,
          actor_user_id: int | None = None, movement_cancellation_id: int | None = None) -> list[SerialRange]:
    """Take the selected units (or the reserved units of `of_cancellation`) from the account in state
    `need`, split blocks taken in part, give them their new holder, state and cancellation, and record
    one movement per part (ledger_move, under the locks the caller holds). Returns the parts moved."""
    params = (selection or Selection()).params()
    with _refusals():
        rows = session.execute(_MOVE, {
            **params, "account": account_id, "need": need, "field": field_, "of_cancellation": of_cancellation,
            "kind": kind, "at": at, "to_account": to_account, "state": state, "cancellation_id": cancellation_id,
            "trade_id": trade_id, "reason": reason, "actor_user_id": actor_user_id,
            "movement_cancellation_id": movement_cancellation_id}).all()
    return [SerialRange(*r) for r in rows]


# --- trades ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TradeOrder:
    exchange_organisation_id: int
    trade_ref: str
    seller_account: str
    buyer_account: str
    selection: Selection
    settled_at: datetime | None  # as the exchange gave it; None: when recorded
    recorded_at: datetime
    recorded_by_user_id: int

    def content_hash(self) -> str:
        sel = self.selection
        content = {"seller": self.seller_account, "buyer": self.buyer_account, "quantity": sel.quantity,
                   "series": sel.series, "vintage": sel.vintage,
                   "ranges": sorted((r.prefix, r.start, r.end) for r in sel.ranges),
                   "settled_at": self.settled_at.isoformat() if self.settled_at else None}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass
class TradeOutcome:
    result: dict[str, Any]
    replayed: bool = False


_SETTLE = text(
    "SELECT ledger_settle_trade(:exchange, :trade_ref, :hash, :seller, :buyer, :trade_quantity, :series, :vintage, "
    "CAST(:prefixes AS text[]), CAST(:starts AS bigint[]), CAST(:ends AS bigint[]), :settled_at, :recorded_at, "
    ":actor_user_id, CAST(:result AS jsonb))")


def settle_trade(session: Session, order: TradeOrder) -> TradeOutcome:
    """Move the units of a settled trade at once (Art. 27): one statement, ledger_settle_trade, which
    claims the reference, locks both accounts in id order, checks them, splits and moves the blocks and
    keeps the answer. Run in autocommit, the accounts stay locked only while that statement runs."""
    seller, buyer = order.seller_account.strip().upper(), order.buyer_account.strip().upper()
    quantity = order.selection.quantity or sum(r.count for r in order.selection.ranges)
    settled_at = order.settled_at or order.recorded_at
    known = {"trade_ref": order.trade_ref, "seller_account": seller, "buyer_account": buyer, "quantity": quantity,
             "settled_at": settled_at.isoformat(), "recorded_at": order.recorded_at.isoformat()}
    with _refusals():
        out = session.execute(_SETTLE, {
            **order.selection.params(), "exchange": order.exchange_organisation_id, "trade_ref": order.trade_ref,
            "hash": order.content_hash(), "seller": seller, "buyer": buyer, "trade_quantity": quantity,
            "settled_at": order.settled_at, "recorded_at": order.recorded_at,
            "actor_user_id": order.recorded_by_user_id, "result": json.dumps(known)}).scalar_one()
    return TradeOutcome(out["result"], replayed=out["replayed"])


# --- freezes (Art. 33) ---------------------------------------------------------------------------------


def freeze(session: Session, account: InstitutionalAccount, *, reason: str, at: datetime, actor_user_id: int,
           ranges: Sequence[SerialRange] = ()) -> list[SerialRange]:
    """Freeze the account (no ranges) or the given held serials. Returns the ranges frozen now."""
    lock_accounts(session, writes=[account.id])
    session.refresh(account)
    if not ranges:
        if account.frozen_at is None:
            account.frozen_at, account.frozen_reason = at, reason
            session.add(LedgerMovement(occurred_at=at, kind="account_frozen", from_account_id=account.id,
                                       to_account_id=account.id, reason=reason, actor_user_id=actor_user_id))
            session.flush()
        return []
    return _move(session, account.id, Selection(ranges=tuple(ranges)), need="held", field_="serial_ranges",
                 kind="frozen", at=at, to_account=account.id, state="frozen", reason=reason,
                 actor_user_id=actor_user_id)


def unfreeze(session: Session, account: InstitutionalAccount, *, reason: str, at: datetime, actor_user_id: int,
             ranges: Sequence[SerialRange] = ()) -> list[SerialRange]:
    """Lift the account's freeze (no ranges) or release the given frozen serials."""
    lock_accounts(session, writes=[account.id])
    session.refresh(account)
    if not ranges:
        if account.frozen_at is not None:
            account.frozen_at, account.frozen_reason = None, None
            session.add(LedgerMovement(occurred_at=at, kind="account_unfrozen", from_account_id=account.id,
                                       to_account_id=account.id, reason=reason, actor_user_id=actor_user_id))
            session.flush()
        return []
    return _move(session, account.id, Selection(ranges=tuple(ranges)), need="frozen", field_="serial_ranges",
                 kind="unfrozen", at=at, to_account=account.id, state="held", reason=reason,
                 actor_user_id=actor_user_id)


# --- cancellation (Art. 29) -------------------------------------------------------------------------


@dataclass(frozen=True)
class CancellationApplication:
    account_number: str
    applicant_user_id: int
    request_key: str
    selection: Selection
    purpose: str
    beneficiary_name: str
    applied_at: datetime
    purpose_text: str | None = None
    beneficiary_anonymous: bool = False
    scenario_id: int | None = None
    neutrality_year: int | None = None


def apply_for_cancellation(session: Session, app: CancellationApplication) -> tuple[Cancellation, bool]:
    """Record the application and reserve its units at once (no longer transferable). Returns the
    cancellation and whether it is new; the same request key again returns the first."""
    account = account_by_number(session, app.account_number)
    quantity = app.selection.quantity or sum(r.count for r in app.selection.ranges)
    claimed = session.execute(insert(Cancellation).values(
        account_id=account.id, applicant_user_id=app.applicant_user_id, request_key=app.request_key, unit="t",
        quantity=quantity, purpose=app.purpose, purpose_text=app.purpose_text, scenario_id=app.scenario_id,
        neutrality_year=app.neutrality_year, beneficiary_name=app.beneficiary_name,
        beneficiary_anonymous=app.beneficiary_anonymous, status="reserved", applied_at=app.applied_at,
    ).on_conflict_do_nothing(index_elements=[Cancellation.applicant_user_id, Cancellation.request_key])
        .returning(Cancellation.id)).scalar_one_or_none()
    if claimed is None:
        first = session.scalars(select(Cancellation).where(
            Cancellation.applicant_user_id == app.applicant_user_id,
            Cancellation.request_key == app.request_key)).one()
        return first, False
    lock_accounts(session, writes=[account.id])
    _check_may_move(session, account, "account_number")
    _move(session, account.id, app.selection, need="held", field_="quantity", kind="reserved", at=app.applied_at,
          to_account=account.id, state="reserved", cancellation_id=claimed, actor_user_id=app.applicant_user_id)
    cancellation = session.get(Cancellation, claimed)
    assert cancellation is not None
    return cancellation, True


def _lock_cancellation(session: Session, cancellation_id: int) -> Cancellation:
    c = session.scalar(select(Cancellation).where(Cancellation.id == cancellation_id)
                       .with_for_update().execution_options(populate_existing=True))
    if c is None:
        raise _refuse(404, "cancellation", "not_found", f"cancellation {cancellation_id} does not exist")
    return c


_CANCELLATION_RANGES = text(
    "SELECT ledger_merged_ranges(array_agg(serial_prefix), array_agg(serial_start), array_agg(serial_end)) "
    "FROM unit_blocks WHERE cancellation_id = :cancellation_id")


def cancellation_ranges(session: Session, cancellation_id: int) -> list[str]:
    """The serial ranges of a cancellation's units, merged, as text."""
    return list(session.scalar(_CANCELLATION_RANGES, {"cancellation_id": cancellation_id}) or [])


def release_cancellation(session: Session, cancellation_id: int, *, status: str, reason: str | None,
                         at: datetime, actor_user_id: int | None) -> Cancellation:
    """Rejected or withdrawn: the units are held again. Idempotent; a decided cancellation is kept."""
    assert status in ("rejected", "withdrawn")
    c = _lock_cancellation(session, cancellation_id)
    if c.status == status:
        return c
    if c.status != "reserved":
        raise _refuse(409, "cancellation", Rule.ART29_ALREADY_DECIDED, f"cancellation {c.id} is already {c.status}")
    lock_accounts(session, writes=[c.account_id])
    _move(session, c.account_id, None, of_cancellation=c.id, need="reserved", field_="cancellation", kind="released",
          at=at, to_account=c.account_id, state="held", reason=reason, actor_user_id=actor_user_id,
          movement_cancellation_id=c.id)  # the blocks belong to no cancellation any more; the movement names it
    c.status, c.decided_at, c.decided_by_user_id, c.decision_reason = status, at, actor_user_id, reason
    session.flush()
    return c


def certificate_number(year: int, seq: int) -> str:
    return f"WH-C-{year}-{seq:06d}"


def confirm_cancellation(session: Session, cancellation_id: int, *, at: datetime, year: int,
                         actor_user_id: int) -> Certificate:
    """Retire the reserved units for ever and issue the certificate. Idempotent: confirming again
    returns the first certificate. Numbers come from the year's counter row in this transaction, so a
    rolled-back confirmation leaves no gap."""
    c = _lock_cancellation(session, cancellation_id)
    if c.status == "confirmed":
        cert = session.scalar(select(Certificate).where(Certificate.cancellation_id == c.id))
        assert cert is not None
        return cert
    if c.status != "reserved":
        raise _refuse(409, "cancellation", Rule.ART29_ALREADY_DECIDED, f"cancellation {c.id} is already {c.status}")
    lock_accounts(session, writes=[c.account_id])
    account = session.get(InstitutionalAccount, c.account_id)
    assert account is not None
    session.refresh(account)
    if account.frozen_at is not None:
        raise _refuse(409, "cancellation", Rule.ART33_ACCOUNT_FROZEN,
                      f"account {account.account_number} is frozen: {account.frozen_reason} / 账户已冻结")
    moved = _move(session, c.account_id, None, of_cancellation=c.id, need="reserved", field_="cancellation",
                  kind="retired", at=at, to_account=c.account_id, state="retired", cancellation_id=c.id,
                  actor_user_id=actor_user_id)
    seq = session.execute(insert(CertificateCounter).values(year=year, last_seq=1).on_conflict_do_update(
        index_elements=[CertificateCounter.year], set_={"last_seq": CertificateCounter.last_seq + 1})
        .returning(CertificateCounter.last_seq)).scalar_one()
    cert = Certificate(number=certificate_number(year, seq), year=year, seq=seq, cancellation_id=c.id,
                       issued_at=at, quantity=sum(r.count for r in moved),
                       serial_ranges=cancellation_ranges(session, c.id))
    session.add(cert)
    c.status, c.decided_at, c.decided_by_user_id = "confirmed", at, actor_user_id
    session.flush()
    return cert


# --- derivation from the movements -------------------------------------------------------------------


@dataclass
class DerivedLedger:
    """Per series, the intervals (start, end, account, state) that replaying the movements gives."""

    series: dict[str, list[tuple[int, int, int, str]]] = field(default_factory=dict)
    frozen_accounts: set[int] = field(default_factory=set)

    def balances(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for intervals in self.series.values():
            for s, e, account, state in intervals:
                if state == "held":
                    out[account] = out.get(account, 0) + e - s + 1
        return out


_NEXT_STATE = {"issued": (None, "held"), "transferred": ("held", "held"), "reserved": ("held", "reserved"),
               "released": ("reserved", "held"), "retired": ("reserved", "retired"),
               "frozen": ("held", "frozen"), "unfrozen": ("frozen", "held")}


def _normalise(intervals: list[tuple[int, int, int, str]]) -> list[tuple[int, int, int, str]]:
    out: list[tuple[int, int, int, str]] = []
    for s, e, a, st in sorted(intervals):
        if out and out[-1][1] + 1 == s and out[-1][2:] == (a, st):
            out[-1] = (out[-1][0], e, a, st)
        else:
            out.append((s, e, a, st))
    return out


def replay_movements(session: Session) -> DerivedLedger:
    """Rebuild holders and states from `ledger_movements` alone; raises if a movement does not fit
    the state before it (moving what the sender did not hold, in the state it needs)."""
    derived = DerivedLedger()
    for m in session.execute(select(LedgerMovement).order_by(LedgerMovement.id)).scalars():
        if m.kind == "account_frozen":
            derived.frozen_accounts.add(m.to_account_id)  # type: ignore[arg-type]
            continue
        if m.kind == "account_unfrozen":
            derived.frozen_accounts.discard(m.to_account_id)  # type: ignore[arg-type]
            continue
        need, becomes = _NEXT_STATE[m.kind]
        assert m.serial_prefix is not None and m.serial_start is not None and m.serial_end is not None
        intervals = derived.series.setdefault(m.serial_prefix, [])
        s, e = m.serial_start, m.serial_end
        kept, covered = [], 0
        for iv in intervals:
            if iv[1] < s or iv[0] > e:
                kept.append(iv)
                continue
            if need is None or iv[2] != m.from_account_id or iv[3] != need:
                raise AssertionError(f"movement {m.id} ({m.kind}) does not fit {iv}")
            covered += min(iv[1], e) - max(iv[0], s) + 1
            if iv[0] < s:
                kept.append((iv[0], s - 1, iv[2], iv[3]))
            if iv[1] > e:
                kept.append((e + 1, iv[1], iv[2], iv[3]))
        if covered != (0 if need is None else e - s + 1):
            raise AssertionError(f"movement {m.id} ({m.kind}) covers serials nobody held")
        kept.append((s, e, m.to_account_id, becomes))  # type: ignore[arg-type]
        derived.series[m.serial_prefix] = _normalise(kept)
    return derived


def current_ledger(session: Session) -> DerivedLedger:
    """The same picture read from the blocks and accounts as they are."""
    out = DerivedLedger()
    for prefix, s, e, a, st in session.execute(select(
            UnitBlock.serial_prefix, UnitBlock.serial_start, UnitBlock.serial_end, UnitBlock.account_id,
            UnitBlock.state)):
        out.series.setdefault(prefix, []).append((s, e, a, st))
    out.series = {k: _normalise(v) for k, v in out.series.items()}
    out.frozen_accounts = set(session.scalars(select(InstitutionalAccount.id).where(
        InstitutionalAccount.frozen_at.is_not(None))))
    return out
