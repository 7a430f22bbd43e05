"""What an operator sees of the API: a request id on every answer and in every log line of the request.

The id is the caller's `X-Request-ID` when it is a plain token (letters, digits, `-_.`, at most 64), else a
new one; it is kept in a context variable so log records of the request carry it (see `RequestIdFilter`).
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from datetime import datetime, timezone

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        rid = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = REQUEST_ID.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or '-') on every record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


# --- one convention for instants ---------------------------------------------------------------------

# An instant with an explicit offset, as a whole JSON string: "2026-05-01T10:00:00+08:00".
_OFFSET_INSTANT = re.compile(rb'"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)([+-]\d{2}:\d{2})"')


def _as_utc(match: re.Match[bytes]) -> bytes:
    moment = datetime.fromisoformat((match.group(1) + match.group(2)).decode()).astimezone(timezone.utc)
    return b'"' + moment.isoformat().replace("+00:00", "Z").encode() + b'"'


def instants_in_utc(body: bytes) -> bytes:
    return _OFFSET_INSTANT.sub(_as_utc, body)


class InstantsInUtcMiddleware:
    """Every instant in a JSON answer is written in UTC with `Z` (README: conventions). Deadlines are computed
    on the Asia/Shanghai calendar and some values come from the database in its session time zone; rather
    than trust every source, JSON bodies that hold an instant with an offset are rewritten here (those
    without one, most of them, pass after one regular-expression search)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
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
