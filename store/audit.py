"""Writing and verifying the audit chain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.audit_chain import GENESIS_HASH, event_hash
from store.models.audit import AuditEvent

# One lock for the chain: appends are serialised so every event names the true predecessor.
_CHAIN_LOCK = 0x7A4E_0001


def _content(e: AuditEvent | dict[str, Any]) -> dict[str, Any]:
    get = (lambda k: e[k]) if isinstance(e, dict) else (lambda k: getattr(e, k))
    return {
        k: get(k)
        for k in (
            "occurred_at", "actor_user_id", "actor_role", "action", "entity_type",
            "entity_id", "case_id", "workflow_id", "dedupe_key", "details",
        )
    }


def _statements():
    table = AuditEvent.__table__
    head = select(table.c.hash).order_by(table.c.id.desc()).limit(1).scalar_subquery()
    # With no dedupe key the comparison is NULL: no earlier event.
    earlier = select(table.c.id).where(table.c.dedupe_key == bindparam("dedupe_key")).scalar_subquery()
    return (text("SELECT pg_advisory_xact_lock(:k)"), select(earlier, head),
            insert(table).returning(table.c.id))


# Built once: every stage change of every process appends (see store.cases._MIRROR).
_LOCK, _HEAD, _INSERT = _statements()


def append(
    session: Session,
    *,
    action: str,
    entity_type: str,
    occurred_at: datetime,
    entity_id: str | int | None = None,
    actor_user_id: int | None = None,
    actor_role: str | None = None,
    case_id: str | None = None,
    workflow_id: str | None = None,
    details: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> int:
    """Append one event in the caller's transaction and return its id; with a dedupe_key, a repeat
    returns the first event's id and writes nothing.

    The chain lock is held until the caller commits, so callers append last. Under it: one round trip
    reads the chain head (and a retry's earlier event), one inserts (Core, no ORM unit of work)."""
    session.execute(_LOCK, {"k": _CHAIN_LOCK})
    existing, prev = session.execute(_HEAD, {"dedupe_key": dedupe_key}).one()
    if existing is not None:
        return existing
    values = {
        "occurred_at": occurred_at,
        "actor_user_id": actor_user_id,
        "actor_role": actor_role,
        "action": action,
        "entity_type": entity_type,
        "entity_id": None if entity_id is None else str(entity_id),
        "case_id": case_id,
        "workflow_id": workflow_id,
        "dedupe_key": dedupe_key,
        "details": details or {},
    }
    values["prev_hash"] = prev = prev or GENESIS_HASH
    values["hash"] = event_hash(prev, _content(values))
    return session.execute(_INSERT, values).scalar_one()


def record(session: Session, **event: Any) -> AuditEvent:
    """`append`, returning the stored event."""
    return session.get(AuditEvent, append(session, **event))  # type: ignore[return-value]


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    first_bad_id: int | None = None
    reason: str | None = None


def verify(session: Session, batch: int = 5000) -> ChainReport:
    """Walk the chain in id order; name the first event whose link or hash does not hold."""
    prev = GENESIS_HASH
    count = 0
    last_id = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            return ChainReport(ok=True, events=count)
        for e in rows:
            if e.prev_hash != prev:
                return ChainReport(False, count, e.id, "prev_hash does not match the preceding event")
            if event_hash(prev, _content(e)) != e.hash:
                return ChainReport(False, count, e.id, "content does not match its hash")
            prev = e.hash
            count += 1
            last_id = e.id
        session.expunge_all()


def trail(session: Session, case_id: str) -> list[AuditEvent]:
    """A case's events, with those of its expert-panel reviews (child case ids `{case_id}-review-N`)."""
    reviews = case_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "-review-%"
    return list(session.scalars(
        select(AuditEvent)
        .where(or_(AuditEvent.case_id == case_id, AuditEvent.case_id.like(reviews, escape="\\")))
        .order_by(AuditEvent.id)
    ))
