"""What the API promises in its OpenAPI document and its error answers (issue 10, "smaller" list)."""

from __future__ import annotations

import re
from pathlib import Path

from domain.roles import Role

PROBLEM = "application/problem+json"


async def test_openapi_documents_error_statuses_as_problem_json(client):
    spec = (await client.get("/openapi.json")).json()
    assert "Problem" in spec["components"]["schemas"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            responses = op["responses"]
            for status in ("404", "422", "500", "503"):
                if path == "/api/v1/health" and status == "503":
                    # Health answers its own report when something is down.
                    assert "application/json" in responses[status]["content"]
                    continue
                assert PROBLEM in responses[status]["content"], (method, path, status)
            if op.get("security"):
                assert {"401", "403"} <= set(responses), (method, path)
            if method in ("post", "put", "patch", "delete"):
                assert {"400", "409", "413", "415", "429"} <= set(responses), (method, path)
    objection = spec["paths"]["/api/v1/publicity-notices/{notice_id}/objections"]["post"]["responses"]
    assert objection["429"]["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
    # A human action waits on its case: a bounded wait can end in 504.
    assert "504" in spec["paths"]["/api/v1/methodologies/{case_no}/completeness"]["post"]["responses"]


async def test_public_operations_that_take_an_optional_token_say_so(client):
    spec = (await client.get("/openapi.json")).json()
    specs = spec["paths"]["/api/v1/scenario-specs"]["get"]
    assert {} in specs["security"]  # anonymous is fine
    assert (await client.get("/api/v1/scenario-specs")).status_code == 200
    assert "security" not in spec["paths"]["/api/v1/publicity-notices"]["get"]
    assert {} not in spec["paths"]["/api/v1/me"]["get"]["security"]


async def test_a_method_a_path_does_not_take_is_405_not_422(client, bureau):
    r = await client.put("/api/v1/calendar/years", headers=bureau.headers, content=b"x")
    assert r.status_code == 405, r.text
    assert r.headers["content-type"].startswith(PROBLEM) and r.headers["allow"] == "GET"
    r = await client.delete("/api/v1/calendar/deadline")
    assert r.status_code == 405
    # A malformed year on the year route itself is still 422.
    assert (await client.get("/api/v1/calendar/20x6")).status_code == 422


async def test_a_number_is_not_a_date(client, make_actor, bureau):
    r = await client.get("/api/v1/verification-bodies", params={"on": "1.4e-45"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "on", r.text
    assert (await client.get("/api/v1/verification-bodies", params={"on": "2026-03-01"})).status_code == 200
    r = await client.get("/api/v1/calendar/deadline", params={"start": "1767225600", "working_days": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "start"
    applicant = make_actor(Role.APPLICANT)
    r = await client.post("/api/v1/projects", headers=applicant.headers, json={
        "methodology_code": "WH-M-X-001", "methodology_version": 1, "name": "n", "district": "d",
        "site_address": "a", "facility_id": "f", "start_date": 0, "description": "d"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "start_date"
    r = await client.post("/api/v1/policy/changes", headers=bureau.headers, json={
        "parameter": "publicity_working_days", "value": 7, "effective_from": 1e9, "reason": "r"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "effective_from"


async def test_every_422_has_the_same_title_and_names_a_field(client, bureau):
    answers = [
        await client.post("/api/v1/organisations", json={"name": ""}, headers=bureau.headers),  # FastAPI's
        await client.get("/api/v1/serials/not-a-serial"),  # a route's own refusal
        await client.post("/api/v1/documents", headers=bureau.headers, data={"kind": "bogus"},
                          files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")}),
    ]
    for r in answers:
        assert r.status_code == 422, r.text
        assert r.json()["title"] == "Unprocessable request"
        assert r.json()["errors"][0]["field"]


def test_curl_examples_in_the_docs_send_json_as_json():
    root = Path(__file__).resolve().parents[1]
    checked = 0
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = doc.read_text()
        # One command per block line, continuation lines joined.
        for command in re.findall(r"curl[^\n]*(?:\\\n[^\n]*)*", text):
            if re.search(r"\s(-d|--data(-raw|-binary)?|--json)\s", command) and "--json" not in command:
                checked += 1
                assert re.search(r"Content-Type: application/json", command, re.I), (doc.name, command)
    assert checked > 0


async def test_every_instant_in_an_answer_is_utc_with_z(client, bureau):
    """Issue 10: times came back as +08:00 in some answers and Z in others; now always UTC with Z."""
    r = await client.get("/api/v1/calendar/deadline",
                         params={"start": "2026-02-13T10:00:00+08:00", "working_days": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["start"] == "2026-02-13T02:00:00Z"
    assert body["end"].endswith("Z") and "+08:00" not in r.text, body
    created = await client.post("/api/v1/organisations", json={"name": "UTC Ltd", "org_type": "enterprise"},
                                headers=bureau.headers)
    assert created.json()["created_at"].endswith("Z")
    assert int(r.headers["content-length"]) == len(r.content)
    policy = (await client.get("/api/v1/policy")).json()
    assert policy["as_of"].endswith("Z")


async def test_schema_names_are_unique_and_unmangled(client):
    # FastAPI names a schema `module__Class` when two modules reuse a class name (`CaseOut`, `Stage`):
    # every schema class has a name of its own.
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert [name for name in schemas if "__" in name] == []
