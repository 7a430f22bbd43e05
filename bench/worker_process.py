"""The benchmark's workers, in their own processes as in deployment (`tanpuhui worker --only workflows`
and `--only activities`): the platform's workflows or activities plus the bare yardstick's, on the task
queue and server given by the environment. Prints "ready" once polling; stops on SIGTERM.

    python -m bench.worker_process workflows|activities"""

from __future__ import annotations

import asyncio
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

from api.temporal import connect
from bench.bare_workflow import BareCase, bench_noop
from settings import get_settings
from store.session import make_engine, make_session_factory
from worker import WorkerRole, build_worker


async def main() -> None:
    settings = get_settings()
    engine = make_engine(settings.require_database_url())
    client = await connect(settings)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    with ThreadPoolExecutor(max_workers=settings.activity_threads) as pool:
        # The platform's worker as `tanpuhui worker` builds it, with the yardstick registered beside it.
        worker = build_worker(client, make_session_factory(engine), settings, role=WorkerRole(sys.argv[1]),
                              executor=pool, extra_workflows=[BareCase], extra_activities=[bench_noop])
        async with worker:
            print("ready", flush=True)
            await stop.wait()
    engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
