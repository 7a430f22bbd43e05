"""Personal reductions in PostgreSQL (SPEC §2.5, Art. 15, 22, 33): a push is one COPY of its records; the
accounting of a batch is a handful of set-based statements in one transaction (no per-record round trip).

Accounting a batch (`account_batch`) is a pass under its source's lock (one pass of a source at a time),
which takes the batch and the source's other waiting batches (at most 8) and locks their rows (a second
worker, or a retry after a crash, finds the batch accounted and answers its counts; a crash mid-way rolls
the whole pass back):
1. the factor of the personal methodology version in force at each record's `occurred_at` and the source's
   approval of the behaviour (`unknown_behaviour`, `behaviour_not_approved_for_source`);
2. dedupe: the record claims (source, source_event_id) in `behaviour_event_keys` (INSERT … ON CONFLICT DO
   NOTHING RETURNING, in key order, so two passes sharing events wait for each other but never deadlock;
   the earlier batch and line wins); a record that could not is a `duplicate`;
3. the subject's active binding gives the account; none: `unbound_subject`, kept in `personal_waiting`
   until the policy's `unbound_wait_days` have passed;
4. `_credit`: the daily cap per account, behaviour and Asia/Shanghai day with a running sum (window
   function) over what the day had counted already, grams by floor, each day row written once (updated
   only if unchanged since read, else again with the rows locked). The balance is the sum of the day rows: no
   account row is written.
A binding credits its subject's waiting records through the same `_credit`.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import threading
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.contracts.personal import AccountResult
from domain.personal import BINDING_CODE_TTL, Outcome, month_bounds
from domain.rules import Refusal
from store import audit, ledger
from store.models.identity import User
from store.models.personal import (
    BehaviourBatch,
    BindingCode,
    DataSource,
    DataSourceBehaviour,
    PersonalAccount,
    PersonalBinding,
    PersonalSubjectKey,
)

_KEYS: dict[str, bytes] = {}
_PARTITIONS: dict[str, set[date]] = {}
_PARTITION_LOCK = 0x7A4E_0012
_SOURCE_LOCK = 0x7A4E_0013  # with the source id: pg_try_advisory_xact_lock(int, int)
_QUEUE_SECONDS = 15.0


class BatchQueued(Exception):
    """Another batch of the source is being accounted; retried later (a retryable activity failure)."""
_lock = threading.Lock()


# --- keys, partitions ---------------------------------------------------------------------------------

def subject_key(session: Session) -> bytes:
    """The deployment's key of subject hashes, made once (race-free) and read once per process."""
    url = str(session.get_bind().url)
    key = _KEYS.get(url)
    if key is None:
        session.execute(insert(PersonalSubjectKey).values(id=1, key=secrets.token_bytes(32))
                        .on_conflict_do_nothing(index_elements=[PersonalSubjectKey.id]))
        key = session.scalars(select(PersonalSubjectKey.key).where(PersonalSubjectKey.id == 1)).one()
        _KEYS[url] = key
    return key


def _partition_name(first: date) -> str:
    return f"behaviour_parts.behaviour_records_{first.year:04d}_{first.month:02d}"


