"""The OpenAPI document says what the API really answers: every operation lists its error statuses as
`application/problem+json` (api.errors), and operations that work with or without a token say so."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import RouteContext, iter_route_contexts

from api.case_actions import case_actions
from api.deps import optional_user
from api.errors import PROBLEM, TITLES

PROBLEM_SCHEMA = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` names each field at fault and the rule it broke",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object",
            "properties": {"field": {"type": ["string", "null"]}, "rule": {"type": ["string", "null"]},
                           "message": {"type": "string"}},
        }},
    },
}


def _calls(route: RouteContext) -> set[Any]:
    found, todo = set(), [route.dependant]
    while todo:
        dependant = todo.pop()
        found.add(dependant.call)
        todo.extend(dependant.dependencies)
    return found


def _statuses(route: RouteContext, method: str, secured: bool) -> list[int]:
    calls = _calls(route)
    codes = {404, 422, 500, 503}
    if secured:
        codes |= {401, 403}
    if method != "get":
        codes |= {400, 409, 413, 415, 429}
    if case_actions in calls:
        codes.add(504)  # waited on a workflow for TEMPORAL_WAIT_SECONDS
    return sorted(codes)


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        problem_ref = {"$ref": "#/components/schemas/Problem"}
        routes = {(route.path_format, method.lower()): route for route in iter_route_contexts(app.routes)
                  if getattr(route, "dependant", None) is not None for method in route.methods or ()}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                route = routes.get((path, method))
                if route is None:
                    continue
                if optional_user in _calls(route):
                    # Public, and more for a caller with a token: the token is optional.
                    operation["security"] = [{}, *operation.get("security", [])]
                responses = operation.setdefault("responses", {})
                for status in _statuses(route, method, "security" in operation):
                    entry = responses.setdefault(str(status), {"description": TITLES.get(status, "Error")})
                    # A route that documents its own answer for a status keeps it (health's 503 is a health
                    # report); FastAPI's own 422 schema is replaced: validation errors are problem+json.
                    if status == 422 or not entry.get("content"):
                        entry["content"] = {PROBLEM: {"schema": problem_ref}}
        schema["components"]["schemas"].pop("HTTPValidationError", None)
        schema["components"]["schemas"].pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    _serve_document_bytes(app)


def _serve_document_bytes(app: FastAPI) -> None:
    """GET /openapi.json answers bytes made once: FastAPI's own route caches the document but encodes its
    ~300 KB as JSON again for every request (about 4 ms of CPU each, the whole of its cost)."""
    from starlette.requests import Request
    from starlette.responses import Response

    from api.observability import instants_in_utc

    url = app.openapi_url
    if not url:
        return
    encoded: list[bytes] = []

    async def openapi_json(request: Request) -> Response:
        if request.scope.get("root_path", "").rstrip("/"):
            # Served under a prefix: FastAPI adds it to `servers` per request; not worth a cache.
            return Response(_encode(_with_server(app.openapi(), request)), media_type="application/json")
        if not encoded:
            # The UTC rewrite (api.observability) is done once here; the middleware lets this path through.
            encoded.append(instants_in_utc(_encode(app.openapi())))
        return Response(encoded[0], media_type="application/json")

    # In FastAPI's own route's place, first: routes are matched in order, and matching past all ~150 of the
    # API's costs more than answering.
    from starlette.routing import Route

    routes = app.router.routes
    at = next((i for i, r in enumerate(routes) if getattr(r, "path", None) == url), 0)
    routes[:] = [r for r in routes if getattr(r, "path", None) != url]
    routes.insert(at, Route(url, openapi_json, include_in_schema=False))


def _encode(schema: dict[str, Any]) -> bytes:
    import json

    # As starlette's JSONResponse writes it.
    return json.dumps(schema, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _with_server(schema: dict[str, Any], request: Any) -> dict[str, Any]:
    root_path = request.scope.get("root_path", "").rstrip("/")
    if root_path in {s.get("url") for s in schema.get("servers", [])}:
        return schema
    return {**schema, "servers": [{"url": root_path}, *schema.get("servers", [])]}
