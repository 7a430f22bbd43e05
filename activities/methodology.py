"""Methodology activities: mirror cases, publish versions, record re-evaluations (all idempotent)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.contracts.methodology import (
    MIRROR_METHODOLOGY,
    MIRROR_REEVALUATION,
    PUBLISH_METHODOLOGY,
    MethodologyMirror,
    PublishedVersion,
    PublishRequest,
    ReevaluationMirror,
)
from settings import Settings
from store import methodology
from store.session import transaction


class MethodologyActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=MIRROR_METHODOLOGY)
    def mirror_methodology(self, m: MethodologyMirror) -> None:
        with transaction(self.session_factory) as session:
            methodology.mirror(session, m)

    @activity.defn(name=PUBLISH_METHODOLOGY)
    def publish_methodology(self, req: PublishRequest) -> PublishedVersion:
        with transaction(self.session_factory) as session:
            return methodology.publish(session, req)

    @activity.defn(name=MIRROR_REEVALUATION)
    def mirror_reevaluation(self, m: ReevaluationMirror) -> None:
        with transaction(self.session_factory) as session:
            methodology.mirror_reevaluation(session, m)


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [MethodologyActivities(session_factory)]
