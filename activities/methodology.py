"""Methodology activities: the facts writers of cases and re-evaluations, publishing versions, and the
re-evaluation date of a version (all idempotent)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.contracts.methodology import (
    CASE_TYPE,
    PUBLISH_METHODOLOGY,
    REEVALUATION_CASE_TYPE,
    REEVALUATION_DUE,
    DueCheck,
    PublishedVersion,
    PublishRequest,
)
from settings import Settings
from store import methodology
from store.session import transaction

FACTS_WRITERS = {CASE_TYPE: methodology.save_case, REEVALUATION_CASE_TYPE: methodology.save_reevaluation}


class MethodologyActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=PUBLISH_METHODOLOGY)
    def publish_methodology(self, req: PublishRequest) -> PublishedVersion:
        with transaction(self.session_factory) as session:
            return methodology.publish(session, req)

    @activity.defn(name=REEVALUATION_DUE)
    def reevaluation_due(self, check: DueCheck) -> datetime | None:
        with self.session_factory() as session:
            return methodology.reevaluation_due(session, check.version_id)


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [MethodologyActivities(session_factory)]
