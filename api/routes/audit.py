from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from api.deps import Authority, Bureau, DbSession
from api.schemas.audit import AuditEventOut, ChainReportOut
from store import audit

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/cases/{case_id}", response_model=list[AuditEventOut], summary="The audit trail of one case")
def case_trail(case_id: str, session: DbSession, _: Authority):
    return audit.trail(session, case_id)


@router.get("/verify", response_model=ChainReportOut, summary="Verify the whole hash chain")
def verify_chain(session: DbSession, _: Bureau):
    return asdict(audit.verify(session))
