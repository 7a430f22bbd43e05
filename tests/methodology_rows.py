"""Published methodology versions for issuance tests, written straight into the methodology tables.

Publishing through the methodology workflow is tested in tests/test_methodology.py; here a project
only needs a version in a given state (current, superseded, retired, personal scope).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

from sqlalchemy import text

_seq = itertools.count(1)
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
