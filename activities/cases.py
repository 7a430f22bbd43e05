from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.contracts.cases import GRANT_CASE_ACCESS, MIRROR_CASE, CaseAccessGrant, CaseMirror
from settings import Settings
from store import cases
from store.session import transaction


class CaseActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=MIRROR_CASE)
    def mirror_case(self, m: CaseMirror) -> None:
        with transaction(self.session_factory) as session:
            cases.mirror(session, m)

    @activity.defn(name=GRANT_CASE_ACCESS)
    def grant_case_access(self, g: CaseAccessGrant) -> None:
        with transaction(self.session_factory) as session:
            cases.grant(session, g)


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [CaseActivities(session_factory)]