def ensure_partitions(session: Session, months: set[date]) -> None:
    """Make the month partitions the records need (in this session's transaction; the caller commits
    before writing records, so the parent's lock is held only briefly, once a month)."""
    url = str(session.get_bind().url)
    known = _PARTITIONS.setdefault(url, set())
    missing = months - known
    if not missing:
        return
    existing = set(session.scalars(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'behaviour_records'::regclass")))
    todo = [m for m in sorted(missing) if _partition_name(m).split(".")[1] not in existing]
    if todo:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PARTITION_LOCK})
        for m in todo:
            start, end = month_bounds(m)
            # fillfactor 80: the accounting's one UPDATE per record stays on its page (HOT, no index write).
            session.execute(text(
                f"CREATE TABLE IF NOT EXISTS {_partition_name(m)} PARTITION OF behaviour_records "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}') WITH (fillfactor = 80)"))
    known.update(missing)


def behaviour_units(session: Session) -> dict[str, str]:
    """Behaviour code → unit, of the personal methodologies' current versions."""
    rows = session.execute(text(
        "SELECT DISTINCT ON (b.code) b.code, b.unit FROM methodology_behaviours b "
        "JOIN methodology_versions v ON v.id = b.version_id JOIN methodologies m ON m.id = v.methodology_id "
        "WHERE m.scope = 'personal' ORDER BY b.code, v.published_at DESC")).all()
    return {code: unit for code, unit in rows}


# --- data sources ---------------------------------------------------------------------------------

def source_of(session: Session, organisation_id: int | None) -> DataSource | None:
    if organisation_id is None:
        return None
    return session.scalar(select(DataSource).where(DataSource.organisation_id == organisation_id))


def check_may_push(user: User, source: DataSource | None) -> DataSource:
    """Art. 22 and 33: an active organisation approved as a data source, not suspended."""
    org = user.organisation
    if org is not None and org.status != "active":
        raise Refusal.of_status(403, "organisation", "art33.organisation_suspended",
                      f"机构已{'暂停' if org.status == 'suspended' else '停用'} / organisation '{org.name}' is "
                      f"{org.status} (Art. 33); its pushes are refused")
    if source is None:
        raise Refusal.of_status(403, "source", "art22.source_not_approved",
                      "未获批准的数据来源 / this organisation is not an approved data source (Art. 22)")
    if source.status == "suspended":
        raise Refusal.of_status(403, "source", "art33.source_suspended",
                      f"数据来源已暂停 / data source suspended (Art. 33): {source.suspended_reason or ''}".strip())
    return source


def approve_source(session: Session, organisation_id: int, codes: list[str], actor: User, now: datetime
                   ) -> DataSource:
    """Approve (idempotent) the organisation as a data source for `codes` (added to those approved)."""
    session.execute(insert(DataSource).values(organisation_id=organisation_id, status="approved", approved_at=now,
                                              approved_by_user_id=actor.id)
                    .on_conflict_do_nothing(index_elements=[DataSource.organisation_id]))
    source = session.scalars(select(DataSource).where(DataSource.organisation_id == organisation_id)
                             .with_for_update()).one()
    if codes:
        session.execute(insert(DataSourceBehaviour).values(
            [{"source_id": source.id, "behaviour_code": c, "approved_at": now} for c in codes])
            .on_conflict_do_nothing())
    audit.record(session, action="data_source.approved", entity_type="data_source", entity_id=source.id,
                 occurred_at=now, actor_user_id=actor.id, actor_role=actor.role,
                 details={"organisation_id": organisation_id, "behaviours": sorted(codes)})
    return source


def set_source_status(session: Session, source: DataSource, status: str, reason: str | None, actor: User,
                      now: datetime) -> DataSource:
    if source.status != status:
        source.status = status
        source.suspended_at = now if status == "suspended" else None
        source.suspended_reason = reason if status == "suspended" else None
        audit.record(session, action=f"data_source.{'suspended' if status == 'suspended' else 'reinstated'}",
                     entity_type="data_source", entity_id=source.id, occurred_at=now, actor_user_id=actor.id,
                     actor_role=actor.role, details={"reason": reason})
    return source


def source_behaviours(session: Session, source_id: int) -> list[str]:
    return list(session.scalars(select(DataSourceBehaviour.behaviour_code)
                                .where(DataSourceBehaviour.source_id == source_id)
                                .order_by(DataSourceBehaviour.behaviour_code)))


# --- a push ----------------------------------------------------------------------------------------

def open_batch(session: Session, source_id: int, request_key: str | None, received_at: datetime,
               records: int) -> tuple[BehaviourBatch, bool]:
    """The batch of this push; with an Idempotency-Key already used by the source, the first batch."""
    if request_key is not None:
        found = session.scalar(select(BehaviourBatch).where(BehaviourBatch.source_id == source_id,
                                                             BehaviourBatch.request_key == request_key))
        if found is not None:
            return found, False
    batch_id = session.execute(
        insert(BehaviourBatch).values(source_id=source_id, request_key=request_key, received_at=received_at,
                                      record_count=records, status="received", counts={})
        .on_conflict_do_nothing(constraint="uq_behaviour_batches_request_key").returning(BehaviourBatch.id)
    ).scalar()
    if batch_id is None:  # a concurrent identical push won
        found = session.scalar(select(BehaviourBatch).where(BehaviourBatch.source_id == source_id,
                                                             BehaviourBatch.request_key == request_key))
        assert found is not None
        return found, False
    batch = session.get(BehaviourBatch, batch_id)
    assert batch is not None
    return batch, True


def copy_records(session: Session, rows: list[str]) -> None:
    """Write the batch's records with one COPY (text format) on the session's connection."""
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(
            "COPY behaviour_records (batch_id, line_no, occurred_at, source_id, source_event_id, subject_hash, "
            "behaviour_code, quantity_milli, outcome, reason) FROM STDIN", io.StringIO("".join(rows)))
    finally:
        cursor.close()


# --- accounting ------------------------------------------------------------------------------------

_FACTORS = """
CREATE TEMP TABLE IF NOT EXISTS fac (code varchar(60), factor_e4 bigint, cap_milli bigint,
                                     valid_from timestamptz, valid_to timestamptz) ON COMMIT DELETE ROWS;
INSERT INTO fac
SELECT b.code, b.factor_e4, b.daily_cap * 1000, v.published_at,
       coalesce(least(v.superseded_at, v.retired_at, m.retired_at), 'infinity')
FROM methodology_behaviours b JOIN methodology_versions v ON v.id = b.version_id
JOIN methodologies m ON m.id = v.methodology_id WHERE m.scope = 'personal';
"""

_CRED = """
CREATE TEMP TABLE IF NOT EXISTS cred (batch_id bigint, line_no int, occurred_at timestamptz, account_id bigint,
    behaviour_code varchar(60), local_day date, quantity_milli bigint, factor_e4 bigint, cap_milli bigint)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS credres (batch_id bigint, line_no int, occurred_at timestamptz, account_id bigint,
    behaviour_code varchar(60), local_day date, quantity_milli bigint, credited_milli bigint, grams bigint,
    was_milli bigint) ON COMMIT DELETE ROWS;
"""


class CreditConflict(Exception):
    """A day row moved (another source's pass, a binding) between reading it and writing it: the crediting
    is rolled back to its savepoint and done again with the day rows locked, so no cap is ever exceeded."""


def _credit(session: Session, *, lock: bool) -> dict[str, int]:
    """Credit the candidates in temp table `cred` (caps, grams, day rows, the records' outcomes); returns
    {credited, capped, grams}.

    The day rows (account, behaviour, day) carry the cap's state and the grams; the balance is their sum
    (no account row is written). Each day row is written once per call:
    - `lock=False` (the accounting, which already holds its source's lock): read the day rows without a
      lock, compute, then UPDATE those that existed *only if unchanged* (`used_milli` as read) and INSERT
      the new ones; a row another transaction changed or inserted meanwhile (another source, a binding)
      makes the counts disagree or the INSERT fail on the key (see `_credit_unlocked_else_locked`).
    - `lock=True` (a binding, an API request that should not fail on a race): insert the missing rows and
      lock them all in key order first, as before."""
    session.execute(text("ANALYZE cred"))
    if lock:
        session.execute(text(
            "INSERT INTO personal_daily_credits (account_id, behaviour_code, local_day, used_milli, grams) "
            "SELECT DISTINCT account_id, behaviour_code, local_day, 0, 0 FROM cred ORDER BY 1, 2, 3 "
            "ON CONFLICT DO NOTHING"))
        session.execute(text(
            "SELECT 1 FROM personal_daily_credits d JOIN (SELECT DISTINCT account_id, behaviour_code, local_day "
            "FROM cred) k USING (account_id, behaviour_code, local_day) "
            "ORDER BY d.account_id, d.behaviour_code, d.local_day FOR UPDATE OF d"))
    # The cap: what the day counted before, then this set in time order; a record gets what is left of the
    # cap. Grams are floored on the day's running total (account, behaviour, day), not per record: a record
    # gets floor(after × factor) − floor(before × factor), so many small records lose no grams to rounding
    # and the day never holds more than the floor of its total (the fraction is credited nowhere).
    session.execute(text("""
        INSERT INTO credres
        SELECT c.batch_id, c.line_no, c.occurred_at, c.account_id, c.behaviour_code, c.local_day, c.quantity_milli,
               x.after - x.before,
               (div(x.after::numeric * c.factor_e4, 10000000) - div(x.before::numeric * c.factor_e4, 10000000))::bigint,
               d.used_milli
        FROM (SELECT *, sum(quantity_milli) OVER (PARTITION BY account_id, behaviour_code, local_day
                                                   ORDER BY occurred_at, batch_id, line_no) AS run FROM cred) c
        LEFT JOIN personal_daily_credits d USING (account_id, behaviour_code, local_day)
        CROSS JOIN LATERAL (SELECT coalesce(d.used_milli, 0) AS used) u
        CROSS JOIN LATERAL (SELECT greatest(u.used, least(c.cap_milli, u.used + c.run - c.quantity_milli)) AS before,
                                   greatest(u.used, least(c.cap_milli, u.used + c.run)) AS after) x
    """))
    session.execute(text(
        "CREATE TEMP TABLE IF NOT EXISTS daysum (account_id bigint, behaviour_code varchar(60), local_day date, "
        "q bigint, g bigint, was bigint) ON COMMIT DELETE ROWS"))
    groups = session.execute(text(
        "INSERT INTO daysum SELECT account_id, behaviour_code, local_day, sum(credited_milli), sum(grams), "
        "max(was_milli) FROM credres GROUP BY 1, 2, 3")).rowcount
    updated = session.execute(text("""
        UPDATE personal_daily_credits d SET used_milli = d.used_milli + s.q, grams = d.grams + s.g
        FROM daysum s
        WHERE (d.account_id, d.behaviour_code, d.local_day) = (s.account_id, s.behaviour_code, s.local_day)
          AND s.was IS NOT NULL AND d.used_milli = s.was
    """)).rowcount
    inserted = session.execute(text(
        "INSERT INTO personal_daily_credits (account_id, behaviour_code, local_day, used_milli, grams) "
        "SELECT account_id, behaviour_code, local_day, q, g FROM daysum WHERE was IS NULL")).rowcount
    if updated + inserted != groups:
        raise CreditConflict(f"{groups - updated - inserted} day rows changed while they were accounted")
    session.execute(text("""
        UPDATE behaviour_records r SET account_id = x.account_id, credited_milli = x.credited_milli, grams = x.grams,
               outcome = CASE WHEN x.credited_milli = x.quantity_milli THEN 'credited' ELSE 'capped' END
        FROM credres x WHERE r.batch_id = x.batch_id AND r.line_no = x.line_no AND r.occurred_at = x.occurred_at
    """))
    row = session.execute(text(
        "SELECT count(*) FILTER (WHERE credited_milli = quantity_milli), "
        "count(*) FILTER (WHERE credited_milli < quantity_milli), coalesce(sum(grams), 0) FROM credres")).one()
    return {"credited": row[0], "capped": row[1], "grams": int(row[2])}


def _credit_unlocked_else_locked(session: Session) -> None:
    """`_credit` without locks first (the common case: nobody else touched the pass's day rows); if a day row
    changed or appeared meanwhile (another source's pass, a binding), or the unordered UPDATE met another
    transaction's locks in a deadlock, roll back to a savepoint and credit again with the day rows locked in
    key order — waiting for the other transaction instead of retrying the whole pass, so sources whose
    residents overlap do not keep failing each other's passes."""
    try:
        with session.begin_nested():
            _credit(session, lock=False)
    except (CreditConflict, IntegrityError) as e:
        if isinstance(e, IntegrityError) and getattr(e.orig, "pgcode", None) != "23505":  # unique_violation
            raise
        _credit(session, lock=True)
    except OperationalError as e:
        if getattr(e.orig, "pgcode", None) != "40P01":  # deadlock_detected
            raise
        _credit(session, lock=True)


def balance(session: Session, account_id: int) -> int:
    """The account's balance in grams: the sum of its day rows (read by the primary key's prefix)."""
    return int(session.execute(text(
        "SELECT coalesce(sum(grams), 0) FROM personal_daily_credits WHERE account_id = :a"),
        {"a": account_id}).scalar_one())


_BATCHES_AT_ONCE = 8  # batches of a source accounted in one transaction, at most (80,000 records)


def _answer(batch: BehaviourBatch) -> AccountResult:
    c = dict(batch.counts)
    return AccountResult(counts={k: v for k, v in c.items() if not k.startswith("_")}, grams=c.get("_grams", 0),
                         waiting=c.get(Outcome.UNBOUND, 0), expires_at=c.get("_expires_at"))


def account_batch(session: Session, batch_id: int, *, unbound_wait_days: int) -> AccountResult:
    """Account a batch once (see the module's docstring); a batch accounted already answers its counts.

    The batch is accounted together with the other batches of its source received and waiting (at most
    `_BATCHES_AT_ONCE`, oldest first), in one transaction: when pushes come faster than the accounting, the
    fixed costs of a pass (temp tables, statistics, the commit) and the day rows shared by the batches are
    paid once for all. Their own activities then find them accounted and answer their counts."""
    batch = session.get(BehaviourBatch, batch_id)
    if batch is None:
        raise LookupError(f"batch {batch_id}")
    if batch.status != "received":
        return _answer(batch)
    source_id = batch.source_id
    # One pass of a source at a time: batches of one source touch mostly the same day rows (the caps), so
    # side by side they would only wait on each other row by row. Queued here, each pass runs at full speed,
    # and other sources' batches go on in parallel. The wait is bounded (well inside the kit's 30 s activity
    # timeout): a batch still queued then fails retryably and Temporal tries it again later, so no worker
    # thread sits on a lock for an attempt the server has already given up. A blocking wait (not polling):
    # the next pass starts the moment the lock is free.
    session.execute(text(f"SET LOCAL lock_timeout = '{int(_QUEUE_SECONDS * 1000)}ms'"))
    try:
        session.execute(text("SELECT pg_advisory_xact_lock(:k, :s)"), {"k": _SOURCE_LOCK, "s": source_id})
    except OperationalError as e:
        if getattr(e.orig, "pgcode", None) == "55P03":  # lock_not_available
            raise BatchQueued(f"batch {batch_id} waits behind another batch of its source") from e
        raise
    session.execute(text("SET LOCAL lock_timeout = DEFAULT"))
    # Under the source's lock, no other pass holds this source's batch rows: lock ours (and those waiting).
    batches = {b.id: b for b in session.scalars(
        select(BehaviourBatch).where(BehaviourBatch.source_id == source_id, BehaviourBatch.status == "received")
        .order_by(BehaviourBatch.id != batch_id, BehaviourBatch.id).limit(_BATCHES_AT_ONCE)
        .with_for_update().execution_options(populate_existing=True))}
    if batch_id not in batches:  # a pass of another batch accounted it while we queued
        session.refresh(batch)
        return _answer(batch)
    ids = sorted(batches)
    p: dict[str, Any] = {"ids": ids, "s": source_id}
    # A pass sorts and hashes up to 80,000 rows (DISTINCT ON, the key order of the claims, the cap's window):
    # in memory, not spilled to disk at the default 4 MB. Its temp tables' statistics need only row counts
    # and rough distinct counts for the join plans: a small sample is enough.
    session.execute(text("SET LOCAL work_mem = '64MB'"))
    session.execute(text("SET LOCAL default_statistics_target = 10"))
    session.execute(text(_FACTORS + _CRED))
    session.execute(text("""
        CREATE TEMP TABLE acc ON COMMIT DROP AS
        SELECT DISTINCT ON (r.batch_id, r.line_no) r.batch_id, r.line_no, r.occurred_at, r.source_event_id,
               r.subject_hash, r.behaviour_code, r.quantity_milli, f.factor_e4, f.cap_milli,
               (CASE WHEN f.code IS NULL THEN 'unknown_behaviour'
                     WHEN a.behaviour_code IS NULL THEN 'behaviour_not_approved_for_source' END)::varchar(40) AS outcome,
               NULL::bigint AS account_id
        FROM behaviour_records r
        LEFT JOIN fac f ON f.code = r.behaviour_code AND r.occurred_at >= f.valid_from AND r.occurred_at < f.valid_to
        LEFT JOIN data_source_behaviours a ON a.source_id = :s AND a.behaviour_code = r.behaviour_code
        WHERE r.batch_id = ANY(:ids) AND r.outcome IS NULL
        ORDER BY r.batch_id, r.line_no, f.valid_from DESC NULLS LAST
    """), p)
    # Temp tables have no statistics until analysed: without them the planner nests loops over 10,000 rows.
    session.execute(text("ANALYZE acc"))
    session.execute(text("""
        UPDATE acc SET account_id = pb.account_id FROM personal_bindings pb
        WHERE acc.outcome IS NULL AND pb.source_id = :s AND pb.subject_hash = acc.subject_hash
          AND pb.unbound_at IS NULL
    """), p)
    # Dedupe: claimed in key order (then batch, line: the earlier record wins), so passes of different
    # sources never deadlock; a record whose claim found the key taken is a duplicate.
    session.execute(text("""
        WITH ins AS (INSERT INTO behaviour_event_keys (source_id, source_event_id, batch_id, line_no)
                     SELECT :s, source_event_id, batch_id, line_no FROM acc WHERE outcome IS NULL
                     ORDER BY source_event_id, batch_id, line_no
                     ON CONFLICT DO NOTHING RETURNING batch_id, line_no)
        UPDATE acc SET outcome = 'duplicate' WHERE outcome IS NULL
          AND NOT EXISTS (SELECT 1 FROM ins WHERE (ins.batch_id, ins.line_no) = (acc.batch_id, acc.line_no))
    """), p)
    session.execute(text("UPDATE acc SET outcome = 'unbound_subject' WHERE outcome IS NULL AND account_id IS NULL"))
    expires = {i: b.received_at + timedelta(days=unbound_wait_days) for i, b in batches.items()}
    session.execute(text(
        "INSERT INTO personal_waiting (batch_id, line_no, occurred_at, source_id, subject_hash, expires_at) "
        "SELECT acc.batch_id, line_no, occurred_at, :s, subject_hash, e.expires_at FROM acc "
        "JOIN unnest(CAST(:ids AS bigint[]), CAST(:ex AS timestamptz[])) AS e (batch_id, expires_at) USING (batch_id) "
        "WHERE outcome = 'unbound_subject'"), {**p, "ex": [expires[i] for i in ids]})
    session.execute(text(
        "INSERT INTO cred SELECT batch_id, line_no, occurred_at, account_id, behaviour_code, "
        "(occurred_at AT TIME ZONE 'Asia/Shanghai')::date, quantity_milli, factor_e4, cap_milli "
        "FROM acc WHERE outcome IS NULL"))
    _credit_unlocked_else_locked(session)
    session.execute(text(
        "UPDATE behaviour_records r SET outcome = x.outcome FROM acc x WHERE r.batch_id = ANY(:ids) "
        "AND (r.batch_id, r.line_no, r.occurred_at) = (x.batch_id, x.line_no, x.occurred_at) "
        "AND x.outcome IS NOT NULL"), p)
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    for b, o, n in session.execute(text(
            "SELECT batch_id, outcome, count(*) FROM acc WHERE outcome IS NOT NULL GROUP BY 1, 2")).all():
        counts[b][o] = n
    grams = {i: 0 for i in ids}
    for b, credited, capped, g in session.execute(text(
            "SELECT batch_id, count(*) FILTER (WHERE credited_milli = quantity_milli), "
            "count(*) FILTER (WHERE credited_milli < quantity_milli), coalesce(sum(grams), 0) "
            "FROM credres GROUP BY 1")).all():
        counts[b].update({k: n for k, n in (("credited", credited), ("capped", capped)) if n})
        grams[b] = int(g)
    now = datetime.now(batch.received_at.tzinfo)
    for i, b in batches.items():
        invalid = int(b.counts.get(Outcome.INVALID, 0))
        if invalid:
            counts[i][Outcome.INVALID.value] = invalid
        waiting = counts[i].get(Outcome.UNBOUND, 0)
        b.status, b.accounted_at = "accounted", now
        b.counts = {**counts[i], "_grams": grams[i], "_expires_at": expires[i].isoformat() if waiting else None}
    session.execute(text("DROP TABLE acc"))
    c = counts[batch_id]
    waiting = c.get(Outcome.UNBOUND, 0)
    return AccountResult(counts=c, grams=grams[batch_id], waiting=waiting,
                         expires_at=expires[batch_id] if waiting else None)


def expire_waiting(session: Session, batch_id: int) -> int:
    """The batch's records still waiting for a binding end `expired` (a binding that locked them first wins)."""
    return session.execute(text("""
        WITH gone AS (DELETE FROM personal_waiting WHERE batch_id = :b RETURNING line_no, occurred_at)
        UPDATE behaviour_records r SET outcome = 'expired' FROM gone
        WHERE r.batch_id = :b AND r.line_no = gone.line_no AND r.occurred_at = gone.occurred_at
          AND r.outcome = 'unbound_subject'
    """), {"b": batch_id}).rowcount


def batch_counts(session: Session, batch_id: int) -> dict[str, int]:
    """Records per outcome now (bindings and expiry move waiting records on after the accounting)."""
    return {o or "pending": n for o, n in session.execute(text(
        "SELECT outcome, count(*) FROM behaviour_records WHERE batch_id = :b GROUP BY outcome"), {"b": batch_id})}


def batch_records(session: Session, batch_id: int, *, outcome: str | None, after: int, limit: int
                  ) -> list[dict[str, Any]]:
    """A page of the batch's records (no subject reference: it is not kept, and never shown)."""
    rows = session.execute(text(
        "SELECT line_no, source_event_id, behaviour_code, quantity_milli, occurred_at, outcome, reason, grams "
        "FROM behaviour_records WHERE batch_id = :b AND line_no > :after "
        "AND (CAST(:o AS varchar) IS NULL OR outcome = :o) ORDER BY line_no LIMIT :n"),
        {"b": batch_id, "after": after, "o": outcome, "n": limit}).mappings().all()
    return [dict(r) for r in rows]


def source_statistics(session: Session, source_id: int, since: date) -> list[dict[str, Any]]:
    """Records by Asia/Shanghai day (of receipt) and outcome, and grams credited; no person appears."""
    rows = session.execute(text("""
        SELECT (b.received_at AT TIME ZONE 'Asia/Shanghai')::date AS day, coalesce(r.outcome, 'pending') AS outcome,
               count(*) AS records, coalesce(sum(r.grams), 0) AS grams
        FROM behaviour_batches b JOIN behaviour_records r ON r.batch_id = b.id
        WHERE b.source_id = :s AND b.received_at >= :since
        GROUP BY 1, 2 ORDER BY 1, 2
    """), {"s": source_id, "since": since}).mappings().all()
    return [{**r, "records": int(r["records"]), "grams": int(r["grams"])} for r in rows]


# --- residents --------------------------------------------------------------------------------------

def ensure_account(session: Session, user: User, now: datetime) -> PersonalAccount:
    session.execute(insert(PersonalAccount).values(
        user_id=user.id, account_number=ledger.personal_account_number(user.id), created_at=now)
        .on_conflict_do_nothing(index_elements=[PersonalAccount.user_id]))
    return session.scalars(select(PersonalAccount).where(PersonalAccount.user_id == user.id)).one()


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def issue_binding_code(session: Session, source: DataSource, subject: bytes, now: datetime) -> tuple[str, datetime]:
    code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10))
    expires = now + BINDING_CODE_TTL
    session.add(BindingCode(source_id=source.id, code_hash=_code_hash(code), subject_hash=subject, issued_at=now,
                            expires_at=expires))
    return code, expires


