"""Benchmark: trades through the HTTP API against pgbench TPC-B on the same PostgreSQL, same run.

    .venv/bin/python -m bench.ledger --trades 3000 --seconds 30

32 concurrent exchange clients record trades among 8 hot accounts (split-heavy quantities: 1..9 t
out of blocks of many tonnes, so nearly every trade splits a block) through the API (uvicorn, its own
process, as `tanpuhui api` runs) on a scratch database; then `pgbench -i` and `pgbench -c 32` on
another scratch database of the same server. Prints trades/s, pgbench tps and their ratio (target:
at least 0.5), then checks the ledger's invariants (blocks cover what was issued, never overlap,
movements replay to the blocks) and that the tonnes are all still there.
"""

from __future__ import annotations

import argparse
import asyncio
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

from bench.issuance import Actor, _free_port, _org, _spawn, _stop
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


async def run_trades(http: httpx.AsyncClient, exchange: Actor, numbers: list[str], trades: int) -> tuple[float, Counter]:
    statuses: Counter = Counter()
    per_client = trades // CLIENTS

    async def client(k: int) -> None:
        rnd = random.Random(k)
        for i in range(per_client):
            a, b = rnd.sample(range(ACCOUNTS), 2)
            r = await http.post(f"{API}/trades", headers=exchange.headers, json={
                "trade_ref": f"b-{k}-{i}", "seller_account": numbers[a], "buyer_account": numbers[b],
                "quantity": rnd.randint(1, 9)})
            statuses[r.status_code] += 1

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
        out = subprocess.run(["pgbench", "-c", str(CLIENTS), "-j", "2", "-T", str(seconds), *args, name],
                             check=True, capture_output=True, text=True).stdout
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    m = re.search(r"tps = ([0-9.]+)", out)
    if m is None:
        raise RuntimeError(f"no tps in pgbench's answer:\n{out}")
    return float(m.group(1))


async def main(trades: int, seconds: int, admin_url: str) -> None:
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
                            "--log-level", "warning", "--no-access-log"],
                           {"DATABASE_URL": url, "TEMPORAL_ADDRESS": ""})
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120,
                                     limits=httpx.Limits(max_connections=CLIENTS)) as http:
            await _ready(http, api)
            elapsed, statuses = await run_trades(http, exchange, numbers, trades)
        await _stop(api)
        api = None
        tps = pgbench(admin_url, seconds)
        done = sum(statuses.values())
        rate = done / elapsed
        print(f"trades: {done} by {CLIENTS} exchange clients on {ACCOUNTS} hot accounts; answers {dict(statuses)}")
        print(f"ledger trades through HTTP: {rate:8.1f} trades/s ({elapsed:.1f} s)")
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
    parser.add_argument("--database", default=os.environ.get("TEST_DATABASE_URL",
                                                            "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="an administrative PostgreSQL URL; scratch databases are made and dropped")
    args = parser.parse_args()
    asyncio.run(main(args.trades, args.seconds, args.database))
