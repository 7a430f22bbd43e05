"""CPU accounting for the benchmarks: what a process, or a database's PostgreSQL backends, spent so far."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url

from store.session import normalise_url


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc; 0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends(admin_url: str, database: str) -> dict[int, float]:
    """CPU so far of the PostgreSQL backends serving `database` (the server runs on this machine)."""
    dsn = make_url(normalise_url(admin_url)).render_as_string(hide_password=False).replace("postgresql+psycopg2",
                                                                                          "postgresql")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))
        return {pid: cpu_seconds(pid) for (pid,) in cur.fetchall()}
