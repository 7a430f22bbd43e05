"""Hostile input is refused as problem+json, never a plain-text 500.

NUL characters cannot be stored in PostgreSQL text: they are refused at the door with 422 naming the field,
wherever they come in (JSON body, path, query, header). And whatever goes wrong inside, a 5xx answer is
problem+json too, including errors raised outside any route.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter

from api.app import create_app
from domain.roles import Role

PROBLEM = "application/problem+json"


def _assert_nul_refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["title"] == "Unprocessable request"
    assert body["errors"][0]["field"] == field and body["errors"][0]["rule"] == "no_nul", body


async def test_nul_in_any_json_text_field_is_a_422_naming_the_field(client, bureau, make_actor):
    applicant = make_actor(Role.APPLICANT)
    cases = [
        ("/api/v1/organisations", bureau, {"name": "a\u0000b", "org_type": "enterprise"}, "name"),
        ("/api/v1/users", bureau, {"name": "x\u0000", "role": "individual"}, "name"),
        ("/api/v1/methodologies", applicant, {"title": "t\u0000", "scope": "project", "domain": "other",
                                              "summary": "s"}, "title"),
        ("/api/v1/scenarios", applicant, {"name": "shop", "category": "shop_supermarket", "address": "addr",
                                          "district": "jiang_an", "behaviour_description": "d\u0000d"},
         "behaviour_description"),
        ("/api/v1/publicity-notices/1/objections", None, {"content": "\u0000"}, "content"),
        # Nested: the field is named by its path.
        ("/api/v1/methodologies", applicant, {"title": "t", "scope": "personal", "domain": "other", "summary": "s",
                                              "behaviours": [{"code": "b\u0000"}]}, "behaviours.0.code"),
        # In a key, too.
        ("/api/v1/organisations", bureau, {"name": "n", "org_type": "enterprise", "k\u0000": 1}, "k\u0000"),
    ]
    for path, actor, body, field in cases:
        r = await client.post(path, json=body, headers=actor.headers if actor else {})
        _assert_nul_refused(r, field)


async def test_nul_in_a_path_query_or_header_is_a_422(client, bureau):
    _assert_nul_refused(await client.get("/api/v1/public/methodologies/a%00b"), "code")
    _assert_nul_refused(await client.get("/api/v1/serials/WH%00"), "serial")
    _assert_nul_refused(await client.get("/api/v1/projects", params={"organisation_id": "1\x00"}),
                        "organisation_id")
    r = await client.post("/api/v1/organisations", json={"name": "n", "org_type": "enterprise"},
                          headers={**bureau.headers, "Idempotency-Key": "k\x00"})
    _assert_nul_refused(r, "Idempotency-Key")


async def test_nul_in_a_calendar_file_is_a_422(client, bureau):
    r = await client.put("/api/v1/calendar/2031", content="2031\x00".encode(),
                         headers={**bureau.headers, "Content-Type": "text/plain"})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)


@pytest.fixture
def broken_app(settings, session_factory):
    app = create_app(settings, session_factory=session_factory)
    router = APIRouter()

    @router.get("/boom")
    def boom():
        raise RuntimeError("something internal")

    app.include_router(router, prefix="/api/v1")

    @app.middleware("http")
    async def outside(request, call_next):
        if request.url.path == "/api/v1/outside":
            raise ValueError("raised outside any route")
        return await call_next(request)

    return app


async def test_every_5xx_is_problem_json_even_outside_routes(broken_app):
    transport = httpx.ASGITransport(app=broken_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        # (The web pages answer an HTML error page; every /api/ path answers problem+json.)
        for path in ("/api/v1/boom", "/api/v1/outside"):
            r = await c.get(path)
            assert r.status_code == 500
            assert r.headers["content-type"].startswith(PROBLEM)
            assert r.json()["title"] == "Internal server error"
            assert "something internal" not in r.text and "outside any route" not in r.text
            assert r.headers.get("x-request-id")


async def test_a_database_that_cannot_be_reached_is_a_503_problem(settings):
    from store.session import make_engine, make_session_factory

    dead = make_session_factory(make_engine("postgresql://postgres@127.0.0.1:1/none", pool_size=1,
                                            connect_args={"connect_timeout": 2}))
    app = create_app(settings, session_factory=dead)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        r = await c.get("/api/v1/projects")
    assert r.status_code == 503 and r.headers["content-type"].startswith(PROBLEM)
    assert "database" in r.json()["detail"]


async def test_integers_beyond_bigint_are_a_422_naming_the_field(client, bureau):
    """Found by the fuzzer: offset=34074460453647431571079168 reached PostgreSQL and gave a 500."""
    r = await client.get("/api/v1/experts", params={"offset": str(10**25)})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "offset", r.text
    r = await client.get(f"/api/v1/organisations/{10**20}", headers=bureau.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "org_id", r.text
    r = await client.post("/api/v1/users", headers=bureau.headers,
                          json={"name": "n", "role": "applicant", "organisation_id": 10**20})
    assert r.status_code == 422 and r.json()["errors"][0] == {
        "field": "organisation_id", "rule": "int64",
        "message": f"organisation_id must be between {-(2**63 - 1)} and {2**63 - 1}"}
    assert (await client.get("/api/v1/experts", params={"offset": "3"})).status_code == 200
