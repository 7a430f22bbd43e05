"""Composition root of the worker: settings → database → Temporal client → workflows and activities."""

from __future__ import annotations

import asyncio
import logging
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
    # The webhook relay runs beside every worker; replicas share deliveries (SKIP LOCKED).
    stop_relay = asyncio.Event()
    relay = asyncio.create_task(run_webhook_relay(session_factory, stop_relay))
    logging.getLogger(__name__).info("worker polling task queue %s", settings.task_queue)
    try:
        await worker.run()
    finally:
        stop_relay.set()
        await relay
        engine.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
