"""Checks every request passes before any route reads it (installed app-wide in api.app).

PostgreSQL text cannot hold NUL characters: psycopg2 fails with "A string literal cannot contain NUL",
which used to surface as a 500. One check refuses NUL wherever a caller can put text — the JSON body (keys
and values, at any depth), form fields, path and query parameters, headers — with 422 naming the field.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from api.errors import unprocessable

NUL = "\x00"


def _nul_in(value: Any, path: str) -> str | None:
    """The dotted path of the first string holding NUL inside a parsed JSON value, or None."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return here
            found = _nul_in(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul_in(item, f"{path}.{i}" if path else str(i))
            if found is not None:
                return found
    return None


def _refuse(field: str) -> None:
    raise unprocessable(field, "no_nul", "text may not contain NUL (\\u0000) characters")


async def refuse_nul(request: Request) -> None:
    for name, value in request.path_params.items():
        if isinstance(value, str) and NUL in value:
            _refuse(name)
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            _refuse(name)
    for name, value in request.headers.items():
        if NUL in value:
            _refuse(name.title() if name.islower() else name)
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        # FastAPI has parsed the body already for routes that take one; Starlette caches it.
        try:
            body = await request.json()
        except ValueError:
            return  # not JSON: the route's own validation says so
        found = _nul_in(body, "")
        if found is not None:
            _refuse(found or "body")
    elif content_type == "application/x-www-form-urlencoded":
        # The web pages' forms; parsed once and cached by Starlette for the route.
        for name, value in (await request.form()).multi_items():
            if NUL in name or (isinstance(value, str) and NUL in value):
                _refuse(name)
