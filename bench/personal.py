"""Benchmark: behaviour records pushed through the HTTP API and accounted end to end, against PostgreSQL
COPY of the same rows into an unindexed table, same run.

    .venv/bin/python -m bench.personal --records 1000000

Batches of 10,000 records (NDJSON) from 4 concurrent pushers (keep-alive HTTP/1.1, h11) into the API
(uvicorn, its own process), accounted by the worker processes (one for workflows, `--activity-workers`
for activities, on one task queue) on a Temporal test server. A realistic mix: 5% duplicates (events sent
again), 3% of subjects nobody bound, 2% invalid (a phone number as subject, a bad quantity), metro rides
of residents who ride a lot (caps hit). The clock runs from the first push until every batch is accounted
(every record has its outcome, balances updated). Then the same rows (as the sources send them) are
COPYed into an unindexed table of the same database. Prints records/s of both and the ratio (target
>= 0.25), the peak RSS of the API and the workers, and checks that the grams credited to records equal
the sum of the balances. docs/personal.md records figures and what limits them.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import orjson
import psycopg2
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment


from bench.issuance import Actor, _api_ready, _free_port, _org, _spawn, _stop
from bench.lean_http import Connection
from domain.personal import subject_hash
from domain.roles import OrganisationType, Role
from store import personal
from store.migrate import upgrade
from store.models.identity import User
from store.models.personal import PersonalAccount, PersonalBinding
from settings import binary_path
from store.session import make_engine, make_session_factory, normalise_url
from tests.personal_helpers import publish_personal
from workflows import search_attributes

API = "/api/v1"
BATCH = 10_000
PUSHERS = 4
SUBJECTS = 20_000


def _dsn(url: str) -> str:
    return make_url(normalise_url(url)).render_as_string(hide_password=False).replace("postgresql+psycopg2", "postgresql")


def make_records(n: int, seed: int = 7) -> list[dict]:
    """The sources' records: metro rides and walks of SUBJECTS residents over the last 3 days."""
    rnd = random.Random(seed)
    now = datetime.now(timezone.utc)
    out: list[dict] = []
    for i in range(n):
        roll = rnd.random()
        if roll < 0.05 and out:  # sent again
            out.append(dict(out[rnd.randrange(len(out))]))
            continue
        subject = f"s-{rnd.randrange(SUBJECTS)}" if roll >= 0.08 else f"stranger-{rnd.randrange(10**6)}"
        walk = rnd.random() < 0.3
        # The first 2% of subjects ride and walk a lot: their days hit the caps (50 km, 20,000 steps).
        heavy = subject.startswith("s-") and int(subject[2:]) < SUBJECTS // 50
        rec = {"source_event_id": f"ev-{i}", "subject_ref": subject,
               "behaviour": "walk_step" if walk else "metro_km",
               "quantity": (rnd.randint(3000, 9000) if heavy else rnd.randint(100, 3000)) if walk
               else round(rnd.uniform(15, 40) if heavy else rnd.uniform(0.5, 6), 3),
               "unit": "step" if walk else "km",
               "occurred_at": (now - timedelta(minutes=rnd.randrange(3 * 24 * 60))).isoformat()}
        if 0.08 <= roll < 0.09:
            rec["subject_ref"] = f"138{rnd.randrange(10**8):08d}"  # a phone number: refused
        elif 0.09 <= roll < 0.10:
            rec["quantity"] = -1
        out.append(rec)
    return out


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [pid, *(k for kid in kids for k in _tree(kid))]


def _setup_residents(sf, source_id: int) -> None:
    """SUBJECTS residents with accounts, each bound to its subject (written directly: not measured)."""
    with sf() as s, s.begin():
        key = personal.subject_key(s)
        users = s.execute(insert(User).returning(User.id), [
            {"name": f"resident {k}", "role": Role.INDIVIDUAL.value, "active": True} for k in range(SUBJECTS)]
        ).scalars().all()
        now = datetime.now(timezone.utc)
        accounts = s.execute(insert(PersonalAccount).returning(PersonalAccount.id), [
            {"user_id": u, "account_number": f"TPH-P-{u:08d}", "created_at": now} for u in users]
        ).scalars().all()
        s.execute(insert(PersonalBinding), [
            {"source_id": source_id, "account_id": a, "subject_hash": subject_hash(key, f"s-{k}"), "bound_at": now}
            for k, a in enumerate(accounts)])
    with sf() as s:  # as autovacuum would have by now in a running deployment
        s.execute(text("ANALYZE personal_bindings")); s.execute(text("ANALYZE personal_accounts")); s.commit()


async def push_all(port: int, headers: dict, bodies: list[bytes]) -> dict[int, int]:
    statuses: dict[int, int] = {}
    queue = list(enumerate(bodies))
    auth = [("Authorization", headers["Authorization"])]

    async def pusher() -> None:
        conn = Connection(port)
        try:
            while queue:
                _, body = queue.pop(0)
                status = await conn.post(f"{API}/behaviour-batches", auth, body, "application/x-ndjson")
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            await conn.close()

    await asyncio.gather(*[pusher() for _ in range(PUSHERS)])
    return statuses


