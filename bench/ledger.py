"""Benchmark: trades through the HTTP API against pgbench TPC-B on the same PostgreSQL, same run.

    .venv/bin/python -m bench.ledger --trades 3200 --seconds 20

32 concurrent exchange clients (keep-alive HTTP/1.1, h11) record trades among 8 hot accounts
(split-heavy quantities: 1..9 t out of blocks of many tonnes, so nearly every trade splits a block)
through the API (uvicorn, its own process, as `tanpuhui api` runs; `--api-workers` for more) on a
scratch database; then `pgbench -i` and `pgbench -c 32` on another scratch database of the same server.
Prints trades/s, the CPU per trade of the API, PostgreSQL's backends and this driver with the load
average, pgbench tps and the ratio (target: at least 0.5), then checks the ledger's invariants (blocks
cover what was issued, never overlap, movements replay to the blocks) and that the tonnes are all
still there. docs/ledger.md records figures and what limits them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import time
import uuid
from collections import Counter

import httpx
import psycopg2
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.cpu import backends, cpu_seconds
from bench.issuance import Actor, _free_port, _org, _spawn, _stop
from bench.lean_http import Connection
from domain.roles import OrganisationType, Role
from store import ledger
from store.migrate import upgrade
from store.models.identity import User
from store.session import make_engine, make_session_factory, normalise_url
from tests.issuance_helpers import make_project
from tests.ledger_helpers import check_invariants, issue_units, totals_by_state

API = "/api/v1"
ACCOUNTS = 8
CLIENTS = 32
TONNES = 100_000  # per account


def _dsn(url: str) -> str:
    return make_url(normalise_url(url)).render_as_string(hide_password=False).replace("postgresql+psycopg2", "postgresql")


async def _ready(http: httpx.AsyncClient, api) -> None:
    for _ in range(600):
        if api.returncode is not None:
            raise RuntimeError(f"the API process exited with {api.returncode}")
        try:
            if (await http.get(f"{API}/public/ledger/totals")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the API did not answer")


async def run_trades(port: int, exchange: Actor, numbers: list[str], trades: int) -> tuple[float, Counter]:
    statuses: Counter = Counter()
    per_client = trades // CLIENTS
    auth = [("Authorization", exchange.headers["Authorization"])]

    async def client(k: int) -> None:
        rnd = random.Random(k)
        http = Connection(port)
        try:
            for i in range(per_client):
                a, b = rnd.sample(range(ACCOUNTS), 2)
                statuses[await http.post(f"{API}/trades", auth, json.dumps({
                    "trade_ref": f"b-{k}-{i}", "seller_account": numbers[a], "buyer_account": numbers[b],
                    "quantity": rnd.randint(1, 9)}).encode())] += 1
        finally:
            await http.close()

    started = time.perf_counter()
    await asyncio.gather(*[client(k) for k in range(CLIENTS)])
    return time.perf_counter() - started, statuses


def pgbench(admin_url: str, seconds: int) -> float:
    url = make_url(normalise_url(admin_url))
    name = f"tanpuhui_pgbench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(_dsn(admin_url))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    args = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    try:
        subprocess.run(["pgbench", "-i", "-q", *args, name], check=True, capture_output=True)
        for attempt in range(6):
            run = subprocess.run(["pgbench", "-c", str(CLIENTS), "-j", "2", "-T", str(seconds), *args, name],
                                 capture_output=True, text=True)
            if run.returncode == 0:
                break
            # A shared server may have no 32 connections free for a moment (max_connections).
            if "too many clients" not in run.stderr or attempt == 5:
                raise RuntimeError(f"pgbench failed:\n{run.stderr}")
            time.sleep(10)
        out = run.stdout
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    m = re.search(r"tps = ([0-9.]+)", out)
    if m is None:
        raise RuntimeError(f"no tps in pgbench's answer:\n{out}")
    return float(m.group(1))


async def main(trades: int, seconds: int, admin_url: str, api_workers: int) -> None:
    name = f"tanpuhui_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(_dsn(admin_url))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=2)
    api = None
    try:
        upgrade(url)
        sf = make_session_factory(engine)
        holders = [Actor(sf, Role.APPLICANT, _org(sf, OrganisationType.ENTERPRISE)) for _ in range(ACCOUNTS)]
        exchange = Actor(sf, Role.EXCHANGE, _org(sf, OrganisationType.EXCHANGE))
        with sf() as s:
            orgs = [s.get(User, h.id).organisation_id for h in holders]
        project = make_project(sf, orgs[0], holders[0].id)
        for i, org in enumerate(orgs):
            issue_units(sf, project, org, TONNES, key=f"bench-{i}")
        with sf() as s, s.begin():
            numbers = [ledger.ensure_account(s, o).account_number for o in orgs]
        port = _free_port()
        api = await _spawn(["-m", "uvicorn", "--factory", "api.app:create_app", "--port", str(port),
                            "--log-level", "warning", "--no-access-log", "--workers", str(api_workers)],
                           {"DATABASE_URL": url, "TEMPORAL_ADDRESS": ""})
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            await _ready(http, api)
        # Where the CPU goes: the API process(es), PostgreSQL's backends of this database, this driver.
        api_pids = [api.pid, *(int(p) for p in subprocess.run(["pgrep", "-P", str(api.pid)], capture_output=True,
                                                               text=True).stdout.split())]
        load_before = os.getloadavg()[0]
        api_cpu, driver_cpu, pg_cpu = sum(map(cpu_seconds, api_pids)), time.process_time(), backends(admin_url, name)
        elapsed, statuses = await run_trades(port, exchange, numbers, trades)
        api_cpu = sum(map(cpu_seconds, api_pids)) - api_cpu
        driver_cpu = time.process_time() - driver_cpu
        pg_cpu = sum(cpu - pg_cpu.get(pid, 0.0) for pid, cpu in backends(admin_url, name).items())
        load_after = os.getloadavg()[0]
        await _stop(api)
        api = None
        done = sum(statuses.values())
        rate = done / elapsed
        print(f"trades: {done} by {CLIENTS} exchange clients on {ACCOUNTS} hot accounts; answers {dict(statuses)}")
        print(f"ledger trades through HTTP: {rate:8.1f} trades/s ({elapsed:.1f} s)")
        print(f"CPU per trade: API {1000 * api_cpu / done:.1f} ms ({api_workers} process(es)), PostgreSQL "
              f"{1000 * pg_cpu / done:.1f} ms, this driver {1000 * driver_cpu / done:.1f} ms; load average "
              f"{load_before:.1f} before the trades, {load_after:.1f} after, on {os.cpu_count()} cores", flush=True)
        tps = pgbench(admin_url, seconds)
        print(f"pgbench TPC-B -c {CLIENTS}:   {tps:8.1f} tps ({seconds} s)")
        print(f"ratio trades/tps: {rate / tps:.2f} (target >= 0.5)")
        with sf() as s:
            check_invariants(s)
            totals = totals_by_state(s)
            assert sum(totals.values()) == ACCOUNTS * TONNES, totals
            assert all(code in (201, 409) for code in statuses), statuses
            blocks = s.execute(text("SELECT count(*) FROM unit_blocks")).scalar()
        print(f"invariants hold: blocks cover the {ACCOUNTS * TONNES} t issued without overlap ({blocks} blocks), "
              "movements replay to them, no 5xx")
    finally:
        if api is not None:
            await _stop(api)
        engine.dispose()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=3200)
    parser.add_argument("--seconds", type=int, default=20, help="pgbench duration")
    parser.add_argument("--api-workers", type=int, default=1,
                        help="uvicorn worker processes of the API (1: as `tanpuhui api` runs)")
    parser.add_argument("--database", default=os.environ.get("TEST_DATABASE_URL",
                                                            "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="an administrative PostgreSQL URL; scratch databases are made and dropped")
    args = parser.parse_args()
    asyncio.run(main(args.trades, args.seconds, args.database, args.api_workers))
