"""Profile of one batch's accounting, statement by statement (not a test; a tool to see what costs).

    .venv/bin/python -m bench.personal_profile [--batches 3] [--together]

Makes a scratch database with the bench's residents, writes batches of 10,000 records of the bench's mix
directly (no HTTP) and accounts them in this process, printing each statement's wall time."""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import datetime, timezone

import psycopg2
from sqlalchemy import event
from sqlalchemy.engine import make_url

from bench.issuance import _org
from bench.personal import BATCH, _dsn, _setup_residents, make_records
from domain import personal as rules
from domain.roles import OrganisationType, Role
from store import identity
from store import personal
from store.migrate import upgrade
from store.session import make_engine, make_session_factory, normalise_url
from tests.personal_helpers import BEHAVIOURS, publish_personal


def main(batches: int, admin_url: str, together: bool) -> None:
    name = f"tanpuhui_prof_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(_dsn(admin_url))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=2)
    timings: list[tuple[float, str]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        conn.info["t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, params, context, executemany):
        timings.append((time.perf_counter() - conn.info.pop("t0"), " ".join(statement.split())[:110]))

    try:
        upgrade(url)
        sf = make_session_factory(engine)
        publish_personal(sf)
        org = _org(sf, OrganisationType.ENTERPRISE)
        with sf() as s, s.begin():
            actor = identity.create_user(s, name="prof-operator", role=Role.OPERATOR_ADMIN, organisation=None)
            source = personal.approve_source(s, org.id, [b[0] for b in BEHAVIOURS[:2]], actor,
                                             datetime.now(timezone.utc))
            source_id = source.id
        _setup_residents(sf, source_id)
        records = make_records(batches * BATCH)
        for i in range(batches):
            now = datetime.now(timezone.utc)
            with sf() as s, s.begin():
                key, units = personal.subject_key(s), personal.behaviour_units(s)
                batch, _ = personal.open_batch(s, source_id, None, now, BATCH)
                prepared = rules.prepare_batch(records[i * BATCH:(i + 1) * BATCH], batch_id=batch.id,
                                               source_id=source_id, received_at=now, key=key, units=units)
                with sf() as other, other.begin():
                    personal.ensure_partitions(other, prepared.months)
                t = time.perf_counter()
                personal.copy_records(s, prepared.rows)
                print(f"batch {batch.id}: push write {time.perf_counter() - t:.3f} s")
                batch_id = batch.id
            if together and i < batches - 1:
                continue  # push them all, then account them (the first pass takes them together)
            timings.clear()
            t = time.perf_counter()
            with sf() as s, s.begin():
                result = personal.account_batch(s, batch_id, unbound_wait_days=30)
            total = time.perf_counter() - t
            print(f"batch {batch_id}: accounted in {total:.3f} s: {result.counts}")
            for secs, stmt in sorted(timings, reverse=True)[:12]:
                print(f"   {secs:7.3f}  {stmt}")
    finally:
        engine.dispose()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--together", action="store_true", help="push all batches, then account")
    parser.add_argument("--database", default=os.environ.get("TEST_DATABASE_URL",
                                                            "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    main(args.batches, args.database, args.together)