def copy_baseline(url: str, records: list[dict]) -> float:
    """COPY of the same rows, as sent, into an unindexed table (one connection; the yardstick)."""
    buf = io.StringIO()
    for r in records:
        buf.write(f"{r['source_event_id']}\t{r['subject_ref']}\t{r['behaviour']}\t{r['quantity']}\t{r['unit']}\t"
                  f"{r['occurred_at']}\n")
    data = buf.getvalue()
    conn = psycopg2.connect(_dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE copy_yardstick (source_event_id text, subject_ref text, behaviour text, "
                        "quantity numeric, unit text, occurred_at timestamptz)")
            conn.commit()
            started = time.perf_counter()
            cur.copy_expert("COPY copy_yardstick FROM STDIN", io.StringIO(data))
            conn.commit()
            return time.perf_counter() - started
    finally:
        conn.close()


async def main(n: int, admin_url: str, activity_workers: int) -> None:
    name = f"tanpuhui_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(_dsn(admin_url))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=2)
    processes: list[asyncio.subprocess.Process] = []
    env: WorkflowEnvironment | None = None
    try:
        upgrade(url)
        sf = make_session_factory(engine)
        publish_personal(sf)
        operator = Actor(sf, Role.OPERATOR_ADMIN, _org(sf, OrganisationType.PUBLIC_INSTITUTION))
        source_org = _org(sf, OrganisationType.ENTERPRISE)
        source = Actor(sf, Role.DATA_SOURCE, source_org)
        records = make_records(n)
        bodies = [b"\n".join(orjson.dumps(r) for r in records[i:i + BATCH]) for i in range(0, n, BATCH)]
        server = binary_path("temporal-test-server")
        env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=server,
                                                           data_converter=pydantic_data_converter)
        await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={k.name: k.indexed_value_type for k in search_attributes.ALL}))
        task_queue, port = f"bench-{uuid.uuid4().hex[:6]}", _free_port()
        config = {"DATABASE_URL": url, "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
                  "TASK_QUEUE": task_queue}
        workers = [await _spawn(["-m", "bench.worker_process", "workflows"], config)]
        workers += [await _spawn(["-m", "bench.worker_process", "activities"], config) for _ in range(activity_workers)]
        processes.extend(workers)
        api = await _spawn(["-m", "uvicorn", "--factory", "api.app:create_app", "--port", str(port),
                            "--log-level", "warning", "--no-access-log"], config)
        processes.append(api)
        for worker in workers:
            if (await worker.stdout.readline()).strip() != b"ready":
                raise RuntimeError(f"a worker process exited with {await worker.wait()}")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            await _api_ready(http, api)
            r = await http.post(f"{API}/data-sources", headers=operator.headers, json={
                "organisation_id": source_org.id, "behaviours": ["metro_km", "walk_step"]})
            assert r.status_code == 201, r.text
            _setup_residents(sf, r.json()["id"])
        started = time.perf_counter()
        statuses = await push_all(port, source.headers, bodies)
        pushed = time.perf_counter() - started
        while True:
            with sf() as s:
                left = s.execute(text("SELECT count(*) FROM behaviour_batches WHERE status <> 'accounted'")).scalar()
            if not left:
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        rss = {"API": max(_peak_rss_mb(p) for p in _tree(api.pid)),
               "workers": [round(_peak_rss_mb(w.pid)) for w in workers]}
        copy_seconds = copy_baseline(url, records)
        with sf() as s:
            outcomes = dict(s.execute(text("SELECT outcome, count(*) FROM behaviour_records GROUP BY 1")).all())
            credited = s.execute(text("SELECT coalesce(sum(grams), 0) FROM behaviour_records")).scalar()
            balances = s.execute(text(  # each account's balance as the API reads it: the sum of its day rows
                "SELECT coalesce(sum(b), 0) FROM personal_accounts a CROSS JOIN LATERAL "
                "(SELECT sum(grams) b FROM personal_daily_credits d WHERE d.account_id = a.id) x")).scalar()
            days = s.execute(text("SELECT coalesce(sum(grams), 0) FROM personal_daily_credits")).scalar()
            # The accounting's pace: the gaps between batches' accounted_at (set at the end of each accounting).
            done = [r[0] for r in s.execute(text(
                "SELECT extract(epoch FROM accounted_at) FROM behaviour_batches ORDER BY accounted_at"))]
            first = s.execute(text("SELECT extract(epoch FROM min(received_at)) FROM behaviour_batches")).scalar()
    finally:
        await asyncio.gather(*(_stop(p) for p in processes))
        if env is not None:
            await env.shutdown()
        engine.dispose()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    rate, copy_rate = n / elapsed, n / copy_seconds
    print(f"records: {n} in {len(bodies)} batches by {PUSHERS} pushers; answers {statuses}")
    print(f"outcomes: {outcomes}")
    print(f"pushed (202s) in {pushed:.1f} s; accounted end to end in {elapsed:.1f} s")
    print(f"through the API, accounted: {rate:10.0f} records/s")
    print(f"COPY, unindexed table:      {copy_rate:10.0f} records/s ({copy_seconds:.1f} s)")
    print(f"ratio: {rate / copy_rate:.3f} (target >= 0.25)")
    gaps = sorted(float(b - a) for a, b in zip(done, done[1:])) or [0.0]
    print(f"accounting pace: first batch accounted {float(done[0] - first):.2f} s after the first push; gaps "
          f"between batches accounted: median {gaps[len(gaps) // 2]:.3f} s, max {gaps[-1]:.3f} s")
    print(f"peak RSS: API {rss['API']:.0f} MB, workers {rss['workers']} MB (workflows, activities…)")
    assert None not in outcomes and sum(outcomes.values()) == n, outcomes
    assert credited == balances == days, (credited, balances, days)
    print(f"check: every record has its outcome; grams credited to records = sum of balances = {balances}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--activity-workers", type=int, default=1)
    parser.add_argument("--database", default=os.environ.get("TEST_DATABASE_URL",
                                                            "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="an administrative PostgreSQL URL; a scratch database is made and dropped")
    args = parser.parse_args()
    asyncio.run(main(args.records, args.database, args.activity_workers))
