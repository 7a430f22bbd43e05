"""The FastAPI application factory."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api import errors, temporal
from api.guards import refuse_nul
from api.observability import RequestContextMiddleware
from api.routes import ROUTERS
from settings import Settings, get_settings
from store.session import make_engine, make_session_factory

log = logging.getLogger(__name__)


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
        if app.state.temporal is None and settings.temporal_address:
            try:
                app.state.temporal = await temporal.connect(settings)
            except Exception as exc:  # health reports it; routes needing Temporal answer 503
                log.warning("Temporal not reachable at %s: %s", settings.temporal_address, exc)
        yield
        if engine is not None:
            engine.dispose()

    app = FastAPI(
        title="Tanpuhui 碳普惠",
        version="0.1.0",
        description="Registry and approval platform of the Wuhan carbon-inclusion scheme.",
        lifespan=lifespan,
        # Runs before every route's own dependencies (the caller's token included).
        dependencies=[Depends(refuse_nul)],
    )
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.state.temporal = temporal_client
    errors.install(app)
    app.add_middleware(RequestContextMiddleware)
    # Each area's router goes straight onto the app: a nested /api/v1 router made FastAPI match every
    # request through both levels (twice the routing work per request).
    for router in ROUTERS:
        app.include_router(router, prefix="/api/v1")
    return app
