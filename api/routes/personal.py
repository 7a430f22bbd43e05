"""Personal reductions through HTTP (SPEC §2.5, Art. 15, 22, 33): data sources push behaviour batches
(one COPY per push, then the case `behaviour-batch-{id}` accounts it), residents sign up, bind and read
their account of grams, the operator approves and suspends sources and reads their statistics.

A push does no per-record database work: the body is parsed with orjson (NDJSON line by line),
validated in one pass (domain/personal.py), written with one COPY in the request's transaction, and
answered 202 with the batch id once the accounting case is started.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from api.case_actions import Actions
from api.deps import CurrentUser, DbSession, SettingsDep, ensure_may_act
from api.errors import Problem, not_found, refusal_problem, unprocessable
from api.schemas.personal import (
    BatchAccepted,
    BatchOut,
    BindingCodeIn,
    BindingCodeOut,
    BindingIn,
    BindingOut,
    DataSourceIn,
    DataSourceOut,
    PersonalAccountOut,
    RecordOut,
    ResidentIn,
    ResidentOut,
    ResidentSignIn,
    StatementLine,
    StatisticsLine,
    StatusIn,
)
from domain import personal as rules
from domain.contracts import personal as c
from domain.roles import AUTHORITIES, OrganisationType, Role
from domain.rules import Refusal
from store import cases, identity, passwords, personal, web_auth
from store.models.identity import Organisation, User
from store.models.personal import BehaviourBatch, DataSource, PersonalAccount, PersonalBinding

router = APIRouter(tags=["personal"])

_MEMBER_TYPES = {OrganisationType.ENTERPRISE, OrganisationType.SOCIAL_ORGANISATION,
                 OrganisationType.PUBLIC_INSTITUTION}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _role(user: User, *roles: Role) -> None:
    if Role(user.role) not in roles:
        names = ", ".join(sorted(r.value for r in roles))
        raise Problem(403, "Forbidden", f"无权操作 / role '{user.role}' may not do this (allowed: {names})",
                      field="role", rule="actor")


def _pushing_source(session: Session, user: User) -> DataSource:
    _role(user, Role.DATA_SOURCE)
    try:
        return personal.check_may_push(user, personal.source_of(session, user.organisation_id))
    except Refusal as exc:
        raise refusal_problem(exc) from None


# --- pushes --------------------------------------------------------------------------------------

def _too_large(what: str) -> Problem:
    return Problem(413, "Payload too large",
                   f"一次最多 {rules.MAX_RECORDS} 条记录或 5 MB / at most {rules.MAX_RECORDS} records or 5 MB per push "
                   f"({what})", field="records", rule="batch_size")


def _parse(body: bytes, content_type: str) -> list[Any]:
    if content_type in ("application/x-ndjson", "application/jsonl", "application/json-seq"):
        records: list[Any] = []
        for line in body.split(b"\n"):
            if line.strip():
                try:
                    records.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    records.append(None)  # that record ends `invalid`
                if len(records) > rules.MAX_RECORDS:
                    raise _too_large("records")
        return records
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise unprocessable("body", "json", "请求体不是 JSON / the body is not JSON (or send application/x-ndjson)") from None
    records = data.get("records") if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise unprocessable("records", "required", "须为记录列表 / a list of records: {\"records\": [...]}")
    return records


_PUSH_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "required": ["records"], "properties": {"records": {
        "type": "array", "maxItems": rules.MAX_RECORDS, "items": {"type": "object", "properties": {
            "source_event_id": {"type": "string"}, "subject_ref": {"type": "string"},
            "behaviour": {"type": "string"}, "quantity": {"type": "number"}, "unit": {"type": "string"},
            "occurred_at": {"type": "string", "format": "date-time"}}}}}}},
    "application/x-ndjson": {"schema": {"type": "string", "description": "one record (JSON object) per line"}}}}}


@router.post("/behaviour-batches", status_code=202, response_model=BatchAccepted, openapi_extra=_PUSH_BODY,
             summary="Push a batch of behaviour records (data source); 202 with the batch id",
             responses={413: {"description": "more than 10,000 records or 5 MB"},
                        403: {"description": "not an approved data source, or suspended (Art. 33)"}})
async def push(request: Request, session: DbSession, user: CurrentUser, actions: Actions, settings: SettingsDep,
               response: Response,
               idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None):
    _role(user, Role.DATA_SOURCE)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > rules.MAX_BYTES:
        raise _too_large("bytes")
    body = await request.body()
    if len(body) > rules.MAX_BYTES:
        raise _too_large("bytes")
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    records = _parse(body, content_type)
    if len(records) > rules.MAX_RECORDS:
        raise _too_large("records")
    if not records:
        raise unprocessable("records", "required", "批次至少一条记录 / a batch has at least one record")
    now = _now()

    def write() -> tuple[BehaviourBatch, c.BatchStart, bool]:
        source = _pushing_source(session, user)
        key = personal.subject_key(session)
        units = personal.behaviour_units(session)
        batch, new = personal.open_batch(session, source.id, idempotency_key, now, len(records))
        if new:
            prepared = rules.prepare_batch(records, batch_id=batch.id, source_id=source.id, received_at=now,
                                           key=key, units=units)
            # Partitions are made in a transaction of their own (the parent's lock is not held by the push).
            with request.app.state.session_factory() as other, other.begin():
                personal.ensure_partitions(other, prepared.months)
            if prepared.invalid:
                batch.counts = {rules.Outcome.INVALID.value: prepared.invalid}
            personal.copy_records(session, prepared.rows)
        start = c.BatchStart(case_id=c.case_id(batch.id), deployment_id=cases.deployment_id(session),
                             batch_id=batch.id, source_organisation_id=source.organisation_id,
                             records=batch.record_count, received_at=batch.received_at)
        session.commit()
        return batch, start, new

    batch, start, new = await run_in_threadpool(write)
    # Also on a replayed push: a start lost after the commit is made good.
    await actions.start(c.BATCH_WORKFLOW, start, id=start.case_id, task_queue=settings.task_queue)
    if not new:
        response.headers["Idempotent-Replayed"] = "true"
    return {"batch_id": batch.id, "case_id": start.case_id, "records": batch.record_count, "status": batch.status}


def _visible_batch(session: Session, user: User, batch_id: int) -> BehaviourBatch:
    batch = session.get(BehaviourBatch, batch_id)
    if batch is None:
        raise not_found(f"batch {batch_id}")
    if Role(user.role) in AUTHORITIES:
        return batch
    source = personal.source_of(session, user.organisation_id) if user.role == Role.DATA_SOURCE.value else None
    if source is None or source.id != batch.source_id:
        raise not_found(f"batch {batch_id}")
    return batch


@router.get("/behaviour-batches/{batch_id}", response_model=BatchOut,
            summary="A batch's status and its records per outcome (its source, the authorities)")
def get_batch(batch_id: int, session: DbSession, user: CurrentUser):
    _role(user, Role.DATA_SOURCE, *AUTHORITIES)
    batch = _visible_batch(session, user, batch_id)
    counts = personal.batch_counts(session, batch.id)
    status = batch.status
    if status == "accounted" and counts.get(rules.Outcome.UNBOUND.value):
        status = "awaiting_binding"
    total = session.execute(text("SELECT coalesce(sum(grams), 0) FROM behaviour_records WHERE batch_id = :b"),
                            {"b": batch.id}).scalar_one()
    return {"batch_id": batch.id, "case_id": c.case_id(batch.id), "records": batch.record_count, "status": status,
            "received_at": batch.received_at, "accounted_at": batch.accounted_at, "counts": counts,
            "grams": int(total)}


@router.get("/behaviour-batches/{batch_id}/records", response_model=list[RecordOut],
            summary="A page of the batch's records with their outcomes (its source only)")
def get_batch_records(batch_id: int, session: DbSession, user: CurrentUser,
                      outcome: Annotated[str | None, Query(max_length=40)] = None,
                      after: Annotated[int, Query(ge=0, le=2**31 - 1, description="last line_no seen")] = 0,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    # The operator sees statistics, not records (SPEC §2.5).
    _role(user, Role.DATA_SOURCE)
    if outcome is not None and outcome not in {o.value for o in rules.Outcome}:
        raise unprocessable("outcome", "one_of", f"结果类型无效 / outcome is one of {', '.join(o.value for o in rules.Outcome)}")
    batch = _visible_batch(session, user, batch_id)
    rows = personal.batch_records(session, batch.id, outcome=outcome, after=after, limit=limit)
    for r in rows:
        q = r.pop("quantity_milli")
        r["quantity"] = f"{q // 1000}.{q % 1000:03d}" if q is not None else None
    return rows


@router.post("/binding-codes", status_code=201, response_model=BindingCodeOut,
             summary="Issue a one-time binding code for one of the source's users (data source)")
def issue_binding_code(body: BindingCodeIn, session: DbSession, user: CurrentUser):
    source = _pushing_source(session, user)
    problem = rules.check_subject_ref(body.subject_ref)
    if problem is not None:
        raise unprocessable("subject_ref", problem[0], problem[1])
    subject = rules.subject_hash(personal.subject_key(session), body.subject_ref)
    code, expires = personal.issue_binding_code(session, source, subject, _now())
    session.commit()
    return {"code": code, "expires_at": expires}


# --- residents ------------------------------------------------------------------------------------

@router.post("/residents", status_code=201, response_model=ResidentOut,
             summary="Sign up as a resident (self-service): an individual with a personal account TPH-P-…")
def sign_up(body: ResidentIn, session: DbSession, settings: SettingsDep):
    problem = passwords.password_problem(body.password)
    if problem is not None:
        raise unprocessable("password", "password_policy", problem)
    if not body.name.strip():
        raise unprocessable("name", "required", "a name is required / 姓名必填")
    if session.scalar(select(User.id).where(User.email.ilike(body.email.strip()))) is not None:
        raise Problem(409, "Conflict", "该邮箱已注册 / this e-mail is already registered", field="email", rule="unique")
    try:
        user = identity.create_user(session, name=body.name.strip(), role=Role.INDIVIDUAL, organisation=None,
                                    email=body.email.strip())
        user.password_hash = passwords.hash_password(body.password)
        account = personal.ensure_account(session, user, _now())
        token, secret = identity.issue_token(session, user, ttl_days=settings.token_ttl_days, label="resident")
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Problem(409, "Conflict", "该邮箱已注册 / this e-mail is already registered", field="email",
                      rule="unique") from None
    return {"user_id": user.id, "account_number": account.account_number, "token": secret,
            "expires_at": token.expires_at}


@router.post("/residents/tokens", status_code=201, response_model=ResidentOut,
             summary="Sign in as a resident with e-mail and password: a bearer token")
def resident_sign_in(body: ResidentSignIn, session: DbSession, settings: SettingsDep):
    result = web_auth.sign_in(session, body.email, body.password)
    session.commit()
    if result.user is None or result.user.role != Role.INDIVIDUAL.value:
        # 422, not 401: this is the sign-in itself, not a request lacking a token.
        raise unprocessable("password", "bad_credentials", "邮箱或密码错误 / wrong e-mail or password")
    account = personal.ensure_account(session, result.user, _now())
    token, secret = identity.issue_token(session, result.user, ttl_days=settings.token_ttl_days, label="resident")
    session.commit()
    return {"user_id": result.user.id, "account_number": account.account_number, "token": secret,
            "expires_at": token.expires_at}


def _my_account(session: Session, user: User) -> PersonalAccount:
    _role(user, Role.INDIVIDUAL)
    ensure_may_act(user)
    account = personal.ensure_account(session, user, _now())
    session.commit()
    return account


@router.get("/personal-account", response_model=PersonalAccountOut, summary="The resident's balance in grams")
def my_personal_account(session: DbSession, user: CurrentUser):
    a = _my_account(session, user)
    return {"account_number": a.account_number, "balance_g": personal.balance(session, a.id),
            "created_at": a.created_at}


@router.get("/personal-account/statement", response_model=list[StatementLine],
            summary="The resident's credits by Asia/Shanghai day and behaviour")
def my_statement(session: DbSession, user: CurrentUser,
                 since: Annotated[date | None, Query(alias="from")] = None,
                 until: Annotated[date | None, Query(alias="to")] = None):
    a = _my_account(session, user)
    until = until or rules.local_day(_now())
    since = since or until - timedelta(days=90)
    if since > until:
        raise unprocessable("from", "order", "起始日期晚于结束日期 / from must not be after to")
    return [{"day": r["day"], "behaviour": r["behaviour"], "grams": r["grams"]}
            for r in personal.statement(session, a.id, since, until)]


def _binding_out(session: Session, b: PersonalBinding, credited: dict[str, int] | None = None) -> dict[str, Any]:
    source = session.get(DataSource, b.source_id)
    org = session.get(Organisation, source.organisation_id) if source else None
    credited = credited or {}
    return {"id": b.id, "source_id": b.source_id, "source_name": org.name if org else "", "bound_at": b.bound_at,
            "unbound_at": b.unbound_at, "credited_records": credited.get("credited", 0) + credited.get("capped", 0),
            "credited_grams": credited.get("grams", 0)}


@router.get("/personal-account/bindings", response_model=list[BindingOut], summary="The resident's bindings")
def my_bindings(session: DbSession, user: CurrentUser):
    a = _my_account(session, user)
    return [_binding_out(session, b) for b in personal.bindings(session, a.id)]


@router.post("/personal-account/bindings", status_code=201, response_model=BindingOut,
             summary="Bind a data source's user with its one-time code (consent); waiting records are credited")
def bind(body: BindingIn, session: DbSession, user: CurrentUser):
    a = _my_account(session, user)
    try:
        for attempt in range(3):
            try:
                b, credited = personal.bind(session, a, body.code, _now())
                session.commit()
                break
            except OperationalError as exc:
                # An accounting pass updates day rows unlocked first, in no set order: a binding crediting the
                # same day rows can deadlock with it. PostgreSQL cancels one side; ours is simply done again.
                session.rollback()
                if getattr(exc.orig, "pgcode", None) != "40P01" or attempt == 2:
                    raise
                a = _my_account(session, user)
    except Refusal as exc:
        session.rollback()
        raise refusal_problem(exc) from None
    except IntegrityError:  # a concurrent binding of the same subject won
        session.rollback()
        raise Problem(409, "Conflict", "该用户已绑定 / already bound", field="code", rule="art22.already_bound") from None
    return _binding_out(session, b, credited)


@router.delete("/personal-account/bindings/{binding_id}", response_model=BindingOut,
               summary="Unbind: later records of that user are no longer credited")
def unbind(binding_id: int, session: DbSession, user: CurrentUser):
    a = _my_account(session, user)
    try:
        b = personal.unbind(session, a, binding_id, _now())
    except Refusal:
        raise not_found(f"binding {binding_id}") from None
    session.commit()
    return _binding_out(session, b)


# --- the operator ------------------------------------------------------------------------------------

def _source_out(session: Session, s: DataSource) -> dict[str, Any]:
    org = session.get(Organisation, s.organisation_id)
    return {"id": s.id, "organisation_id": s.organisation_id, "organisation_name": org.name if org else "",
            "status": s.status, "approved_at": s.approved_at, "suspended_at": s.suspended_at,
            "suspended_reason": s.suspended_reason, "behaviours": personal.source_behaviours(session, s.id)}


@router.post("/data-sources", status_code=201, response_model=DataSourceOut,
             summary="Approve an organisation as a data source for behaviour types (operator, Art. 22)")
def approve_source(body: DataSourceIn, session: DbSession, user: CurrentUser):
    _role(user, Role.OPERATOR_ADMIN)
    ensure_may_act(user)
    org = session.get(Organisation, body.organisation_id)
    if org is None:
        raise unprocessable("organisation_id", "not_found", f"机构不存在 / organisation {body.organisation_id} does not exist")
    if OrganisationType(org.org_type) not in _MEMBER_TYPES:
        raise unprocessable("organisation_id", "role_organisation_type",
                            f"该类机构不能作为数据来源 / a {org.org_type} organisation cannot be a data source")
    units = personal.behaviour_units(session)
    for i, code in enumerate(body.behaviours):
        if code not in units:
            raise unprocessable(f"behaviours.{i}", "unknown_behaviour",
                                f"未知行为类型 / '{code[:60]}' is no behaviour of a published personal methodology")
    source = personal.approve_source(session, org.id, sorted(set(body.behaviours)), user, _now())
    session.commit()
    return _source_out(session, source)


@router.get("/data-sources", response_model=list[DataSourceOut], summary="Data sources (authorities)")
def list_sources(session: DbSession, user: CurrentUser):
    _role(user, *AUTHORITIES)
    return [_source_out(session, s) for s in session.scalars(select(DataSource).order_by(DataSource.id))]


def _source(session: Session, source_id: int, *, lock: bool = False) -> DataSource:
    s = session.get(DataSource, source_id, with_for_update=lock)
    if s is None:
        raise not_found(f"data source {source_id}")
    return s


@router.post("/data-sources/{source_id}/suspend", response_model=DataSourceOut,
             summary="Suspend a data source (operator, Art. 33): its pushes are refused")
def suspend_source(source_id: int, body: StatusIn, session: DbSession, user: CurrentUser):
    _role(user, Role.OPERATOR_ADMIN)
    ensure_may_act(user)
    s = _source(session, source_id, lock=True)
    personal.set_source_status(session, s, "suspended", body.reason, user, _now())
    session.commit()
    return _source_out(session, s)


@router.post("/data-sources/{source_id}/reinstate", response_model=DataSourceOut,
             summary="Reinstate a suspended data source (operator)")
def reinstate_source(source_id: int, body: StatusIn, session: DbSession, user: CurrentUser):
    _role(user, Role.OPERATOR_ADMIN)
    ensure_may_act(user)
    s = _source(session, source_id, lock=True)
    personal.set_source_status(session, s, "approved", body.reason, user, _now())
    session.commit()
    return _source_out(session, s)


@router.get("/data-sources/{source_id}/statistics", response_model=list[StatisticsLine],
            summary="A source's records by day (of receipt, Asia/Shanghai) and outcome, with grams; no persons")
def source_statistics(source_id: int, session: DbSession, user: CurrentUser,
                      days: Annotated[int, Query(ge=1, le=366)] = 31):
    _role(user, Role.DATA_SOURCE, *AUTHORITIES)
    s = _source(session, source_id)
    if Role(user.role) not in AUTHORITIES and user.organisation_id != s.organisation_id:
        raise not_found(f"data source {source_id}")
    since = rules.local_day(_now()) - timedelta(days=days - 1)
    return personal.source_statistics(session, s.id, since)
