"""The one place issuance tests get published methodology versions from.

It writes the rows directly. Until the methodology work is merged, the two tables it needs do not
exist yet, so the `methodology_tables` fixture creates minimal ones for the test and drops them after;
once merged, it only inserts. Swap this for the methodology service/API when that lands.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from sqlalchemy import inspect, text

_seq = itertools.count(1)
_STUB = """
CREATE TABLE methodologies (id BIGSERIAL PRIMARY KEY, code VARCHAR(40) UNIQUE NOT NULL, scope VARCHAR(20) NOT NULL,
  domain VARCHAR(40) NOT NULL, owner_organisation_id BIGINT, status VARCHAR(20) NOT NULL,
  origin_case_id VARCHAR(100) UNIQUE NOT NULL, published_at TIMESTAMPTZ NOT NULL, retired_at TIMESTAMPTZ);
CREATE TABLE methodology_versions (id BIGSERIAL PRIMARY KEY, methodology_id BIGINT NOT NULL REFERENCES methodologies,
  version_no INT NOT NULL, status VARCHAR(20) NOT NULL, title VARCHAR(300) NOT NULL, summary TEXT NOT NULL,
  document_ids JSONB NOT NULL, case_id VARCHAR(100) UNIQUE NOT NULL, published_at TIMESTAMPTZ NOT NULL,
  reevaluation_due TIMESTAMPTZ NOT NULL, superseded_at TIMESTAMPTZ, retired_at TIMESTAMPTZ);
"""


def ensure_tables(engine) -> bool:
    """Create the two tables if the methodology work is not merged yet; True if this created them."""
    if inspect(engine).has_table("methodology_versions"):
        return False
    with engine.begin() as conn:
        conn.execute(text(_STUB))
    return True


def drop_tables(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE methodology_versions; DROP TABLE methodologies"))


@pytest.fixture
def methodology_tables(engine) -> Iterator[None]:
    stubbed = ensure_tables(engine)
    yield
    if stubbed:
        drop_tables(engine)


def publish_methodology(session_factory, *, code: str | None = None, scope: str = "project",
                        version_status: str = "current", methodology_status: str = "active",
                        version_no: int = 1) -> int:
    """A published methodology version; returns the version id."""
    n = next(_seq)
    code = code or f"WH-M-TEST-{n:03d}"
    now = datetime(2025, 6, 1, tzinfo=timezone.utc)
    with session_factory() as s, s.begin():
        mid = s.execute(text(
            "INSERT INTO methodologies (code, scope, domain, status, origin_case_id, published_at) "
            "VALUES (:code, :scope, 'energy_substitution', :st, :case, :now) "
            "ON CONFLICT (code) DO UPDATE SET code = EXCLUDED.code RETURNING id"),
            {"code": code, "scope": scope, "st": methodology_status, "case": f"methodology-t{n}", "now": now}
        ).scalar_one()
        return s.execute(text(
            "INSERT INTO methodology_versions (methodology_id, version_no, status, title, summary, document_ids, "
            "case_id, published_at, reevaluation_due) VALUES (:mid, :v, :st, :code, 'test', '[]', :case, :now, :now) "
            "RETURNING id"),
            {"mid": mid, "v": version_no, "st": version_status, "code": code, "case": f"methodology-t{n}",
             "now": now}).scalar_one()
