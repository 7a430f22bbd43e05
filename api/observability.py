"""What an operator sees of the API on a bad day: numbers and traceable log lines.

- A request id on every answer and every log line of the request: the caller's `X-Request-ID` when it is a
  plain token (letters, digits, `-_.`, at most 64), else a new one. The case id too, once the route names a
  case (api.guards) or waits on one (api.case_actions). Never personal data: no addresses, queries or bodies.
- Prometheus metrics at `/metrics` (prometheus-client, a registry per app): requests by route template,
  method and status, their latency, requests in flight, and the database pool (in use, overflow, waiting).
- One JSON log line per request (python-json-logger), and every other log record in JSON with the same ids.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from typing import Any
from datetime import datetime, timezone

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
CASE_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("case_id", default=None)
# Set on the scope by whoever sent a body whose instants are already in UTC (api.public's cached answers).
UTC_DONE = "tanpuhui.instants_in_utc"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class _HttpMiddleware:
    """A pure ASGI middleware that handles HTTP requests and passes everything else (lifespan) through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class RequestContextMiddleware(_HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        rid = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token, case_token = REQUEST_ID.set(rid), CASE_ID.set(None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
            CASE_ID.reset(case_token)


def note_case(case_id: str | None) -> None:
    """The case this request is about, for its log lines (business ids only, e.g. issuance-42)."""
    if case_id:
        CASE_ID.set(case_id)


class RequestIdFilter(logging.Filter):
    """Puts the current request id and case id (or None) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.case_id = CASE_ID.get() or _activity_case()
        return True


def _activity_case() -> str | None:
    """In a worker's activity (its own thread): the workflow id of the case it works for."""
    from temporalio import activity

    return activity.info().workflow_id if activity.in_activity() else None


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for every process (API, worker): time, level, logger, message, request and case id."""
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(case_id)s",
                                       rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own lines in the same format
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


# --- metrics ------------------------------------------------------------------------------------------

_ACCESS = logging.getLogger("api.access")


class Metrics:
    """The app's Prometheus registry and the request metrics in it."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("tanpuhui_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("tanpuhui_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.in_flight = Gauge("tanpuhui_http_requests_in_flight", "HTTP requests being answered",
                               registry=self.registry)

    async def endpoint(self, request: Any) -> Any:
        """GET /metrics in Prometheus' text format (not part of the OpenAPI; scrape it from inside)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        from starlette.responses import Response

        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def watch_pool(self, session_factory: Any) -> None:
        """Gauges of the database pool behind `session_factory`, read when Prometheus scrapes."""
        from prometheus_client import Gauge

        pool = getattr(getattr(session_factory, "kw", {}).get("bind"), "pool", None)
        if pool is None or not hasattr(pool, "checkedout"):
            return
        Gauge("tanpuhui_db_pool_in_use", "Database connections checked out", registry=self.registry
              ).set_function(pool.checkedout)
        Gauge("tanpuhui_db_pool_size", "Database connections the pool keeps", registry=self.registry
              ).set_function(pool.size)
        Gauge("tanpuhui_db_pool_overflow", "Database connections beyond the pool size", registry=self.registry
              ).set_function(lambda: max(0, pool.overflow()))
        Gauge("tanpuhui_db_pool_waiting", "Threads waiting for a database connection", registry=self.registry
              ).set_function(lambda: _pool_waiters(pool))


def _pool_waiters(pool: Any) -> int:
    # SQLAlchemy's QueuePool keeps its idle connections in a queue whose condition lists the waiting threads.
    condition = getattr(getattr(pool, "_pool", None), "not_empty", None)
    return len(getattr(condition, "_waiters", ()) or ())


def _route(scope: Scope) -> str:
    """The route's template (e.g. /api/v1/issuance-cases/{case_id}), never the raw path: bounded labels."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not path:
        return "unmatched"
    # Routers are included under /api/v1; the matched route keeps its own path without that prefix.
    if scope["path"].startswith("/api/v1/") and not path.startswith("/api/"):
        return "/api/v1" + path
    return path


class MetricsMiddleware(_HttpMiddleware):
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def keep_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, keep_status)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route, method = _route(scope), scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            _ACCESS.info("request", extra={"method": method, "route": route, "status": status,
                                           "duration_ms": round(elapsed * 1000, 1)})


# --- one convention for instants ---------------------------------------------------------------------

# An instant with an explicit offset, as a whole JSON string: "2026-05-01T10:00:00+08:00".
_OFFSET_INSTANT = re.compile(rb'"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)([+-]\d{2}:\d{2})"')


def _as_utc(match: re.Match[bytes]) -> bytes:
    moment = datetime.fromisoformat((match.group(1) + match.group(2)).decode()).astimezone(timezone.utc)
    return b'"' + moment.isoformat().replace("+00:00", "Z").encode() + b'"'


def instants_in_utc(body: bytes) -> bytes:
    return _OFFSET_INSTANT.sub(_as_utc, body)


class InstantsInUtcMiddleware(_HttpMiddleware):
    """Every instant in a JSON answer is written in UTC with `Z` (README: Security). Deadlines are computed
    on the Asia/Shanghai calendar and some values come from the database in its session time zone; rather
    than trust every source, JSON bodies that hold an instant with an offset are rewritten here (those
    without one, most of them, pass after one regular-expression search)."""

    # Answers made once and already rewritten (api.openapi): a regular-expression pass over ~300 KB each
    # time would be most of their cost.
    PASS_THROUGH = frozenset({"/openapi.json"})

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] in self.PASS_THROUGH:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if scope.get(UTC_DONE):  # written in UTC already (api.public): no second pass over the body
                    await send(message)
                    return
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                if b"json" in content_type:
                    start = message  # held until the whole body is known
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            if _OFFSET_INSTANT.search(body):
                body = instants_in_utc(body)
                start["headers"] = [(k, str(len(body)).encode() if k == b"content-length" else v)
                                    for k, v in start["headers"]]
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)
