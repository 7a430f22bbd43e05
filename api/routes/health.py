from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api import temporal

router = APIRouter(tags=["health"])


def _database_up(request: Request) -> bool:
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


async def _temporal_up(request: Request) -> bool:
    state = request.app.state
    try:
        if state.temporal is None:
            if not state.settings.temporal_address:
                return False
            state.temporal = await asyncio.wait_for(temporal.connect(state.settings), timeout=3)
        await asyncio.wait_for(state.temporal.service_client.check_health(), timeout=3)
        return True
    except Exception:
        return False


@router.get("/health", summary="State of the database and the workflow engine")
async def health(request: Request) -> JSONResponse:
    database = await asyncio.to_thread(_database_up, request)
    engine = await _temporal_up(request)
    parts = {"database": "up" if database else "down", "temporal": "up" if engine else "down"}
    down = [name for name, state in parts.items() if state == "down"]
    body = {"status": "ok" if not down else "unavailable", **parts}
    if down:
        body["detail"] = "down: " + ", ".join(down)
    return JSONResponse(body, status_code=200 if not down else 503)
