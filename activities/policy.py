"""A case's policy snapshot: the parameters in force when it starts, kept for its whole life (SPEC §3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.contracts.policy import SNAPSHOT_POLICY, PolicySnapshotRequest
from domain.policy import PolicyParameters
from settings import Settings
from store import policy


class PolicyActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=SNAPSHOT_POLICY)
    def snapshot_policy(self, req: PolicySnapshotRequest) -> PolicyParameters:
        with self.session_factory() as session:
            return policy.effective(session, req.at)


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [PolicyActivities(session_factory)]
