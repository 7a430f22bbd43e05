"""Policy parameters in force at an instant: the defaults overlaid by the bureau's changes (SPEC §3)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from domain.policy import DEFAULT_POLICY, PolicyParameters
from domain.rules import Kind, Refusal
from store import audit
from store.models.identity import User
from store.models.policy import PolicyChange

PARAMETERS = tuple(PolicyParameters.model_fields)
# Changes are validated against the changes already scheduled: one change at a time.
_POLICY_LOCK = 0x7A4E_0002


def effective(session: Session, at: datetime) -> PolicyParameters:
    """The parameters in force at `at`: per parameter, the change with the latest effective_from <= at."""
    rows = session.execute(
        select(PolicyChange.parameter, PolicyChange.value)
        .where(PolicyChange.effective_from <= at)
        .ext(distinct_on(PolicyChange.parameter))
        .order_by(PolicyChange.parameter, PolicyChange.effective_from.desc(), PolicyChange.id.desc())
    ).all()
    overrides = {p: v for p, v in rows if p in PARAMETERS}  # a parameter since dropped from the code is ignored
    return PolicyParameters.model_validate({**DEFAULT_POLICY.model_dump(), **overrides})


def scheduled(session: Session, after: datetime) -> list[PolicyChange]:
    """Changes that take effect after `after`, soonest first."""
    return list(session.scalars(select(PolicyChange).where(PolicyChange.effective_from > after)
                                .order_by(PolicyChange.effective_from, PolicyChange.id)))


def changes(session: Session) -> list[PolicyChange]:
    return list(session.scalars(select(PolicyChange).order_by(PolicyChange.effective_from.desc(),
                                                              PolicyChange.id.desc())))


def schedule_change(
    session: Session,
    *,
    parameter: str,
    value: int,
    effective_from: datetime,
    reason: str,
    actor: User,
    now: datetime,
) -> PolicyChange:
    """Record one change in the caller's transaction, audited; refuse it (storing nothing) when the
    parameter is unknown, the instant is past, or the parameters would be invalid at its effective
    instant or at any later scheduled change."""
    if parameter not in PARAMETERS:
        raise Refusal(Kind.INVALID, "unknown_parameter",
                      f"'{parameter}' is not a policy parameter (known: {', '.join(PARAMETERS)})", "parameter")
    if effective_from < now:
        raise Refusal(Kind.INVALID, "not_in_past", "a change may not take effect in the past", "effective_from")
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _POLICY_LOCK})
    with session.begin_nested():  # the trial change disappears if it is refused
        change = PolicyChange(parameter=parameter, value=value, effective_from=effective_from, reason=reason,
                              changed_by=actor.id, created_at=now)
        session.add(change)
        session.flush()
        for point in [effective_from, *(c.effective_from for c in scheduled(session, effective_from))]:
            try:
                effective(session, point)
            except ValidationError as exc:
                raise _refusal(parameter, value, exc, point if point != effective_from else None) from None
    audit.record(session, action="policy.change_scheduled", entity_type="policy_change", entity_id=change.id,
                 occurred_at=now, actor_user_id=actor.id, actor_role=actor.role,
                 details={"parameter": parameter, "value": value, "effective_from": effective_from.isoformat(),
                          "reason": reason})
    return change


def _refusal(parameter: str, value: int, exc: ValidationError, later: datetime | None) -> Refusal:
    err = exc.errors()[0]
    description = PolicyParameters.model_fields[parameter].description
    message = f"{parameter} = {value}: {err['msg']}" + (f" ({description})" if description else "")
    if later is not None:
        message += f", together with the change scheduled for {later.isoformat()}"
    return Refusal(Kind.INVALID, err["type"], message, "value")
