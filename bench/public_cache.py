"""A quick measure of the public-read cache (api/public.py): one client, sequential requests against the
API served by uvicorn, on a scratch database with N projects; first with the cache as built, then with
its lookups forced to miss (every request builds and serialises its answer, as before the cache), then
conditional requests answered 304.

    .venv/bin/python -m bench.public_cache [--projects 2000] [--requests 200]

Figures depend on the machine and what else runs on it; they are a before/after on the same run."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import time

import httpx
import psycopg2
import uvicorn
from sqlalchemy import text

from api import public
from api.app import create_app
from cli.main import api_server_config
from settings import Settings
from store.migrate import upgrade
from store.session import make_engine, make_session_factory

ADMIN = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PORT = int(os.environ.get("BENCH_PORT", "8102"))


def _seed(url: str, projects: int) -> None:
    engine = make_engine(url)
    with engine.begin() as c:
        org = c.execute(text("INSERT INTO organisations (name, org_type, status, created_at) "
                             "VALUES ('bench developer', 'enterprise', 'active', now()) RETURNING id")).scalar_one()
        user = c.execute(text("INSERT INTO users (name, role, organisation_id, active, created_at) "
                              "VALUES ('bench', 'applicant', :o, true, now()) RETURNING id"), {"o": org}).scalar_one()
        m = c.execute(text("INSERT INTO methodologies (code, scope, domain, status, origin_case_id, published_at) "
                           "VALUES ('WH-M-BENCH-001', 'project', 'other', 'active', 'bench', now()) "
                           "RETURNING id")).scalar_one()
        v = c.execute(text(
            "INSERT INTO methodology_versions (methodology_id, version_no, status, title, summary, document_ids, "
            "case_id, published_at, reevaluation_due) VALUES (:m, 1, 'current', 'bench', 's', '[]', 'bench-v1', "
            "now(), now() + interval '2 years') RETURNING id"), {"m": m}).scalar_one()
        c.execute(text(
            "INSERT INTO projects (organisation_id, methodology_version_id, methodology_code, methodology_version, "
            "name, district, site_address, facility_id, start_date, description, registered_by_user_id, "
            "registered_at) SELECT :o, :v, 'WH-M-BENCH-001', 1, '项目 ' || g, 'jiang_an', '1 Road', 'FAC-' || g, "
            "'2025-01-01', 'a bench project', :u, now() FROM generate_series(1, :n) g"),
            {"o": org, "v": v, "u": user, "n": projects})
    engine.dispose()


def _measure(base: str, path: str, n: int, headers: dict | None = None) -> dict[str, float]:
    times = []
    with httpx.Client(base_url=base) as c:
        c.get(path)  # warm
        start = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            r = c.get(path, headers=headers)
            times.append(time.perf_counter() - t)
            assert r.status_code in (200, 304), r.text
        total = time.perf_counter() - start
    times.sort()
    return {"rps": n / total, "p50_ms": statistics.median(times) * 1000, "p95_ms": times[int(0.95 * n) - 1] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    name = f"tanpuhui_bench_cache_{os.getpid()}"
    admin = psycopg2.connect(ADMIN.replace("postgresql+psycopg2", "postgresql"))
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        _seed(url, args.projects)
        settings = Settings(DATABASE_URL=url, temporal_address="")
        engine = make_engine(url)
        app = create_app(settings, session_factory=make_session_factory(engine))
        server = uvicorn.Server(api_server_config(app, host="127.0.0.1", port=PORT))
        server.config.log_level = "warning"
        thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{PORT}"
        paths = ["/api/v1/projects", "/api/v1/disclosure/projects?limit=100",
                 "/api/v1/disclosure/projects?format=csv"]
        rows = []
        for path in paths:
            etag = httpx.get(base + path).headers["etag"]
            cached = _measure(base, path, args.requests)
            not_modified = _measure(base, path, args.requests, {"If-None-Match": etag})
            miss, public.PublicCache.get = public.PublicCache.get, lambda self, key, version: None
            try:
                uncached = _measure(base, path, args.requests)
            finally:
                public.PublicCache.get = miss
            rows.append((path, uncached, cached, not_modified))
        print(f"{args.projects} projects, {args.requests} sequential requests each, one client")
        print(f"{'path':45} {'uncached rps/p50/p95':>26} {'cached rps/p50/p95':>26} {'304 rps/p50/p95':>26}")
        for path, *figures in rows:
            print(f"{path:45} " + " ".join(f"{f['rps']:8.0f} {f['p50_ms']:7.1f} {f['p95_ms']:7.1f}ms" for f in figures))
        server.should_exit = True
        thread.join(10)
        engine.dispose()
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


if __name__ == "__main__":
    main()
