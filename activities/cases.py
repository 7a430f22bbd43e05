"""The kit's activities: record one step of a case (every process), grant case access, mirror a case."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.clock import now_utc
from domain.contracts.cases import (
    GRANT_CASE_ACCESS,
    MIRROR_CASE,
    RECORD_CASE_STEP,
    START_CASE,
    CaseAccessGrant,
    CaseMirror,
    CaseStep,
    StartCase,
)
from settings import Settings
from store import cases
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


class CaseStarter:
    """Starts a case workflow of its own from a workflow (lifecycles outliving their case): a child
    workflow would tie its end to its parent's, and its parent's history to its life."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue

    @activity.defn(name=START_CASE)
    async def start_case(self, s: StartCase) -> None:
        try:
            await self.client.start_workflow(s.workflow, s.input, id=s.workflow_id, task_queue=self.task_queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:
            pass  # started by an earlier attempt (or the same date's reminders run already)


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    """Without facts writers (tests of one process): activities.registry builds the worker's own."""
    return [CaseActivities(session_factory)]
