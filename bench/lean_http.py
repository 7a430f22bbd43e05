"""The benchmarks' HTTP clients: keep-alive HTTP/1.1 spoken with h11 over asyncio streams.

What the benchmarks measure is the platform, and on this 2-core machine whatever CPU the driver spends is
taken from the API, the workers and PostgreSQL: httpx spent 4-6 ms of CPU per request here, more than half
of what the API spends answering it; this costs a tenth of that.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from typing import Any
from urllib.parse import urlencode

import h11


class Connection:
    """One keep-alive connection of one client (one request at a time)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.conn = h11.Connection(h11.CLIENT)

    async def request(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"",
                      content_type: str = "application/json") -> tuple[int, bytes]:
        """Send one request; its status and body."""
        if self.writer is None or self.conn.our_state is h11.MUST_CLOSE:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.conn = h11.Connection(h11.CLIENT)
        assert self.reader is not None
        framing = [("Content-Type", content_type), ("Content-Length", str(len(body)))] if method != "GET" else []
        self.writer.write(self.conn.send(h11.Request(method=method, target=target,
                                                     headers=[("Host", "127.0.0.1"), *framing, *headers])))
        if method != "GET":
            self.writer.write(self.conn.send(h11.Data(data=body)))
        self.writer.write(self.conn.send(h11.EndOfMessage()))
        status, chunks = 0, []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                data = await self.reader.read(65536)
                if not data:
                    raise RuntimeError("the API closed the connection")
                self.conn.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self.conn.start_next_cycle()
                return status, b"".join(chunks)

    async def post(self, path: str, headers: list[tuple[str, str]], body: bytes,
                   content_type: str = "application/json") -> int:
        return (await self.request("POST", path, headers, body, content_type))[0]

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


class Answer:
    """What the drivers read of an answer (the names httpx uses)."""

    def __init__(self, method: str, url: str, status_code: int, content: bytes) -> None:
        self.method, self.url, self.status_code, self.content = method, url, status_code, content

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


class Client:
    """Many concurrent clients of one API: each request takes an idle keep-alive connection (or opens one)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[Connection] = []
        self.opened: list[Connection] = []

    async def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                      params: dict[str, Any] | None = None, json: Any = None) -> Answer:
        target = f"{url}?{urlencode(params)}" if params else url
        conn = self.idle.pop() if self.idle else self._open()
        try:
            status, content = await conn.request(method, target, list((headers or {}).items()),
                                                 jsonlib.dumps(json).encode() if json is not None else b"")
        except BaseException:
            await conn.close()
            self.opened.remove(conn)
            raise
        self.idle.append(conn)
        return Answer(method, target, status, content)

    def _open(self) -> Connection:
        conn = Connection(self.port)
        self.opened.append(conn)
        return conn

    async def get(self, url: str, **kw: Any) -> Answer:
        return await self.request("GET", url, **kw)

    async def post(self, url: str, **kw: Any) -> Answer:
        return await self.request("POST", url, **kw)

    async def aclose(self) -> None:
        for conn in self.opened:
            await conn.close()
        self.idle.clear()
        self.opened.clear()
