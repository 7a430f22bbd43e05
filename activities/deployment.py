"""A stray worker (started against another database, polling the same Temporal task queue) must not
serve this deployment's cases: every case carries the deployment id of the database it was created
in, the kit sends it with each activity, and a worker whose database holds another id refuses the
task, loudly, with a non-retryable error naming both (the case tries again later, elsewhere)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.converter import PayloadConverter
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from domain.contracts.cases import DEPLOYMENT_HEADER
from domain.rules import Rule
from store import cases

log = logging.getLogger(__name__)


class DeploymentGuard(Interceptor):
    """Worker interceptor (activity side): refuses activities of another deployment."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory
        self._ours: str | None = None
        self._lock = threading.Lock()

    def ours(self) -> str:
        if self._ours is None:
            with self._lock, self._session_factory() as session:
                self._ours = cases.deployment_id(session)
        return self._ours

    def check(self, claimed: str | None) -> None:
        """Refuse a task whose case belongs to another deployment; None: not a case's task."""
        if claimed is None:
            return
        ours = self.ours()
        if claimed != ours:
            info = activity.info() if activity.in_activity() else None
            where = f" ({info.activity_type} of {info.workflow_id})" if info else ""
            message = (f"wrong deployment: this worker's database is deployment {ours}, the task{where} "
                       f"belongs to deployment {claimed}; check the worker's DATABASE_URL and TASK_QUEUE")
            log.error(message)
            raise ApplicationError(message, {"field": None, "rule": Rule.WRONG_DEPLOYMENT.value},
                                   type=Rule.WRONG_DEPLOYMENT.value, non_retryable=True)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Guarded(next, self)


class _Guarded(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, guard: DeploymentGuard) -> None:
        super().__init__(next)
        self._guard = guard
        self._converter = PayloadConverter.default

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        payload = input.headers.get(DEPLOYMENT_HEADER)
        claimed = self._converter.from_payloads([payload], [str])[0] if payload is not None else None
        self._guard.check(claimed)
        return await super().execute_activity(input)
