"""What the API does per request to be fast stays true: the OpenAPI document is encoded once, and
`tanpuhui api --workers N` serves from N processes on one port (docs/speed.md)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_openapi_json_is_the_document_encoded_once(settings, monkeypatch):
    import api.openapi

    encoded = []
    real = api.openapi._encode
    monkeypatch.setattr(api.openapi, "_encode", lambda schema: encoded.append(1) or real(schema))
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        first, second = await http.get("/openapi.json"), await http.get("/openapi.json")
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    assert first.json() == json.loads(json.dumps(app.openapi()))  # the document, problem+json statuses and all
    assert first.content == second.content and "/api/v1/health" in first.json()["paths"]
    assert len(encoded) == 1  # encoded for the first request only
    assert [getattr(r, "path", None) for r in app.router.routes].count("/openapi.json") == 1


async def test_openapi_json_under_a_root_path_names_the_prefix(settings):
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, root_path="/tanpuhui")
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        doc = (await http.get("/openapi.json")).json()
    assert doc["servers"][0] == {"url": "/tanpuhui"}


def test_api_workers_must_be_positive(monkeypatch, database_url, capsys):
    from cli.main import main as cli_main
    from settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        assert cli_main(["api", "--workers", "0"]) == 2
    finally:
        get_settings.cache_clear()
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_api_with_two_workers_answers_from_two_processes(database_url):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "TEMPORAL_ADDRESS": ""}
    api = subprocess.Popen([sys.executable, "-m", "cli.main", "api", "--port", str(port), "--workers", "2"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/calendar/years", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert api.poll() is None, api.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the API did not answer"
            time.sleep(0.2)
        children = subprocess.run(["pgrep", "-P", str(api.pid)], capture_output=True, text=True).stdout.split()
        # The supervisor and its two server processes (a resource tracker may join them).
        assert len(children) >= 2, children
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert all(http.get("/api/v1/calendar/years").status_code == 200 for _ in range(20))
    finally:
        api.terminate()
        try:
            api.wait(30)
        except subprocess.TimeoutExpired:
            api.kill()
            api.wait()
    assert api.returncode == 0, api.stderr.read().decode()[-3000:]


@pytest.mark.parametrize("workers", ["1", "4"])
def test_compose_api_command_sizes_workers(workers):
    import yaml

    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["api"]["command"]
    assert command[:2] == ["tanpuhui", "api"] and "--workers" in command
    from cli.main import build_parser

    assert build_parser().parse_args(["api", "--workers", workers]).workers == int(workers)
