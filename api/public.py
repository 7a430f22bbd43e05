"""Public reads answered from what changes rarely (issue 15; Art. 20, 30, 31: what the city reads).

A public GET route builds its answer with `public_answer(...)`, naming the tables the answer is made of:
- the current version of those tables is read first (one query on `public_versions`, whose counters the
  writing transaction bumps by trigger, migration 0017); the in-process cache holds the serialised answer
  per path+query under that version and serves it only while the version is unchanged. Reading the version
  *before* the data (READ COMMITTED: each statement sees everything committed before it) means an entry is
  never older than the version it is filed under, so once a write is answered no reader gets the old answer;
- the answer carries a strong `ETag` (hash of the exact bytes), `Last-Modified` (the last write to those
  tables) and `Cache-Control: public, max-age=10, must-revalidate`; `If-None-Match` / `If-Modified-Since`
  get 304 without a body. Ten seconds: a CDN or reverse proxy in front absorbs a rush of readers (at most one
  request per URL per 10 s reaches us from each edge), yet a notice or issuance just published shows within
  10 s even there, and after that `must-revalidate` makes the edge ask again (a 304 costs one version query);
- `?format=csv` answers the same list as CSV (UTF-8 with BOM so that spreadsheet programs read the Chinese;
  headers "中文 / English"), cached and validated the same way.

Answers that depend on the clock (a notice's remaining time) add `clock_seconds`: the entry is also keyed by
the current window of that many seconds, so remaining times are at most that old.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import Headers

from api.observability import UTC_DONE, instants_in_utc
from store.disclosure import public_versions
from store.public_versions import PublicVersions, invalidate_all
from domain.clock import now_utc

MAX_AGE_SECONDS = 10
CACHE_CONTROL = f"public, max-age={MAX_AGE_SECONDS}, must-revalidate"
MAX_ENTRIES = 1024  # query strings are the caller's: the cache is bounded (least recently used goes)
MAX_CACHED_BYTES = 8 * 1024 * 1024  # a larger answer is served but not kept

Format = Annotated[Literal["json", "csv"], Query(alias="format", description="json, or csv to download the list")]
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
# For the OpenAPI document: a public list answers JSON, CSV, or 304.
LIST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    304: {"description": "Not modified (If-None-Match / If-Modified-Since)"},
}
ONE_RESPONSES: dict[int | str, dict[str, Any]] = {304: LIST_RESPONSES[304]}

Column = tuple[str, str]  # (key in the JSON item, header "中文 / English")


@dataclass(frozen=True)
class _Entry:
    version: tuple
    body: bytes
    etag: str
    last_modified: datetime | None
    media_type: str
    filename: str | None
    # What the fast path (PublicFastPath) needs to serve it without the route: the counters it is filed
    # under, its clock window, and the matched route (the metrics label requests by route template).
    tables: tuple[str, ...] = ()
    clock_seconds: int | None = None
    route: Any = None
    # The answer's headers as `_response` makes them (200, and 304 without a body), made once.
    raw_200: tuple = field(default=(), compare=False)
    raw_304: tuple = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw_200", tuple(_response(Headers(), self).raw_headers))
        object.__setattr__(self, "raw_304", tuple(_response(Headers({"if-none-match": self.etag}), self).raw_headers))


class PublicCache:
    """Serialised public answers per path+query, each under the version of the tables it was built from."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def get(self, key: str, version: tuple) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.version != version:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def peek(self, key: str) -> _Entry | None:
        """The entry filed under `key` whatever its version (the fast path compares it itself)."""
        return self._entries.get(key)

    def put(self, key: str, entry: _Entry) -> None:
        if len(entry.body) > MAX_CACHED_BYTES:
            return
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


def cache_of(request: Request) -> PublicCache:
    state = request.app.state
    cache = getattr(state, "public_cache", None)
    if cache is None:  # one per application (per process), made on first use
        cache = state.public_cache = PublicCache()
    return cache


def versions_of(request: Request) -> PublicVersions | None:
    return getattr(request.app.state, "public_versions", None)