def bind(session: Session, account: PersonalAccount, code: str, now: datetime) -> tuple[PersonalBinding, dict[str, int]]:
    """Bind with a one-time code (Art. 22: the resident's consent) and credit the subject's waiting records."""
    found = session.scalars(select(BindingCode).where(BindingCode.code_hash == _code_hash(code))
                            .with_for_update()).one_or_none()
    if found is None or (found.used_at is None and found.expires_at <= now):
        raise Refusal.of_status(422, "code", "art22.binding_code", "绑定码无效或已过期 / unknown or expired binding code")
    active = session.scalars(select(PersonalBinding).where(
        PersonalBinding.source_id == found.source_id, PersonalBinding.subject_hash == found.subject_hash,
        PersonalBinding.unbound_at.is_(None)).with_for_update()).one_or_none()
    if found.used_at is not None:
        if active is not None and active.account_id == account.id:
            return active, {"credited": 0, "capped": 0, "grams": 0}  # a retry of this binding
        raise Refusal.of_status(422, "code", "art22.binding_code", "绑定码已使用 / binding code already used")
    if active is not None and active.account_id != account.id:
        raise Refusal.of_status(409, "code", "art22.already_bound",
                      "该用户已绑定另一账户 / this user of the source is bound to another account")
    found.used_at = now
    if active is None:
        active = PersonalBinding(source_id=found.source_id, account_id=account.id, subject_hash=found.subject_hash,
                                 bound_at=now)
        session.add(active)
    session.flush()
    session.execute(text(_FACTORS + _CRED))
    session.execute(text("""
        INSERT INTO cred
        SELECT DISTINCT ON (w.batch_id, w.line_no) w.batch_id, w.line_no, w.occurred_at, :a, r.behaviour_code,
               (w.occurred_at AT TIME ZONE 'Asia/Shanghai')::date, r.quantity_milli, f.factor_e4, f.cap_milli
        FROM personal_waiting w
        JOIN behaviour_records r ON r.batch_id = w.batch_id AND r.line_no = w.line_no AND r.occurred_at = w.occurred_at
        JOIN fac f ON f.code = r.behaviour_code AND r.occurred_at >= f.valid_from AND r.occurred_at < f.valid_to
        WHERE w.source_id = :s AND w.subject_hash = :h AND w.expires_at > :now
        ORDER BY w.batch_id, w.line_no, f.valid_from DESC
    """), {"a": account.id, "s": found.source_id, "h": found.subject_hash, "now": now})
    # Lock the waiting rows (an expiry that came first has deleted them; one that comes later finds none).
    session.execute(text(
        "SELECT 1 FROM personal_waiting w JOIN cred c ON (c.batch_id, c.line_no) = (w.batch_id, w.line_no) "
        "FOR UPDATE OF w"))
    session.execute(text(
        "DELETE FROM cred c WHERE NOT EXISTS (SELECT 1 FROM personal_waiting w "
        "WHERE (w.batch_id, w.line_no) = (c.batch_id, c.line_no))"))
    credited = _credit(session, lock=True)
    session.execute(text(
        "DELETE FROM personal_waiting w USING cred c WHERE (w.batch_id, w.line_no) = (c.batch_id, c.line_no)"))
    audit.record(session, action="personal.bound", entity_type="personal_binding", entity_id=active.id,
                 occurred_at=now, actor_user_id=account.user_id, actor_role="individual",
                 details={"source_id": found.source_id, "credited": credited["credited"] + credited["capped"]})
    return active, credited


