"""Shared test support for the process tests: polling, the expert roster, a panel that decides.

One copy of what test_methodology.py, test_scenario.py and tests/issuance_flow.py each had.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from domain.roles import Role

API = "/api/v1"
# A request sender: (method, url under API, actor, expected status or None, **httpx kwargs) → response.
Call = Callable[..., Awaitable[Any]]


async def eventually(check: Callable[[], Any], what: str = "condition", timeout: float = 15.0,
                     every: float = 0.05) -> Any:
    """Poll `check()` (sync or async) until it is truthy and return its value; fail after `timeout` seconds
    of real time (activities run after a workflow wakes, so answers lag a little)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(every)


async def add_experts(client, bureau, make_actor, n: int = 3, expertise: str = "carbon inclusion") -> list:
    """`n` committee members on the roster, each of an organisation of its own: [(actor, expert id)]."""
    found = []
    for _ in range(n):
        actor = make_actor(Role.EXPERT)
        r = await client.post(f"{API}/experts", headers=bureau.headers, json={
            "user_id": actor.id, "name": f"Prof. {actor.id}", "expertise": [expertise]})
        assert r.status_code == 201, r.text
        found.append((actor, r.json()["id"]))
    return found


async def panel_decides(client, authority, experts: Sequence, review_id: str, votes: Sequence[str],
                        comments: Sequence[str] | None = None,
                        scores: Sequence[dict[str, int] | None] | None = None, *, call: Call | None = None) -> None:
    """Once the review has registered itself, the authority forms the panel of `experts` through the review
    API and each expert decides its task: `votes[i]`, with `comments[i]` and `scores[i]` when given.
    `call(method, url, actor, expect, **kw)` sends each request (default: once, through `client`); a crash
    drill passes one that retries while the worker is down."""

    async def once(method: str, url: str, actor: Any, expect: int | None = 200, **kw: Any):
        r = await client.request(method, f"{API}{url}", headers=actor.headers, **kw)
        if expect is not None:
            assert r.status_code == expect, f"{method} {url}: {r.status_code} {r.text}"
        return r

    send = call or once

    async def registered() -> bool:
        return (await send("GET", f"/reviews/{review_id}", authority, None)).status_code == 200

    await eventually(registered, f"review {review_id} registered")
    await send("POST", f"/reviews/{review_id}/panel", authority, json={"expert_ids": [e for _, e in experts]})
    for i, ((expert, _), vote) in enumerate(zip(experts, votes)):
        tasks = (await send("GET", "/review-tasks", expert)).json()
        [task] = [t for t in tasks if t["review_id"] == review_id]
        body: dict[str, Any] = {"vote": vote, "comments": comments[i] if comments else f"expert {expert.id}: {vote}"}
        if scores and scores[i] is not None:
            body["scores"] = scores[i]
        await send("POST", f"/review-tasks/{task['task_id']}/decision", expert, json=body)