def _key(request: Request) -> str:
    # The base URL too: some answers carry links built from it (a certificate's verification URL).
    query = "&".join(f"{k}={v}" for k, v in sorted(request.query_params.multi_items()))
    return f"{request.base_url}{request.url.path.lstrip('/')}?{query}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是 / yes" if value else "否 / no"
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in _FORMULA:
        # Names and texts come from participants: a spreadsheet must not run "=HYPERLINK(…)" as a formula.
        return "'" + value
    return str(value)


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def to_csv(items: Iterable[dict[str, Any]], columns: Sequence[Column]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([header for _, header in columns])
    for item in items:
        writer.writerow([_cell(item.get(key)) for key, _ in columns])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")  # BOM: spreadsheets then read UTF-8


def _serialise(data: Any) -> bytes:
    # Instants in UTC with Z here rather than in the middleware, so the ETag hashes the bytes sent.
    return instants_in_utc(json.dumps(jsonable_encoder(data), ensure_ascii=False, separators=(",", ":")).encode())


def _not_modified(request_headers: Headers, entry: _Entry) -> bool:
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        tags = [t.strip() for t in if_none_match.split(",")]
        return "*" in tags or entry.etag in tags
    since = request_headers.get("if-modified-since")
    if since and entry.last_modified is not None:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return entry.last_modified.replace(microsecond=0) <= when
    return False


def public_answer(request: Request, session: Session, tables: Sequence[str], build: Callable[[], Any], *,
                  fmt: str = "json", columns: Sequence[Column] | None = None, filename: str | None = None,
                  clock_seconds: int | None = None) -> Response:
    """The answer of a public GET: cached under the tables' version, with ETag, Last-Modified and 304.

    `build()` returns what the route would return (models, dicts, lists). For `fmt == "csv"` the list is
    `build()` itself or its `items`, written with `columns`."""
    versions = versions_of(request)
    generation = versions.generation() if versions is not None else 0
    version, last_modified = public_versions(session, tables)
    if versions is not None:  # what was just read is current: the fast path may serve on it
        versions.merge(zip(tables, version), generation, complete=tables)
    if clock_seconds:
        window = int(now_utc().timestamp()) // clock_seconds
        version = version + (window,)
        started = datetime.fromtimestamp(window * clock_seconds, tz=timezone.utc)
        last_modified = max(last_modified, started) if last_modified else started
    cache = cache_of(request)
    key = _key(request)
    entry = cache.get(key, version)
    if entry is None:
        payload = _serialise(build())
        if fmt == "csv":
            if columns is None:
                raise ValueError("a CSV answer needs its columns")
            data = json.loads(payload)
            # A page's items, a report's rows, a list itself, or one object as one row.
            items = data.get("items", data.get("rows", [data])) if isinstance(data, dict) else data
            body, media_type = to_csv(items, columns), CSV_MEDIA_TYPE
        else:
            body, media_type = payload, "application/json"
        entry = _Entry(version=version, body=body, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
                       last_modified=last_modified, media_type=media_type,
                       filename=f"{filename}.csv" if fmt == "csv" and filename else None,
                       tables=tuple(tables), clock_seconds=clock_seconds, route=request.scope.get("route"))
        cache.put(key, entry)
    request.scope[UTC_DONE] = True
    return _response(request.headers, entry)


def _response(request_headers: Headers, entry: _Entry) -> Response:
    """The answer of an entry, the same from the route and from the fast path."""
    headers = {"ETag": entry.etag, "Cache-Control": CACHE_CONTROL}
    if entry.last_modified is not None:
        headers["Last-Modified"] = format_datetime(entry.last_modified.astimezone(timezone.utc), usegmt=True)
    if _not_modified(request_headers, entry):
        return Response(status_code=304, headers=headers)
    if entry.filename:
        headers["Content-Disposition"] = f'attachment; filename="{entry.filename}"'
    return Response(entry.body, media_type=entry.media_type, headers=headers)


# --- the fast path: a hit served before routing, dependencies, the session and the thread pool ----------

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class PublicFastPath:
    """A pure ASGI middleware in front of the routes (inside the metrics and request-id middlewares, so a
    hit is counted and traced like any answer).

    GET: when this process's copy of the counters is current (store/public_versions.py: the listener is
    connected and nothing was forgotten) and the cached entry of this URL was filed under exactly those
    counts (and the current clock window), the entry is the route's answer: sent from here, same bytes and
    headers (ETag, Last-Modified, Cache-Control, 304). No SQL, no session, no thread hop, no dependency.
    Otherwise the request goes to the route as before (which reads the counters from the database).
    Only answers made by `public_answer` are cached, and those are the same for every caller (public
    routes, no caller dependency): skipping the route's dependencies changes nothing but the cost. A
    request with NUL in a header goes to the route (api.guards refuses it there); the path and query were
    checked when the entry was made (they are its key).

    Any other method (a write): this process forgets its copy of the counters right before the answer
    starts, so the next read here asks the database (the write has committed by then, even when a worker
    made it on the request's behalf). The window that remains, between a commit and its notification
    reaching *another* process's listener, is described in store/public_versions.py and docs/speed.md."""

    def __init__(self, app, state) -> None:
        self.app, self.state = app, state
        self._keys: dict[tuple, str] = {}

    def _key(self, scope) -> str:
        """`_key` of the request, remembered by what it is computed from (building the base URL and sorting
        the query each time was a third of a hit's cost)."""
        host = next((v for k, v in scope["headers"] if k == b"host"), None)
        raw = (scope.get("scheme"), host, scope.get("server"), scope.get("root_path", ""), scope["path"],
               scope.get("query_string", b""))
        key = self._keys.get(raw)
        if key is None:
            if len(self._keys) >= 4 * MAX_ENTRIES:  # the caller chooses paths and queries: bounded
                self._keys.clear()
            key = self._keys[raw] = _key(Request(scope))
        return key

    @staticmethod
    async def _serve(scope, send, entry: _Entry) -> bool:
        """Send the entry's answer (its headers made once by `_response`); False to leave it to the route."""
        conditional = False
        for name, value in scope["headers"]:
            if b"\x00" in value:
                return False  # api.guards refuses it there
            if name in (b"if-none-match", b"if-modified-since"):
                conditional = True
        not_modified = conditional and _not_modified(Headers(scope=scope), entry)
        scope["route"] = entry.route  # for the metrics' route label
        scope[UTC_DONE] = True
        await send({"type": "http.response.start", "status": 304 if not_modified else 200,
                    "headers": list(entry.raw_304 if not_modified else entry.raw_200)})
        await send({"type": "http.response.body", "body": b"" if not_modified else entry.body})
        return True

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "GET":
            versions: PublicVersions | None = getattr(self.state, "public_versions", None)
            cache: PublicCache | None = getattr(self.state, "public_cache", None)
            if versions is not None and versions.listening and cache is not None:
                entry = cache.peek(self._key(scope))
                if entry is not None and entry.tables:
                    current = versions.current(entry.tables)
                    if current is not None and entry.clock_seconds:
                        current = current + (int(now_utc().timestamp()) // entry.clock_seconds,)
                    if current == entry.version and await self._serve(scope, send, entry):
                        cache.hits += 1
                        return
            await self.app(scope, receive, send)
            return
        if method in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return

        async def forget_then_send(message) -> None:
            if message["type"] == "http.response.start":
                invalidate_all()  # no I/O: the next public read in this process asks the database
            await send(message)

        await self.app(scope, receive, forget_then_send)
