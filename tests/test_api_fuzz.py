"""Property-based fuzzing of every operation with schemathesis (issue 10: keep the holes closed).

The API is served as in deployment (uvicorn on a loopback port, its own event loop and Temporal client, on the
dev server with no worker) and called as the bureau, the role that may call the most. Each operation gets a
bounded, derandomised number of generated requests (FUZZ_EXAMPLES, default 10): no 500, every answer's
status, content type and body as the OpenAPI documents them. Waiting on a workflow is bounded to a fraction
of a second and answers the documented 504.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings

from api.app import create_app
from cli.main import api_server_config
from domain.roles import Role
from settings import Settings

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server(threading.Thread):
    def __init__(self, app) -> None:
        super().__init__(daemon=True)
        self.port = _free_port()
        self.server = uvicorn.Server(api_server_config(app, host="127.0.0.1", port=self.port))
        self.server.config.log_level = "warning"
        self.server.config.access_log = False

    def run(self) -> None:
        asyncio.run(self.server.serve())

    def __enter__(self) -> str:
        self.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline and self.is_alive(), "the API did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.join(30)


@pytest.fixture(scope="module")
def served_api(settings, local_temporal_env, database_url):
    address = local_temporal_env.client.service_client.config.target_host
    served = settings.model_copy(update={"temporal_address": address, "temporal_wait_seconds": 0.3})
    with _Server(create_app(served)) as base_url:  # its own engine and Temporal client, in its own loop
        yield base_url


@pytest.fixture(scope="module")
def bureau_headers(engine):
    # Module-scoped and made without the session_factory fixture: no truncation before every operation.
    from sqlalchemy.orm import Session

    from domain.roles import OrganisationStatus, OrganisationType
    from store import identity

    with Session(engine) as s, s.begin():
        org = identity.create_organisation(s, name=f"fuzz bureau {time.time_ns()}", org_type=OrganisationType.GOVERNMENT,
                                           status=OrganisationStatus.ACTIVE)
        user = identity.create_user(s, name="fuzzer", role=Role.BUREAU_ADMIN, organisation=org)
        _, secret = identity.issue_token(s, user, ttl_days=1)
    return {"Authorization": f"Bearer {secret}"}


# The document needs no database: it is built from the routes (the served app answers the same one).
schema = schemathesis.openapi.from_dict(create_app(Settings(DATABASE_URL="postgresql://unused@127.0.0.1/x")).openapi())


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_operation_fails_or_answers_off_its_documentation(case, served_api, bureau_headers):
    response = case.call(base_url=served_api, headers=bureau_headers, timeout=30)
    assert response.status_code != 500, response.text
    case.validate_response(response, checks=[
        schemathesis.checks.not_a_server_error if response.status_code not in (503, 504) else
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.content_type_conformance,
        schemathesis.checks.response_schema_conformance,
    ])