def unbind(session: Session, account: PersonalAccount, binding_id: int, now: datetime) -> PersonalBinding:
    b = session.scalars(select(PersonalBinding).where(PersonalBinding.id == binding_id,
                                                      PersonalBinding.account_id == account.id)
                        .with_for_update()).one_or_none()
    if b is None:
        raise Refusal.of_status(404, None, "not_found", f"binding {binding_id}")
    if b.unbound_at is None:
        b.unbound_at = now
        audit.record(session, action="personal.unbound", entity_type="personal_binding", entity_id=b.id,
                     occurred_at=now, actor_user_id=account.user_id, actor_role="individual",
                     details={"source_id": b.source_id})
    return b


def bindings(session: Session, account_id: int) -> list[PersonalBinding]:
    return list(session.scalars(select(PersonalBinding).where(PersonalBinding.account_id == account_id)
                                .order_by(PersonalBinding.id)))


def statement(session: Session, account_id: int, since: date, until: date) -> list[dict[str, Any]]:
    rows = session.execute(text(
        "SELECT local_day AS day, behaviour_code AS behaviour, grams, used_milli FROM personal_daily_credits "
        "WHERE account_id = :a AND local_day BETWEEN :f AND :t ORDER BY local_day, behaviour_code"),
        {"a": account_id, "f": since, "t": until}).mappings().all()
    return [dict(r) for r in rows]
