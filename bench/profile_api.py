"""Profile of single API requests, in process, without a server or a client in the picture.

    .venv/bin/python -m bench.profile_api [--requests 2000] [--html out.html]

Makes a scratch database, one bureau administrator and a calendar year, builds the app as `tanpuhui api`
does (create_app, its own engine) and calls it as an ASGI application directly, one request after the
other, under pyinstrument: an authenticated read (`GET /api/v1/me`), a public read (`GET
/api/v1/calendar/2026`) and `GET /openapi.json`. Prints the time per request and the profile of each.
docs/speed.md says what the profiles showed and what was done about it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import psycopg2
from sqlalchemy.engine import make_url

from domain.roles import OrganisationStatus, OrganisationType, Role
from store import identity
from store.migrate import upgrade
from store.session import make_engine, make_session_factory, normalise_url


def _dsn(url: str) -> str:
    return make_url(normalise_url(url)).render_as_string(hide_password=False).replace("postgresql+psycopg2",
                                                                                      "postgresql")


async def call(app, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """One GET through the ASGI app; returns (status, body bytes)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), *headers], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    status, size = 0, 0

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))

    await app(scope, receive, send)
    return status, size


async def profile(url: str, requests: int, html: str | None, args_show_all: bool = False) -> None:
    from pyinstrument import Profiler

    from api.app import create_app
    from settings import Settings

    engine = make_engine(url, pool_size=2)
    sf = make_session_factory(engine)
    with sf() as s, s.begin():
        org = identity.create_organisation(s, name="bench bureau", org_type=OrganisationType.GOVERNMENT,
                                           status=OrganisationStatus.ACTIVE)
        user = identity.create_user(s, name="bench admin", role=Role.BUREAU_ADMIN, organisation=org)
        _, token = identity.issue_token(s, user, ttl_days=1)
    engine.dispose()
    app = create_app(Settings(database_url=url, temporal_address=""))
    auth = [(b"authorization", f"Bearer {token}".encode())]
    async with app.router.lifespan_context(app):
        for name, path, headers in (("authenticated GET /api/v1/me", "/api/v1/me", auth),
                                    ("public GET /api/v1/calendar/2026", "/api/v1/calendar/2026", []),
                                    ("GET /openapi.json", "/openapi.json", [])):
            for _ in range(50):  # warm: pool connected, caches filled
                status, size = await call(app, path, headers)
            assert status == 200, (path, status)
            profiler = Profiler(interval=0.0002, async_mode="enabled")
            started = time.perf_counter()
            with profiler:
                for _ in range(requests):
                    await call(app, path, headers)
            elapsed = time.perf_counter() - started
            print(f"== {name}: {1e6 * elapsed / requests:.0f} µs per request in process "
                  f"(profiled, {requests} requests, {size} bytes)")
            print(profiler.output_text(unicode=False, color=False, show_all=args_show_all, short_mode=not args_show_all))
            if html:
                with open(f"{html}.{path.strip('/').replace('/', '_')}.html", "w") as f:
                    f.write(profiler.output_html())


def main(requests: int, admin_url: str, html: str | None, show_all: bool = False) -> None:
    name = f"tanpuhui_profile_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(_dsn(admin_url))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        asyncio.run(profile(url, requests, html, show_all))
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--all", action="store_true", help="every frame, the framework's included")
    parser.add_argument("--html", help="also write HTML profiles to HTML.<path>.html")
    parser.add_argument("--database", default=os.environ.get("TEST_DATABASE_URL",
                                                            "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    main(args.requests, args.database, args.html, args.all)
