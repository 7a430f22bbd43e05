"""Composition root of the worker: settings → database → Temporal client → workflows and activities."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor, Worker

from activities.deployment import DeploymentGuard
from activities.notifications import run_webhook_relay
from activities.registry import activity_objects, collect
from settings import Settings, get_settings
from store.session import make_engine, make_session_factory
from workflows.kit import DeploymentInterceptor
from workflows.registry import WORKFLOWS


def cache_workflow_bytecode(workflow_classes: Sequence[type]) -> None:
    """The workflow sandbox imports the workflow modules afresh for every case it starts or replays.
    Where bytecode is not written on import (PYTHONDONTWRITEBYTECODE, as on the CI machines), that
    means compiling their source each time; compiling them once here spares it. Best effort: on a
    read-only install the modules are simply compiled per case, as before."""
    import compileall
    import sys
    from pathlib import Path

    import workflows

    compileall.compile_dir(Path(workflows.__file__).parent, quiet=2)
    for cls in workflow_classes:
        path = getattr(sys.modules.get(cls.__module__), "__file__", None)
        if path:
            compileall.compile_file(path, quiet=2)


class WorkerRole(StrEnum):
    """What a worker process polls for. One process may do both (`tanpuhui dev`); in deployment the
    activities (blocking database work on a thread pool) and the workflow tasks (the event loop) run in
    separate processes, so neither waits on the other for the interpreter lock, and each scales alone."""

    ALL = "all"
    WORKFLOWS = "workflows"
    ACTIVITIES = "activities"


def build_worker(
    client: Client,
    session_factory: sessionmaker[Session],
    settings: Settings,
    *,
    role: WorkerRole = WorkerRole.ALL,
    task_queue: str | None = None,
    executor: ThreadPoolExecutor | None = None,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
    **worker_kwargs,
) -> Worker:
    kinds: dict[str, Any] = {}
    # Cases send their deployment id with every activity; activities refuse another deployment's.
    guard = DeploymentGuard(session_factory)
    interceptors: list[Any] = [DeploymentInterceptor(), guard]
    if role != WorkerRole.ACTIVITIES:
        cache_workflow_bytecode(extra_workflows)
        kinds["workflows"] = [*WORKFLOWS, *extra_workflows]
    if role != WorkerRole.WORKFLOWS:
        kinds["activities"] = [*collect(activity_objects(session_factory, settings, guard, client,
                                                         task_queue or settings.task_queue)), *extra_activities]
        # psycopg2 blocks: activities are plain functions on a thread pool.
        kinds["activity_executor"] = executor or ThreadPoolExecutor(max_workers=settings.activity_threads)
    interceptors += [*worker_kwargs.pop("interceptors", ()), CountActivityFailures()]
    if settings.max_cached_workflows is not None and "workflows" in kinds:
        worker_kwargs.setdefault("max_cached_workflows", settings.max_cached_workflows)
    return Worker(client, task_queue=task_queue or settings.task_queue, interceptors=interceptors, **kinds,
                  **worker_kwargs)


class CountActivityFailures(Interceptor):
    """Counts activity failures by activity and error type on the SDK's own metric meter (exported with its
    runtime metrics when WORKER_METRICS_ADDRESS is set)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityFailures(next)


class _ActivityFailures(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:  # noqa: A002 (the SDK's name)
        try:
            return await self.next.execute_activity(input)
        except BaseException as exc:
            error = exc.type if isinstance(exc, ApplicationError) and exc.type else type(exc).__name__
            activity.metric_meter().create_counter(
                "tanpuhui_activity_failures", "Activity attempts that failed, by activity and error type"
            ).add(1, {"activity_type": activity.info().activity_type, "error_type": error})
            raise


async def run(settings: Settings | None = None, role: WorkerRole = WorkerRole.ALL) -> None:
    from api.temporal import connect

    settings = settings or get_settings()
    engine = make_engine(settings.require_database_url())
    runtime = None
    if settings.worker_metrics_address:
        # The SDK's runtime metrics (task latencies, poll counts, activity failures…) for Prometheus.
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
            bind_address=settings.worker_metrics_address)))
    client = await connect(settings, runtime=runtime)
    session_factory = make_session_factory(engine)
    worker = build_worker(client, session_factory, settings, role=role)
    # SIGINT/SIGTERM (Ctrl-C, `tanpuhui dev`, `docker stop`) shut worker and relay down gracefully.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The webhook relay runs beside every worker that runs activities; replicas share deliveries
    # (SKIP LOCKED).
    relay = (asyncio.create_task(run_webhook_relay(session_factory, stop)) if role != WorkerRole.WORKFLOWS
             else None)
    logging.getLogger(__name__).info("worker (%s) polling task queue %s", role.value, settings.task_queue)
    try:
        running = asyncio.create_task(worker.run())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not running.done():
                # Also when this coroutine is cancelled: a worker left running would go on polling (or sit in its
                # start-up check, which a cancel does not reach) for a caller that is gone.
                await asyncio.shield(worker.shutdown())
        await running  # a worker that failed on its own exits with its error
    finally:
        stop.set()
        if relay is not None:
            await relay
        engine.dispose()


def main(role: WorkerRole = WorkerRole.ALL) -> None:
    from api.observability import configure_logging

    configure_logging()
    asyncio.run(run(role=role))


if __name__ == "__main__":
    main()
