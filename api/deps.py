"""FastAPI dependencies as Annotated types: a session per request, the caller, role checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from temporalio.client import Client

from api.errors import Problem
from domain.roles import OrganisationStatus, Role
from settings import Settings
from store import identity
from store.models.identity import User
from store.session import autocommit
from store.token_cache import TokenCache

_bearer = HTTPBearer(auto_error=False, description="Opaque token issued by an administrator (tph_…)")


# Dependencies that do no I/O are `async def`: FastAPI runs each plain `def` dependency on the thread
# pool, a hop per dependency per request.
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    # Routes commit explicitly; whatever is left uncommitted (an error, a read) is rolled back on close.
    # Making a session does no I/O, nor does closing one that holds no connection (a route that
    # committed gave it back), so both happen here, not on the thread pool (a hop each per request);
    # only a rollback that has to reach the database goes there. The session is kept on the request so
    # api.case_actions can give its connection back before waiting on Temporal.
    #
    # At most as many requests hold a session as the pool keeps connections (`db_slots`); the others wait
    # here, on the event loop. Without it, at 50 connections a read route stopped answering: every thread
    # of the pool waited for a database connection in a route, while the connections were held by
    # requests whose answer was still to be serialised, which FastAPI does on a thread too (0 answers/s,
    # then 503 at the pool's timeout). With it, whoever holds a session always gets its connection.
    release_slot = await _take_slot(request)
    session = request.app.state.session_factory()
    request.state.db_session = session
    try:
        yield session
    finally:
        try:
            if session.in_transaction():
                await run_in_threadpool(session.close)
            else:
                session.close()
        finally:
            release_slot()


async def _take_slot(request: Request) -> Callable[[], None]:
    state = request.app.state
    slots: asyncio.Semaphore | None = getattr(state, "db_slots", None)
    if slots is None:
        pool = getattr(getattr(state.session_factory, "kw", {}).get("bind"), "pool", None)
        size = pool.size() if pool is not None and hasattr(pool, "size") else 0
        if size <= 0:
            return lambda: None
        slots = state.db_slots = asyncio.Semaphore(size)
    await slots.acquire()
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            slots.release()

    # api.case_actions gives the slot back with the connection before it waits on Temporal.
    request.state.release_db_slot = release
    return release


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DbSession = Annotated[Session, Depends(get_session)]


def _unauthorised(detail: str) -> Problem:
    return Problem(401, "Unauthorised", detail, headers={"WWW-Authenticate": "Bearer"})


async def current_user(request: Request, session: DbSession,
                       creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
    if creds is None or creds.scheme.lower() != "bearer":
        raise _unauthorised("a bearer token is required")
    # Usually answered from this process's token cache (store/token_cache.py: emptied on every revocation,
    # deactivation or suspension, whoever makes it): no database round trip, no thread hop.
    cache: TokenCache | None = getattr(request.app.state, "token_cache", None)
    secret = creds.credentials
    key = identity.hash_token(secret) if cache is not None and secret.startswith(identity.TOKEN_PREFIX) else None
    if key is not None:
        cached = cache.get(key, identity.now_utc())
        if cached is not None:
            user = session.merge(cached, load=False)  # this request's own copy, no query
            # merge() begins a transaction (no connection yet); end it, as the lookup's autocommit did, so
            # routes that run single statements in autocommit (trades) still do: a transaction around a
            # trade holds the accounts' locks across round trips (deadlocks among hot accounts).
            session.commit()  # holds no connection: nothing is sent
            return user
    generation = cache.generation() if cache is not None else 0

    def lookup() -> tuple[User | None, datetime | None]:
        # The lookup (and the once-a-minute touch) are single statements in autocommit: no BEGIN and
        # COMMIT round trips, and the touch is kept even if the route fails.
        with autocommit(session):
            user, _, fresh_until = identity.authenticate_until(session, secret)
        return user, fresh_until

    user, fresh_until = await run_in_threadpool(lookup)
    if user is None:
        raise _unauthorised("the token is unknown, revoked or expired")
    if key is not None and fresh_until is not None:
        cache.put(key, user, fresh_until, generation)
    return user


async def caller_columns(request: Request,
                         creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
    """The caller, for a route that reads only the caller's own columns (GET /me): a token-cache hit is
    answered with the cache's detached copy itself (never to be changed or attached: read only), without
    a session, its merge or a place among the sessions; otherwise `current_user` with a session of its own."""
    cache: TokenCache | None = getattr(request.app.state, "token_cache", None)
    if cache is not None and creds is not None and creds.scheme.lower() == "bearer" \
            and creds.credentials.startswith(identity.TOKEN_PREFIX):
        cached = cache.get(identity.hash_token(creds.credentials), identity.now_utc())
        if cached is not None:
            return cached
    async with _own_session(request) as session:
        return await current_user(request, session, creds)


_own_session = asynccontextmanager(get_session)


async def optional_user(
    request: Request, session: DbSession, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User | None:
    return await current_user(request, session, creds) if creds is not None else None


def ensure_may_act(user: User) -> None:
    """Art. 33: users of a suspended or terminated (or not yet approved) organisation cannot act."""
    org = user.organisation
    if org is not None and org.status != OrganisationStatus.ACTIVE:
        raise Problem(403, "Forbidden", f"organisation '{org.name}' is {org.status}; its users cannot act")


def check_roles(user: User, allowed: frozenset[Role]) -> User:
    """The role check of `require_roles`, shared with the web pages (a page allows what the API allows)."""
    if Role(user.role) not in allowed:
        names = ", ".join(sorted(r.value for r in allowed))
        raise Problem(403, "Forbidden", f"role '{user.role}' may not do this (allowed: {names})")
    ensure_may_act(user)
    return user


def require_roles(*roles: Role) -> Callable[[User], User]:
    allowed = frozenset(roles)

    # No I/O: the user's organisation is loaded with the user (joined), and sessions do not expire on commit.
    async def check(user: Annotated[User, Depends(current_user)]) -> User:
        return check_roles(user, allowed)

    return check


async def get_temporal(request: Request) -> Client:
    client = getattr(request.app.state, "temporal", None)
    if client is None:
        raise Problem(503, "Service unavailable", "the workflow engine (Temporal) is not connected")
    return client


CurrentUser = Annotated[User, Depends(current_user)]
CallerColumns = Annotated[User, Depends(caller_columns)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
Authority = Annotated[User, Depends(require_roles(Role.BUREAU_ADMIN, Role.OPERATOR_ADMIN))]
Bureau = Annotated[User, Depends(require_roles(Role.BUREAU_ADMIN))]
Operator = Annotated[User, Depends(require_roles(Role.OPERATOR_ADMIN))]
Expert = Annotated[User, Depends(require_roles(Role.EXPERT))]
Applicant = Annotated[User, Depends(require_roles(Role.APPLICANT))]
# Routes wait on Temporal through api.case_actions.Actions (no database connection held meanwhile).
TemporalClient = Annotated[Client, Depends(get_temporal)]
