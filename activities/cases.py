"""The kit's activities: record one step of a case (every process), grant case access, mirror a case."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.contracts.cases import (
    GRANT_CASE_ACCESS,
    MIRROR_CASE,
    RECORD_CASE_STEP,
    CaseAccessGrant,
    CaseMirror,
    CaseStep,
)
from settings import Settings
from store import cases
from store.identity import now_utc
from store.session import transaction


class CaseActivities:
    def __init__(self, session_factory: sessionmaker[Session],
                 facts_writers: dict[str, cases.FactsWriter] | None = None, guard: Any = None) -> None:
        self.session_factory = session_factory
        self.facts_writers = facts_writers or {}
        self.guard = guard

    @activity.defn(name=RECORD_CASE_STEP)
    def record_case_step(self, step: CaseStep) -> bool:
        """One transaction; False when the step was recorded before (a retry) or a later one was."""
        if self.guard is not None:
            self.guard.check(step.deployment_id)
        with transaction(self.session_factory) as session:
            # Webhooks are due from the relay's (wall) clock, not the workflow's.
            return cases.record_step(session, step, self.facts_writers.get(step.mirror.case_type), now=now_utc())

    @activity.defn(name=MIRROR_CASE)
    def mirror_case(self, m: CaseMirror) -> None:
        with transaction(self.session_factory) as session:
            cases.mirror(session, m)

    @activity.defn(name=GRANT_CASE_ACCESS)
    def grant_case_access(self, g: CaseAccessGrant) -> None:
        with transaction(self.session_factory) as session:
            cases.grant(session, g)


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    """Without facts writers (tests of one process): activities.registry builds the worker's own."""
    return [CaseActivities(session_factory)]
