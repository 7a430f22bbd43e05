from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.contracts.audit import RECORD_AUDIT, AuditRecord
from settings import Settings
from store import audit
from store.session import transaction


class AuditActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=RECORD_AUDIT)
    def record_audit(self, event: AuditRecord) -> int:
        with transaction(self.session_factory) as session:
            return audit.append(session, **event.model_dump())


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [AuditActivities(session_factory)]
