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

from fastapi import APIRouter

from api.app import create_app
from api.deps import CurrentUser, DbSession
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


@pytest.mark.slow
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


# --- the token cache (store/token_cache.py) ---------------------------------------------------------

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg2
from sqlalchemy import event

from domain.roles import Role


@contextlib.asynccontextmanager
async def _served(settings, session_factory) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    """The app with its lifespan (as served): the token cache and its listener run."""
    app = create_app(settings, session_factory=session_factory)
    async with app.router.lifespan_context(app):
        cache = app.state.token_cache
        for _ in range(100):
            if cache.listening:
                break
            await asyncio.sleep(0.05)
        assert cache.listening
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            yield http, cache


@contextlib.contextmanager
def _statements(engine):
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _sql(database_url: str, statement: str, *args) -> None:
    from bench.api import _dsn

    with psycopg2.connect(_dsn(database_url)) as conn, conn.cursor() as cur:
        cur.execute(statement, args)
    conn.close()


async def _until_empty(cache, seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.02)):
        if len(cache) == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the cache was not emptied")


async def test_a_cached_token_answers_without_the_database(settings, session_factory, engine, make_actor):
    actor = make_actor(Role.APPLICANT)
    async with _served(settings, session_factory) as (http, cache):
        first = await http.get("/api/v1/me", headers=actor.headers)
        assert first.status_code == 200 and len(cache) == 1
        with _statements(engine) as seen:
            again = await http.get("/api/v1/me", headers=actor.headers)
        assert again.status_code == 200 and again.json() == first.json()
        assert seen == []  # who calls came from the cache; /me needs nothing else
        assert (await http.get("/api/v1/me", headers={"Authorization": "Bearer tph_unknown"})).status_code == 401


async def test_a_token_revoked_through_the_api_is_refused_at_once(settings, session_factory, make_actor):
    actor = make_actor(Role.APPLICANT)
    async with _served(settings, session_factory) as (http, cache):
        assert (await http.get("/api/v1/me", headers=actor.headers)).status_code == 200
        tokens = (await http.get(f"/api/v1/users/{actor.id}/tokens", headers=actor.headers)).json()
        assert (await http.delete(f"/api/v1/tokens/{tokens[0]['id']}", headers=actor.headers)).status_code == 200
        # No wait: this process emptied its cache at the revocation's commit, before answering it.
        assert (await http.get("/api/v1/me", headers=actor.headers)).status_code == 401


async def test_a_revocation_by_another_writer_empties_the_cache(settings, session_factory, database_url, make_actor):
    actor = make_actor(Role.APPLICANT)
    async with _served(settings, session_factory) as (http, cache):
        assert (await http.get("/api/v1/me", headers=actor.headers)).status_code == 200
        assert len(cache) == 1
        # As the CLI, another API process or SQL by hand would: PostgreSQL tells every listener at commit.
        _sql(database_url, "UPDATE api_tokens SET revoked_at = now() WHERE user_id = %s", actor.id)
        await _until_empty(cache)
        assert (await http.get("/api/v1/me", headers=actor.headers)).status_code == 401


async def test_a_suspended_organisation_stops_its_cached_users(settings, session_factory, database_url, make_actor):
    actor = make_actor(Role.BUREAU_ADMIN)
    async with _served(settings, session_factory) as (http, cache):
        assert (await http.get("/api/v1/audit/verify", headers=actor.headers)).status_code == 200
        assert len(cache) == 1
        _sql(database_url, "UPDATE organisations SET status = 'suspended' WHERE id = %s", actor.user.organisation_id)
        await _until_empty(cache)
        refused = await http.get("/api/v1/audit/verify", headers=actor.headers)
        assert refused.status_code == 403 and "suspended" in refused.text


async def test_the_touch_of_last_use_does_not_empty_the_cache(settings, session_factory, database_url, make_actor):
    actor = make_actor(Role.APPLICANT)
    async with _served(settings, session_factory) as (http, cache):
        assert (await http.get("/api/v1/me", headers=actor.headers)).status_code == 200
        _sql(database_url, "UPDATE api_tokens SET last_used_at = now() WHERE user_id = %s", actor.id)
        await asyncio.sleep(0.3)
        assert len(cache) == 1


async def test_without_its_listener_the_cache_serves_nothing(settings, session_factory, engine, make_actor):
    from store.token_cache import TokenCache

    actor = make_actor(Role.APPLICANT)
    async with _served(settings, session_factory) as (http, cache):
        assert (await http.get("/api/v1/me", headers=actor.headers)).status_code == 200
        cache.listening = False  # as when its connection is lost: notifications could be missed
        with _statements(engine) as seen:
            assert (await http.get("/api/v1/me", headers=actor.headers)).status_code == 200
        assert seen, "the token was looked up in the database"
    # A lookup that began before the cache was emptied does not put back what it read.
    lone = TokenCache()
    lone.listening = True
    generation = lone.generation()
    lone.clear()
    from datetime import datetime, timedelta, timezone

    from store.models.identity import User

    with session_factory() as s:
        user = s.get(User, actor.id)
        lone.put("h", user, datetime.now(timezone.utc) + timedelta(minutes=1), generation)
    assert len(lone) == 0


async def test_many_readers_on_a_small_pool_all_get_answers(settings, database_url, make_actor):
    """More concurrent reads than database connections and threads: every one is answered (before, the
    threads all waited for a connection while the connections waited for a thread to serialise their
    answer, until the pool's timeout: 503)."""
    import anyio.to_thread

    from store.session import make_engine, make_session_factory
    from tests.issuance_helpers import make_project

    engine = make_engine(database_url, pool_size=2, max_overflow=0, pool_timeout=3)
    try:
        sf = make_session_factory(engine)
        applicant = make_actor(Role.APPLICANT)
        project = make_project(sf, applicant.user.organisation_id, applicant.id)
        app = create_app(settings, session_factory=sf)
        anyio.to_thread.current_default_thread_limiter().total_tokens = 3
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
                answers = await asyncio.wait_for(asyncio.gather(
                    *(http.get(f"/api/v1/projects/{project.id}") for _ in range(30))), 60)
        finally:
            anyio.to_thread.current_default_thread_limiter().total_tokens = 40
        assert [r.status_code for r in answers] == [200] * 30
    finally:
        engine.dispose()


async def test_a_cached_caller_leaves_the_session_outside_a_transaction(settings, session_factory, make_actor):
    """Routes that run single statements in autocommit (a trade) see the session as the lookup left it."""
    seen = []
    router = APIRouter()

    @router.get("/probe-session")
    async def probe(user: CurrentUser, session: DbSession) -> dict:
        seen.append(session.in_transaction())
        return {"id": user.id}

    actor = make_actor(Role.APPLICANT)
    app = create_app(settings, session_factory=session_factory)
    app.include_router(router)
    async with app.router.lifespan_context(app):
        for _ in range(100):
            if app.state.token_cache.listening:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            for _ in range(2):  # a miss, then a hit
                r = await http.get("/probe-session", headers=actor.headers)
                assert r.status_code == 200 and r.json() == {"id": actor.id}, (r.status_code, r.text[:300])
            assert len(app.state.token_cache) == 1
    assert seen == [False, False]
