"""Composition root of the worker: settings → database → Temporal client → workflows and activities."""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.notifications import run_webhook_relay
from activities.registry import activity_objects, collect
from settings import Settings, get_settings
from store.session import make_engine, make_session_factory
from workflows.registry import WORKFLOWS


def build_worker(
    client: Client,
    session_factory: sessionmaker[Session],
    settings: Settings,
    *,
    task_queue: str | None = None,
    executor: ThreadPoolExecutor | None = None,
    **worker_kwargs,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=WORKFLOWS,
        activities=collect(activity_objects(session_factory, settings)),
        # psycopg2 blocks: activities are plain functions on a thread pool.
        activity_executor=executor or ThreadPoolExecutor(max_workers=settings.activity_threads),
        **worker_kwargs,
    )


async def run(settings: Settings | None = None) -> None:
    from api.temporal import connect

    settings = settings or get_settings()
    engine = make_engine(settings.require_database_url())
    client = await connect(settings)
    session_factory = make_session_factory(engine)
    worker = build_worker(client, session_factory, settings)
    # SIGINT/SIGTERM (Ctrl-C, `tanpuhui dev`, `docker stop`) shut worker and relay down gracefully.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The webhook relay runs beside every worker; replicas share deliveries (SKIP LOCKED).
    relay = asyncio.create_task(run_webhook_relay(session_factory, stop))
    logging.getLogger(__name__).info("worker polling task queue %s", settings.task_queue)
    try:
        running = asyncio.create_task(worker.run())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done():
            await worker.shutdown()
        stopping.cancel()
        await running  # a worker that failed on its own exits with its error
    finally:
        stop.set()
        await relay
        engine.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    asyncio.run(run())


if __name__ == "__main__":
    main()
