"""Benchmark: the API's reads against a bare FastAPI endpoint, and its interactive actions, in one run.

    .venv/bin/python -m bench.api --rows 20000 --workers 2 --seconds 8 --actions 10

Reads: a scratch database loaded with SQL (`--rows` methodologies, projects, issuance cases with their
publicity notices, and issued blocks), the API as deployed (`tanpuhui api --workers N`, its own
processes) and, on the same server settings (uvicorn, the same number of processes, uvloop/httptools),
a bare FastAPI endpoint answering a constant of the same bytes as each read (bench/bare_api.py). Each
read is driven by Debian's `wrk` (a load generator in C; `scripts/setup` installs it) with `--connections`
(50) connections for `--seconds`, then its bare twin right after it (the machine's load drifts); prints
requests/s, p50 and p99 of each and the ratio to the bare one. Targets (issue 15): public reads >= 0.5 of
bare with p99 < 50 ms, authenticated >= 0.3.

Interactive actions (`--actions M`, 0 to skip): `tanpuhui dev` on the same database (its embedded
Temporal dev server, one worker, one API process) and M methodologies taken through submission,
completeness, panel formation, three expert decisions and publication through HTTP, one after the
other; prints p50/p95/max of each action's answer (target: p95 < 300 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psycopg2
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.issuance import Actor, _free_port, _org
from domain import serials
from domain.roles import OrganisationType, Role
from store.migrate import upgrade
from store.models.identity import User
from store.models.issuance import PublicityNotice
from store.session import make_engine, make_session_factory, normalise_url
from tests.issuance_helpers import make_project, make_verified_case
from tests.ledger_helpers import issue_units

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
SMALL_LIST = 50  # methodologies in a domain of their own: a list read of moderate size


def _dsn(url: str) -> str:
    return make_url(normalise_url(url)).render_as_string(hide_password=False).replace("postgresql+psycopg2",
                                                                                      "postgresql")


# --- loading ---------------------------------------------------------------------------------------

def _copy(conn, table: str, template_id: int, rows_from: str, overrides: dict[str, str]) -> int:
    """Copy row `template_id` of `table` once per row of `rows_from` (SQL), some columns computed."""
    with conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name <> 'id' "
                    "ORDER BY ordinal_position", (table,))
        cols = [c for (c,) in cur.fetchall()]
        select = ", ".join(overrides.get(c, f"t.{c}") for c in cols)
        cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select} FROM {table} t, {rows_from} "
                    f"AND t.id = %s", (template_id,))
        return cur.rowcount


def load(url: str, rows: int) -> dict[str, str]:
    """Template rows made the way the tests make them, multiplied with SQL; returns the paths to read."""
    engine = make_engine(url, pool_size=2)
    sf = make_session_factory(engine)
    try:
        bureau = Actor(sf, Role.BUREAU_ADMIN, _org(sf, OrganisationType.GOVERNMENT))
        developer = Actor(sf, Role.APPLICANT, _org(sf, OrganisationType.ENTERPRISE))
        verifier_org = _org(sf, OrganisationType.VERIFICATION_BODY)
        with sf() as s:
            dev_org = s.get(User, developer.id).organisation_id
        project = make_project(sf, dev_org, developer.id, code="WH-M-ENERGY-001")
        case = make_verified_case(sf, project, developer.id, verifier_org.id, verified_grams=10_000_000_000,
                                  stage="publicity")
        now = datetime.now(timezone.utc)
        with sf() as s, s.begin():
            notice = PublicityNotice(
                issuance_case_id=case.id, round_no=1, starts_at=now, ends_at=now + timedelta(days=9),
                provisional=False, project_name=project.name, district=project.district,
                developer_name="bench developer", period_start=case.period_start, period_end=case.period_end,
                verified_grams=case.verified_grams, benefit_sharing="shared")
            s.add(notice)
        prefix = issue_units(sf, project, dev_org, 10 * rows, key="bench-issue")
        conn = psycopg2.connect(_dsn(url))
        with conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM methodologies")
            (m_id,) = cur.fetchone()
            cur.execute("SELECT id FROM methodology_versions")
            (v_id,) = cur.fetchone()
            _copy(conn, "methodologies", m_id, f"generate_series(1, {rows}) g WHERE true",
                  {"code": "'WH-M-L-' || lpad(g::text, 6, '0')", "origin_case_id": "'methodology-l' || g"})
            _copy(conn, "methodology_versions", v_id, "methodologies m WHERE m.code LIKE 'WH-M-L-%%'",
                  {"methodology_id": "m.id", "case_id": "'methodology-lv' || m.id", "title": "m.code"})
            cur.execute("UPDATE methodologies SET domain = 'low_carbon_travel' WHERE id IN "
                        "(SELECT id FROM methodologies WHERE code LIKE 'WH-M-L-%%' ORDER BY id LIMIT %s)",
                        (SMALL_LIST,))
            _copy(conn, "projects", project.id, f"generate_series(1, {rows}) g WHERE true",
                  {"facility_id": "'L-' || g", "name": "'Load project ' || g"})
            _copy(conn, "issuance_cases", case.id, "projects p WHERE p.facility_id LIKE 'L-%%'",
                  {"case_id": "'issuance-l' || p.id", "project_id": "p.id", "facility_id": "p.facility_id"})
            _copy(conn, "publicity_notices", notice.id, "issuance_cases c WHERE c.case_id LIKE 'issuance-l%%'",
                  {"issuance_case_id": "c.id", "project_name": "'Load project ' || c.project_id"})
            # The one issued block of 10 × rows tonnes as `rows` blocks of 10 t (as trades split them).
            cur.execute("SELECT id, serial_start FROM unit_blocks")
            (block_id, first), = cur.fetchall()
            cur.execute("UPDATE unit_blocks SET serial_end = serial_start + 9 WHERE id = %s", (block_id,))
            _copy(conn, "unit_blocks", block_id, f"generate_series(1, {rows - 1}) g WHERE true",
                  {"serial_start": f"{first} + 10 * g", "serial_end": f"{first} + 10 * g + 9"})
            for table in ("methodologies", "methodology_versions", "projects", "issuance_cases",
                          "publicity_notices", "unit_blocks"):
                cur.execute(f"ANALYZE {table}")
            cur.execute("SELECT code FROM methodologies WHERE code LIKE 'WH-M-L-%%' ORDER BY id DESC LIMIT 1")
            (code,) = cur.fetchone()
            cur.execute("SELECT max(id) FROM projects")
            (project_id,) = cur.fetchone()
            cur.execute("SELECT max(id) FROM publicity_notices")
            (notice_id,) = cur.fetchone()
            cur.execute("SELECT count(*) FROM unit_blocks")
            (blocks,) = cur.fetchone()
        conn.close()
        serial = serials.serial(prefix, first + 10 * (rows // 2) + 3)
        print(f"loaded: {rows + 1} methodologies, {rows + 1} projects, {rows + 1} issuance cases and publicity "
              f"notices, {blocks} issued blocks", flush=True)
        return {
            "token": bureau.token,
            "public: methodology": f"{API}/public/methodologies/{code}",
            f"public: methodology list ({SMALL_LIST})": f"{API}/public/methodologies?domain=low_carbon_travel",
            "public: project": f"{API}/projects/{project_id}",
            "public: publicity notice": f"{API}/publicity-notices/{notice_id}",
            "public: serial lookup": f"{API}/serials/{serial}",
            "public: calendar 2026": f"{API}/calendar/2026",
            "public: openapi.json": "/openapi.json",
            "authenticated: me": f"{API}/me",
        }
    finally:
        engine.dispose()


# --- servers and wrk -------------------------------------------------------------------------------

def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _ready(url: str, process: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def _wrk_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, connections: int, seconds: int, headers: dict[str, str]) -> dict[str, float]:
    if shutil.which("wrk") is None:
        sys.exit("bench/api.py needs Debian's wrk: run scripts/setup (as root it installs it) or apt-get install wrk")
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    p50 = _wrk_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _wrk_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rate": rate, "p50": p50, "p99": p99, "non2xx": int(bad.group(1)) if bad else 0,
            "errors": errors.group(1) if errors else ""}


def reads(url: str, paths: dict[str, str], workers: int, connections: int, seconds: int, work: Path) -> None:
    token = paths.pop("token")
    auth = {"Authorization": f"Bearer {token}"}
    bodies = work / "bodies"
    bodies.mkdir()
    api_port, bare_port = _free_port(), _free_port()
    api_log, bare_log = work / "api.log", work / "bare.log"
    api = _spawn([sys.executable, "-m", "cli.main", "api", "--port", str(api_port),
                  *(["--workers", str(workers)] if workers > 1 else [])],
                 {"DATABASE_URL": url, "TEMPORAL_ADDRESS": ""}, api_log)
    bare = None
    try:
        _ready(f"http://127.0.0.1:{api_port}{API}/calendar/years", api, api_log)
        names = {}
        for i, (name, path) in enumerate(paths.items()):
            r = httpx.get(f"http://127.0.0.1:{api_port}{path}", headers=auth if "authenticated" in name else {},
                          timeout=60)
            if r.status_code != 200:
                raise RuntimeError(f"{path}: {r.status_code} {r.text[:500]}")
            names[name] = f"r{i}"
            (bodies / f"r{i}").write_bytes(r.content)
        # The same server settings as `tanpuhui api` (cli.main.api_server_config) and as many processes.
        bare = _spawn([sys.executable, "-m", "uvicorn", "--factory", "bench.bare_api:create_app", "--port",
                       str(bare_port), "--workers", str(workers), "--log-level", "info", "--no-access-log",
                       "--no-proxy-headers"], {"BARE_BODIES": str(bodies)}, bare_log)
        _ready(f"http://127.0.0.1:{bare_port}/bare/r0", bare, bare_log)
        print(f"reads: wrk, {connections} connections, {seconds} s each, API and bare with {workers} "
              f"process(es) each; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        print(f"{'read':34} {'bytes':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} | {'bare req/s':>10} "
              f"{'p50 ms':>7} {'p99 ms':>7} | ratio", flush=True)
        for name, path in paths.items():
            headers = auth if "authenticated" in name else {}
            wrk(f"http://127.0.0.1:{api_port}{path}", connections, 1, headers)  # warm every process
            got = wrk(f"http://127.0.0.1:{api_port}{path}", connections, seconds, headers)
            ref = wrk(f"http://127.0.0.1:{bare_port}/bare/{names[name]}", connections, seconds, {})
            size = (bodies / names[name]).stat().st_size
            note = f" ({got['non2xx']} non-2xx!)" if got["non2xx"] else ""
            note += f" (socket errors {got['errors']})" if got["errors"] else ""
            print(f"{name:34} {size:>7} {got['rate']:>8.0f} {got['p50']:>7.1f} {got['p99']:>7.1f} | "
                  f"{ref['rate']:>10.0f} {ref['p50']:>7.1f} {ref['p99']:>7.1f} | {got['rate'] / ref['rate']:.2f}{note}",
                  flush=True)
        print(f"load average after the reads: {os.getloadavg()[0]:.1f}", flush=True)
        log_text = api_log.read_text(errors="replace")
        statuses = Counter(re.findall(r'"status": (\d+)', log_text))
        print(f"API answers by status (its access log): {dict(statuses)}", flush=True)
        trouble = [line for line in log_text.splitlines() if '"level": "ERROR"' in line or "Traceback" in line]
        if trouble:
            print(f"first API error: {trouble[0][:600]}", flush=True)
    finally:
        _stop(api)
        if bare is not None:
            _stop(bare)


# --- interactive actions ---------------------------------------------------------------------------

async def _actions(base: str, token: str, count: int) -> dict[str, list[float]]:
    from cli.demo import PROJECT, _Api, _organisation, _user, DemoResult

    timings: dict[str, list[float]] = {}

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        api = _Api(client, token, timeout=120)

        async def timed(what: str, method: str, path: str, headers: dict, **kwargs) -> dict:
            started = time.perf_counter()
            r = await client.request(method, API + path, headers=headers, **kwargs)
            timings.setdefault(what, []).append(1000 * (time.perf_counter() - started))
            if r.status_code >= 400:
                raise RuntimeError(f"{method} {path}: {r.status_code} {r.text}")
            return r.json()

        result = DemoResult()
        tag = uuid.uuid4().hex[:6]
        applicant_org = await _organisation(api, f"Bench applicant {tag}", "enterprise")
        experts_org = await _organisation(api, f"Bench experts {tag}", "public_institution")
        _, applicant = await _user(api, f"applicant {tag}", "applicant", applicant_org, result)
        experts = []
        for k in range(3):
            user_id, headers = await _user(api, f"expert {k} {tag}", "expert", experts_org, result)
            expert = await api.call("POST", "/experts", api.bureau, json={
                "user_id": user_id, "name": f"Expert {k} {tag}", "expertise": ["bench"]})
            experts.append((expert["id"], headers))
        for i in range(count):
            body = {**PROJECT, "title": f"{PROJECT['title']} {tag}-{i}"}
            case = await timed("submission", "POST", "/methodologies", applicant, json=body)
            path = f"/methodologies/{case['id']}"
            case = await timed("completeness", "POST", f"{path}/completeness", api.bureau, json={"decision": "accept"})
            review = f"/reviews/{case['review_id']}"
            await api.until("the review to start", lambda: client.get(API + review, headers=api.bureau),
                            lambda r: r.status_code == 200)
            await timed("panel formation", "POST", f"{review}/panel", api.bureau,
                        json={"expert_ids": [e for e, _ in experts]})
            for _, headers in experts:
                tasks = await api.call("GET", "/review-tasks", headers, params={"status": "open"})
                for task in (t for t in tasks if t["review_id"] == case["review_id"]):
                    await timed("expert decision", "POST", f"/review-tasks/{task['task_id']}/decision", headers,
                                json={"vote": "approve", "comments": "Sound method."})
            await api.until("the panel's approval", lambda: api.call("GET", path, api.bureau),
                            lambda c: c["stage"] == "publication_decision")
            case = await timed("publication", "POST", f"{path}/publication", api.bureau, json={"decision": "publish"})
            assert case["stage"] == "published", case
    return timings


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def actions(url: str, count: int, work: Path) -> None:
    api_port, temporal_port = _free_port(), _free_port()
    while temporal_port + 1000 > 65535 or temporal_port == api_port:
        temporal_port = _free_port()
    log = work / "dev.log"
    dev = _spawn([sys.executable, "-m", "cli.main", "dev", "--data-dir", str(work / "dev"), "--api-port",
                  str(api_port), "--temporal-port", str(temporal_port)], {"DATABASE_URL": url}, log)
    try:
        deadline = time.monotonic() + 180
        while "Tanpuhui is running" not in log.read_text():
            if dev.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tanpuhui dev did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        token = re.search(r"bootstrap admin token \(shown once, not stored\): (\S+)", log.read_text()).group(1)
        timings = asyncio.run(_actions(f"http://127.0.0.1:{api_port}", token, count))
        print(f"interactive actions through HTTP on `tanpuhui dev` ({count} methodologies, one after the other; "
              f"load average {os.getloadavg()[0]:.1f}):", flush=True)
        print(f"{'action':18} {'n':>3} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
        for what, values in timings.items():
            print(f"{what:18} {len(values):>3} {statistics.median(values):>7.0f} {_percentile(values, 0.95):>7.0f} "
                  f"{max(values):>7.0f}", flush=True)
        every = [v for values in timings.values() for v in values]
        print(f"{'all actions':18} {len(every):>3} {statistics.median(every):>7.0f} {_percentile(every, 0.95):>7.0f} "
              f"{max(every):>7.0f}  (target p95 < 300 ms)", flush=True)
    finally:
        _stop(dev)


def main(args: argparse.Namespace) -> None:
    name = f"tanpuhui_benchapi_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(_dsn(args.database))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = make_url(normalise_url(args.database)).set(database=name).render_as_string(hide_password=False)
    work = Path(tempfile.mkdtemp(prefix="tanpuhui-bench-api-"))
    try:
        upgrade(url)
        started = time.perf_counter()
        paths = load(url, args.rows)
        print(f"(loading took {time.perf_counter() - started:.1f} s)", flush=True)
        reads(url, paths, args.workers, args.connections, args.seconds, work)
        if args.actions:
            actions(url, args.actions, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000, help="methodologies, projects, notices, issued blocks")
    parser.add_argument("--workers", type=int, default=2, help="API (and bare) server processes")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration of each read")
    parser.add_argument("--actions", type=int, default=10, help="methodologies taken through the actions (0: none)")
    parser.add_argument("--database", default=os.environ.get("TEST_DATABASE_URL",
                                                            "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="an administrative PostgreSQL URL; a scratch database is made and dropped")
    main(parser.parse_args())
