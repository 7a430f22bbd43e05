"""Policy parameters (SPEC §3): public in-force values; the bureau schedules changes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from api.deps import Authority, Bureau, DbSession
from api.idempotency import run_once
from api.schemas.policy import PolicyChangeCreate, PolicyChangeOut, PolicyOut, ScheduledChangeOut
from domain.clock import now_utc
from store import policy

router = APIRouter(prefix="/policy", tags=["policy"])


@router.get("", response_model=PolicyOut, summary="The parameters in force now and the changes scheduled")
def in_force(session: DbSession):
    now = now_utc()
    return PolicyOut(as_of=now, in_force=policy.effective(session, now),
                     scheduled=[ScheduledChangeOut.model_validate(c) for c in policy.scheduled(session, now)])


@router.get("/changes", response_model=list[PolicyChangeOut], summary="Every change, latest effective first")
def list_changes(session: DbSession, _: Authority):
    return policy.changes(session)


@router.post("/changes", status_code=201, response_model=PolicyChangeOut,
             summary="Schedule a change of one parameter from an effective instant (bureau)")
def schedule_change(
    body: PolicyChangeCreate,
    session: DbSession,
    actor: Bureau,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
):
    def create():
        now = now_utc()
        change = policy.schedule_change(
            session, parameter=body.parameter, value=body.value, effective_from=body.effective_from or now,
            reason=body.reason, actor=actor, now=now)
        return PolicyChangeOut.model_validate(change)

    return run_once(session, user=actor, scope="policy_changes", key=idempotency_key,
                    payload=body.model_dump(mode="json"), create=create)
