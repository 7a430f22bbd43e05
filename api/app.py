"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import errors, openapi, temporal
from api.case_actions import TemporalGate
from api.guards import check_input
from api.public import PublicFastPath
from api.observability import InstantsInUtcMiddleware, Metrics, MetricsMiddleware, RequestContextMiddleware
from api.routes import ROUTERS
from settings import Settings, get_settings
from store.session import make_engine, make_session_factory

log = logging.getLogger(__name__)


async def _purge_unattached_uploads(app: FastAPI) -> None:
    """Hourly: uploads never attached to a case go after UNATTACHED_UPLOAD_RETENTION_HOURS (store.documents)."""
    from datetime import timedelta

    from starlette.concurrency import run_in_threadpool

    from store.documents import purge_unattached
    from domain.clock import now_utc

    settings: Settings = app.state.settings
    while True:
        try:
            def purge() -> list[int]:
                now = now_utc()
                with app.state.session_factory() as session:
                    return purge_unattached(session, settings.documents_dir, now=now, older_than=now - timedelta(
                        hours=settings.unattached_upload_retention_hours))

            removed = await run_in_threadpool(purge)
            if removed:
                log.info("removed %d unattached upload(s)", len(removed))
        except Exception:  # noqa: BLE001 (the next round tries again; the API goes on)
            log.exception("purging unattached uploads failed")
        await asyncio.sleep(3600)


def _start_token_cache(app: FastAPI):
    """The cache of bearer tokens (store/token_cache.py) and the thread that empties it when PostgreSQL
    announces a revocation; serves nothing until that thread listens."""
    from store.public_versions import PublicVersions
    from store.token_cache import Listener, TokenCache

    bind = getattr(app.state.session_factory, "kw", {}).get("bind")
    url = getattr(bind, "url", None)
    if url is None or url.get_backend_name() != "postgresql":
        return None
    cache = TokenCache()
    # The public-read counters share the listener's connection (api.public.PublicFastPath serves on them).
    versions = PublicVersions()
    listener = Listener(cache, url.set(drivername="postgresql").render_as_string(hide_password=False),
                        public=versions)
    listener.start()
    app.state.token_cache = cache
    app.state.public_versions = versions
    return listener


def create_app(
    settings: Settings | None = None,
    *,
    session_factory: sessionmaker[Session] | None = None,
    temporal_client: Client | None = None,
) -> FastAPI:
    """Build the app; tests pass their own session factory and Temporal client."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = None
        if app.state.session_factory is None:
            engine = make_engine(settings.require_database_url())
            app.state.session_factory = make_session_factory(engine)
            metrics.watch_pool(app.state.session_factory)
        if app.state.temporal is None and settings.temporal_address:
            try:
                app.state.temporal = await temporal.connect(settings)
            except Exception as exc:  # health reports it; routes needing Temporal answer 503
                log.warning("Temporal not reachable at %s: %s", settings.temporal_address, exc)
        purging = asyncio.create_task(_purge_unattached_uploads(app))
        listener = _start_token_cache(app)
        yield
        purging.cancel()
        if listener is not None:
            await asyncio.to_thread(listener.stop)
        if engine is not None:
            engine.dispose()

    app = FastAPI(
        title="Tanpuhui 碳普惠",
        version="0.1.0",
        description="Registry and approval platform of the Wuhan carbon-inclusion scheme.",
        lifespan=lifespan,
        # Runs before every route's own dependencies (the caller's token included).
        dependencies=[Depends(check_input)],
    )
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.state.temporal = temporal_client
    app.state.temporal_gate = TemporalGate()
    app.state.token_cache = None  # made by the lifespan (it needs the database)
    app.state.public_versions = None  # made with the token cache's listener (the lifespan)
    errors.install(app)
    # Innermost of the middlewares (added first): inside the proxy headers (the cache key holds the base URL
    # they set) and the metrics; a cached public answer is served here, before routing (api/public.py).
    app.add_middleware(PublicFastPath, state=app.state)
    if settings.trusted_proxies.strip():
        # Only these peers may say who the client is (rate limits key on the client address).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(InstantsInUtcMiddleware)
    metrics = Metrics()
    app.state.metrics = metrics
    if session_factory is not None:
        metrics.watch_pool(session_factory)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestContextMiddleware)
    app.add_route("/metrics", metrics.endpoint, include_in_schema=False)
    # Each area's router goes straight onto the app: a nested /api/v1 router made FastAPI match every
    # request through both levels (twice the routing work per request).
    for router in ROUTERS:
        app.include_router(router, prefix="/api/v1")
    from web.app import install as install_pages  # the pages use the API's routes, not the reverse

    install_pages(app)
    openapi.install(app)
    _guard_included_routers(app)
    return app


def _guard_included_routers(app: FastAPI) -> None:
    """Requests are matched against the routers in order, and FastAPI tries every route of a router that
    cannot match (its paths start elsewhere), twice: 300-400 µs per request for the public reads near
    the end (projects, notices, serials), more than the rest of the answer's framework work. Each
    included router is given a guard: the request's path must start with the literal beginning of one of
    its routes' paths (everything before the first `{`), else it does not match, at the cost of one
    `str.startswith`. Only a necessary condition: whatever passes is matched exactly as before."""
    from starlette._utils import get_route_path
    from starlette.routing import Match

    for candidate in app.router.routes:
        original, context = getattr(candidate, "original_router", None), getattr(candidate, "include_context", None)
        if original is None or context is None:
            continue
        heads = []
        for route in original.routes:
            path = getattr(route, "path", None)
            if path is None or getattr(route, "original_router", None) is not None:
                heads = []  # a mount or a nested router: no guard
                break
            heads.append((context.prefix or "") + path.split("{", 1)[0])
        if not heads:
            continue
        heads_tuple = tuple(sorted(set(heads)))
        unguarded = candidate.matches

        def matches(scope, _heads=heads_tuple, _unguarded=unguarded):
            if scope.get("type") == "http" and not get_route_path(scope).startswith(_heads):
                return Match.NONE, {}
            return _unguarded(scope)

        candidate.matches = matches
