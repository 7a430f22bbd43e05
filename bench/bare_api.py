"""The bare endpoint bench/api.py measures the API against: FastAPI answering a constant.

`GET /bare/{name}` answers the bytes of file `{name}` of the folder in BARE_BODIES (read once at start):
for every read measured, the same body the API answered, so both sides move the same bytes. No
middleware, no dependencies, no database: the framework's and the server's ceiling.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response


def create_app() -> FastAPI:
    folder = Path(os.environ["BARE_BODIES"])
    bodies = {path.name: path.read_bytes() for path in folder.iterdir()}
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/bare/{name}")
    async def bare(name: str) -> Response:
        return Response(bodies[name], media_type="application/json")

    return app
