"""A published personal methodology with a behaviour table, an approved data source, a resident: for the
personal-reduction tests (tests/test_personal.py) and the access matrix."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from domain.roles import Role
from tests.methodology_rows import publish_methodology

# code, unit, factor in ten-thousandths of a gram per unit, daily cap in units
BEHAVIOURS = [("metro_km", "km", 512_345, 50), ("walk_step", "step", 3, 20_000), ("bike_km", "km", 211_111, 30)]


def publish_personal(session_factory) -> str:
    code = f"WH-M-PERS{uuid.uuid4().hex[:4].upper()}-001"
    version_id = publish_methodology(session_factory, code=code, scope="personal")
    with session_factory() as s, s.begin():
        for i, (c, unit, factor, cap) in enumerate(BEHAVIOURS):
            s.execute(text(
                "INSERT INTO methodology_behaviours (version_id, position, code, name, unit, factor_e4, daily_cap) "
                "VALUES (:v, :i, :c, :c, :u, :f, :cap)"), {"v": version_id, "i": i, "c": c, "u": unit, "f": factor,
                                                           "cap": cap})
    return code


async def approve_source(client, operator, make_actor, behaviours=("metro_km", "walk_step")):
    source_user = make_actor(Role.DATA_SOURCE)
    r = await client.post("/api/v1/data-sources", headers=operator.headers,
                          json={"organisation_id": source_user.user.organisation_id, "behaviours": list(behaviours)})
    assert r.status_code == 201, r.text
    return source_user, r.json()


async def sign_up(client, name="张三"):
    r = await client.post("/api/v1/residents", json={"name": name, "email": f"r{uuid.uuid4().hex[:8]}@example.cn",
                                                     "password": "correct horse battery"})
    assert r.status_code == 201, r.text
    body = r.json()
    return {"Authorization": f"Bearer {body['token']}"}, body


async def bind(client, source_headers, resident_headers, subject_ref):
    r = await client.post("/api/v1/binding-codes", headers=source_headers, json={"subject_ref": subject_ref})
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/personal-account/bindings", headers=resident_headers, json={"code": r.json()["code"]})
    assert r.status_code == 201, r.text
    return r.json()


def record(n: int | str, subject: str, behaviour="metro_km", quantity=1, unit="km", at: datetime | None = None):
    at = at or datetime.now(timezone.utc) - timedelta(hours=1)
    return {"source_event_id": f"e-{n}", "subject_ref": subject, "behaviour": behaviour, "quantity": quantity,
            "unit": unit, "occurred_at": at.isoformat()}


async def wait_accounted(client, headers, batch_id, timeout=30.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await client.get(f"/api/v1/behaviour-batches/{batch_id}", headers=headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] != "received":
            return r.json()
        assert asyncio.get_running_loop().time() < deadline, r.json()
        await asyncio.sleep(0.1)
