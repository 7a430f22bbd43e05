"""The one way a route talks to Temporal: `CaseActions` (dependency `Actions`).

A request that waits on a workflow must not hold a database connection meanwhile: with the worker down,
such waits pile up, and a pool of held connections starves every other route (issue 10, defect 3). So
each call here

1. ends the request's database transaction first, so its connection goes back to the pool (what it read
   stays readable; writes must be committed or rolled back before),
2. refuses at once with 503 when the Temporal frontend was found unreachable in the last seconds,
3. waits at most `TEMPORAL_WAIT_SECONDS`, then answers 504 (a human action is sent with a deterministic
   update id, so retrying the same request never applies it twice),
4. and `read()` builds the answer afterwards with a fresh, short session.

Routes: read and check what they need (in the thread pool), then `await actions.update(...)` /
`query(...)` / `start(...)`, then `await actions.read(lambda s: ...)`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import get_temporal
from api.errors import Problem
from api.observability import note_case
from api.workflow_updates import execute_action, execute_update
from domain.contracts.cases import Actor
from store.models.identity import User

T = TypeVar("T")

# How long a finding "the frontend is unreachable" (or reachable) stands before it is checked again.
_GATE_SECONDS = 2.0
_UNREACHABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}
# The engine answered but cannot serve this (e.g. a test server without visibility): a 503, never a 500.
_ENGINE_TROUBLE = {RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.INTERNAL,
                   RPCStatusCode.UNKNOWN, RPCStatusCode.ABORTED}


def actor_of(user: User) -> Actor:
    """The kit's Actor of the signed-in user: who acts on a case, as every process's workflow checks it."""
    return Actor(user_id=user.id, organisation_id=user.organisation_id, role=user.role)


def unreachable() -> Problem:
    return Problem(503, "Service unavailable", "the workflow engine (Temporal) cannot be reached; retry shortly",
                   headers={"Retry-After": "5"})


class TemporalGate:
    """Remembers for a moment whether the Temporal frontend answers, so that while it is down requests are
    refused at once instead of each sitting out the SDK's reconnect attempts; it looks again every
    couple of seconds, so the API recovers on its own."""

    def __init__(self) -> None:
        self.up = True
        self.checked_at = float("-inf")
        self._checking: asyncio.Task[bool] | None = None

    async def _check(self, client: Client) -> bool:
        try:
            # A frontend that is down refuses the connection at once; only a slow one takes the timeout, which is
            # generous so that a busy server (a loaded machine) is not taken for a dead one.
            await asyncio.wait_for(client.service_client.check_health(timeout=timedelta(seconds=5)), 6)
            return True
        except Exception:
            return False

    async def ensure_up(self, client: Client) -> None:
        if time.monotonic() - self.checked_at > _GATE_SECONDS:
            if self._checking is None or self._checking.done():
                self._checking = asyncio.ensure_future(self._check(client))
            checking = self._checking
            up = await asyncio.shield(checking)
            if checking is self._checking:
                self.up, self.checked_at = up, time.monotonic()
        if not self.up:
            raise unreachable()

    def saw_unreachable(self) -> None:
        self.up, self.checked_at = False, time.monotonic()


class CaseActions:
    def __init__(self, request: Request, client: Client) -> None:
        self.request = request
        self.client = client
        state = request.app.state
        self.wait_seconds: float = state.settings.temporal_wait_seconds
        self.gate: TemporalGate = state.temporal_gate
        self.session_factory = state.session_factory

    async def release(self) -> None:
        """Give the request's session (and its connection) back; it may be used again later."""
        session: Session | None = getattr(self.request.state, "db_session", None)
        # Ending the transaction gives the connection back to the pool. It is a commit, not a rollback: the
        # routes commit or roll back their own writes before they wait, so what is left is reads, and a commit
        # expires nothing (expire_on_commit=False): the objects stay attached and readable, and anything not
        # loaded yet loads after the wait, on a fresh connection.
        if session is not None and session.in_transaction():
            await run_in_threadpool(session.commit)
        release_slot = getattr(self.request.state, "release_db_slot", None)
        if release_slot is not None:
            release_slot()  # the wait holds no connection, nor a place among those who may (api.deps)

    async def wait(self, call: Awaitable[T], *, what: str = "the case") -> T:
        """Await one Temporal call, holding no database connection, for at most TEMPORAL_WAIT_SECONDS;
        while it waits, the frontend is looked at every couple of seconds, so a Temporal that went away
        is a 503 within seconds, not after the whole wait."""
        if what != "the case":
            note_case(what)
        await self.release()
        try:
            await self.gate.ensure_up(self.client)
        except Problem:
            if asyncio.iscoroutine(call):
                call.close()
            raise
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        task = asyncio.ensure_future(call)
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise self._timed_out(what)
                done, _ = await asyncio.wait({task}, timeout=min(remaining, _GATE_SECONDS))
                if task in done:
                    return self._result(task, what)
                await self.gate.ensure_up(self.client)
        finally:
            if not task.done():
                task.cancel()
                # The SDK turns the cancellation into its own error: retrieve it, nobody waits for it now.
                task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _timed_out(self, what: str) -> Problem:
        return Problem(504, "Gateway timeout",
                       f"{what} did not answer within {self.wait_seconds:g} s (is a worker running?); "
                       "nothing was lost: retry the same request later, it is never applied twice",
                       headers={"Retry-After": "10"})

    def _result(self, task: asyncio.Future[T], what: str) -> T:
        try:
            return task.result()
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise self._timed_out(what) from None
        except RPCError as exc:
            if exc.status in _UNREACHABLE:
                self.gate.saw_unreachable()
                raise unreachable() from exc
            if exc.status in _ENGINE_TROUBLE:
                raise Problem(503, "Service unavailable",
                              f"the workflow engine could not do this now ({exc.status.name.lower()}): {exc.message}",
                              headers={"Retry-After": "10"}) from exc
            raise  # not found, already exists…: the route says what that means for it

    async def update(self, workflow_id: str, update: str, arg: Any, *, update_id: str,
                     result_type: type | None = None, statuses: Mapping[str, int] | None = None) -> Any:
        """A human action as a workflow update; refusals become 403/404/409/422 (api.workflow_updates)."""
        return await self.wait(execute_update(self.client, workflow_id, update, arg, update_id=update_id,
                                              result_type=result_type, statuses=statuses), what=workflow_id)

    async def action(self, case_id: str, update: str, arg: Any, *, seq: int | str,
                     result_type: type | None = None, statuses: Mapping[str, int] | None = None) -> Any:
        """A human action on a case built on the kit (workflows/kit.py): its update id is made of the
        action, the case, the step `seq` the caller read and the payload's digest, so an identical retry
        answers the first result (also once the case has ended) and another payload is refused (409)."""
        return await self.wait(execute_action(self.client, case_id, update, arg, seq=seq, result_type=result_type,
                                              statuses=statuses), what=case_id)

    async def query(self, workflow_id: str, name: str, result_type: type) -> Any:
        """The case's live state; 503 when the case cannot answer, 504 when it does not answer in time."""
        async def ask():
            try:
                return await self.client.get_workflow_handle(workflow_id).query(name, result_type=result_type)
            except WorkflowQueryFailedError as exc:
                raise Problem(503, "Service unavailable", f"the state of {workflow_id} cannot be read now") from exc
            except RPCError as exc:
                if exc.status in _UNREACHABLE:
                    raise
                raise Problem(503, "Service unavailable", f"the state of {workflow_id} cannot be read now") from exc

        return await self.wait(ask(), what=workflow_id)

    async def start(self, workflow: str, arg: Any, *, id: str, task_queue: str, **options: Any) -> bool:
        """Start a case's workflow unless it runs already (a retried create); True if this call started it."""
        async def start() -> bool:
            try:
                await self.client.start_workflow(workflow, arg, id=id, task_queue=task_queue,
                                                 id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, **options)
                return True
            except WorkflowAlreadyStartedError:
                return False

        return await self.wait(start(), what=id)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(session, *args)` with a fresh session of its own, in the thread pool (the answer's reads)."""
        def run() -> T:
            with self.session_factory() as session:
                return fn(session, *args)

        return await run_in_threadpool(run)


async def case_actions(request: Request, client: Annotated[Client, Depends(get_temporal)]) -> CaseActions:
    return CaseActions(request, client)


Actions = Annotated[CaseActions, Depends(case_actions)]
