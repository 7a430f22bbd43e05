"""Disclosure (Art. 30, 31): the write counters public reads are cached under; aggregate queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session


def public_versions(session: Session, tables: Sequence[str]) -> tuple[tuple[int, ...], datetime | None]:
    """The version of each table (sum of its shards; 0 before any write) and the last write among them.

    Read it before the data: a commit after this statement makes the version differ next time."""
    rows = session.execute(text(
        "SELECT table_name, sum(version), max(changed_at) FROM public_versions "
        "WHERE table_name = ANY(:t) GROUP BY table_name"), {"t": list(tables)}).all()
    found = {name: (int(total), changed) for name, total, changed in rows}
    version = tuple(found.get(t, (0, None))[0] for t in tables)
    changes = [changed for _, changed in found.values() if changed is not None]
    return version, max(changes) if changes else None
