"""Checks every request passes before any route reads it (installed app-wide in api.app).

PostgreSQL text cannot hold NUL characters: psycopg2 fails with "A string literal cannot contain NUL",
which used to surface as a 500. One check refuses NUL wherever a caller can put text — the JSON body (keys
and values, at any depth), form fields, path and query parameters, headers — with 422 naming the field.
Likewise integers beyond PostgreSQL's bigint (the fuzzer's `offset=34074460453647431571079168`).
"""

from __future__ import annotations

import re
from typing import Any, get_args

from fastapi import Request

from api.errors import unprocessable
from api.observability import note_case

NUL = "\x00"
_INTEGER = re.compile(r"^\s*[-+]?\d+\s*$")


INT64 = 2**63 - 1


def _unstorable_in(value: Any, path: str) -> tuple[str, Any] | None:
    """(dotted path, value) of the first string holding NUL or integer beyond bigint in a parsed JSON value."""
    if isinstance(value, str):
        return (path, value) if NUL in value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return (path, value) if abs(value) > INT64 else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return here, key
            found = _unstorable_in(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _unstorable_in(item, f"{path}.{i}" if path else str(i))
            if found is not None:
                return found
    return None


def _refuse(field: str, value: Any = "") -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        raise unprocessable(field, "int64", f"{field} must be between {-INT64} and {INT64}")
    raise unprocessable(field, "no_nul", "text may not contain NUL (\\u0000) characters")


def _integer_params(request: Request) -> list[str]:
    """Names of the matched route's integer path and query parameters."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return []
    names = []
    for param in [*dependant.path_params, *dependant.query_params]:
        annotation = param.field_info.annotation
        if annotation is int or int in get_args(annotation):
            names.append(param.alias)
    return names


async def check_input(request: Request) -> None:
    for name in ("case_id", "review_id"):  # business ids, for the request's log lines
        if isinstance(request.path_params.get(name), str) and NUL not in request.path_params[name]:
            note_case(request.path_params[name][:100])
    for name, value in request.path_params.items():
        if isinstance(value, str) and NUL in value:
            _refuse(name)
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            _refuse(name)
    for name, value in request.headers.items():
        if NUL in value:
            _refuse(name.title() if name.islower() else name)
    for name in _integer_params(request):
        for raw in [request.path_params.get(name), *request.query_params.getlist(name)]:
            if isinstance(raw, str) and _INTEGER.match(raw) and abs(int(raw)) > INT64:
                _refuse(name, int(raw))
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        # FastAPI has parsed the body already for routes that take one; Starlette caches it.
        try:
            body = await request.json()
        except ValueError:
            return  # not JSON: the route's own validation says so
        found = _unstorable_in(body, "")
        if found is not None:
            _refuse(found[0] or "body", found[1])
    elif content_type == "application/x-www-form-urlencoded":
        # The web pages' forms; parsed once and cached by Starlette for the route.
        for name, value in (await request.form()).multi_items():
            if NUL in name or (isinstance(value, str) and NUL in value):
                _refuse(name)
