"""What an operator sees (issue 10): Prometheus metrics on the API and the workers, JSON log lines with a request
id and a case id (never personal data)."""

from __future__ import annotations

import io
import json
import logging
import socket
import uuid

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from api.observability import RequestIdFilter


async def test_api_metrics_count_requests_by_route_and_status_and_show_the_pool(client, bureau):
    await client.get("/api/v1/projects")
    await client.get("/api/v1/projects/123456")  # 404
    await client.get("/api/v1/no-such-thing")
    text = (await client.get("/metrics")).text
    assert 'tanpuhui_http_requests_total{method="GET",route="/api/v1/projects",status="200"} 1.0' in text
    assert 'tanpuhui_http_requests_total{method="GET",route="/api/v1/projects/{project_id}",status="404"} 1.0' in text
    assert 'route="unmatched"' in text and "no-such-thing" not in text  # bounded labels
    assert 'tanpuhui_http_request_duration_seconds_bucket{le="0.5",method="GET",route="/api/v1/projects"}' in text
    for gauge in ("tanpuhui_db_pool_in_use", "tanpuhui_db_pool_size", "tanpuhui_db_pool_overflow",
                  "tanpuhui_db_pool_waiting", "tanpuhui_http_requests_in_flight"):
        assert f"\n{gauge} " in text, gauge


async def test_log_lines_carry_the_request_and_case_id_and_no_personal_data(client, bureau):
    from pythonjsonlogger.json import JsonFormatter

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("%(message)s %(request_id)s %(case_id)s"))
    handler.addFilter(RequestIdFilter())
    access = logging.getLogger("api.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        r = await client.get("/api/v1/issuance-cases/issuance-424242", params={"email": "li@example.org"},
                             headers={**bureau.headers, "X-Request-ID": "req-7"})
        odd = await client.get("/api/v1/projects", headers={"X-Request-ID": "not ok!"})
    finally:
        access.removeHandler(handler)
    assert r.status_code == 404 and r.headers["x-request-id"] == "req-7"
    assert odd.headers["x-request-id"] != "not ok!" and len(odd.headers["x-request-id"]) == 32
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    line = next(x for x in lines if x["request_id"] == "req-7")
    assert line["case_id"] == "issuance-424242" and line["route"] == "/api/v1/issuance-cases/{case_id}"
    assert line["status"] == 404 and line["duration_ms"] >= 0
    assert "li@example.org" not in out.getvalue() and "127.0.0.1" not in out.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@activity.defn(name="probe_refuse")
def probe_refuse() -> None:
    raise ApplicationError("refused on purpose", type="probe_refusal", non_retryable=True)


async def test_worker_metrics_show_sdk_runtime_metrics_and_activity_failures_by_type(
        temporal_env, session_factory, settings, activity_executor):
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from tests.probe_workflows import FailingActivityProbe
    from worker import build_worker

    port = _free_port()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}")))
    client = await Client.connect(temporal_env.client.service_client.config.target_host, runtime=runtime,
                                  data_converter=pydantic_data_converter)
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    worker = build_worker(client, session_factory, settings, task_queue=queue, executor=activity_executor,
                          extra_workflows=[FailingActivityProbe], extra_activities=[probe_refuse])
    async with worker:
        assert await client.execute_workflow(FailingActivityProbe.run, id=f"metrics-{uuid.uuid4().hex[:6]}",
                                             task_queue=queue) == "refused"
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    failures = [line for line in text.splitlines() if line.startswith("tanpuhui_activity_failures")]
    assert any('activity_type="probe_refuse"' in line and 'error_type="probe_refusal"' in line
               and line.endswith(" 1") for line in failures), failures
    assert "temporal_workflow_completed" in text or "temporal_workflow_task_schedule_to_start_latency" in text
