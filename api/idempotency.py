"""Idempotency-Key for create calls (SPEC §3): a retried create returns the first answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import Problem
from store.models.identity import IdempotencyRecord, User


def _hash(payload: Any) -> str:
    return hashlib.sha256(
        json.dumps(jsonable_encoder(payload), sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def run_once(
    session: Session,
    *,
    user: User,
    scope: str,
    key: str | None,
    payload: Any,
    create: Callable[[], Any],
    status_code: int = 201,
) -> JSONResponse:
    """Run `create` (which writes in `session`) once per (user, scope, key) and commit.

    Without a key the call simply runs. With a key seen before: the stored answer if the payload is
    the same, 422 if it differs (a key names one request, never two).
    """
    if key is not None and not (1 <= len(key) <= 200):
        raise Problem(422, "Unprocessable request", "Idempotency-Key must be 1-200 characters",
                      field="Idempotency-Key", rule="length")
    digest = _hash(payload)
    if key is not None:
        found = session.scalar(select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user.id, IdempotencyRecord.scope == scope, IdempotencyRecord.key == key))
        if found is not None:
            return _replay(found, digest)
    body = jsonable_encoder(create())
    if key is not None:
        session.add(IdempotencyRecord(user_id=user.id, scope=scope, key=key, request_hash=digest,
                                      status_code=status_code, response_body=json.dumps(body)))
    try:
        session.commit()
    except IntegrityError:
        # A concurrent request with the same key won the race: answer as it did.
        session.rollback()
        found = session.get(IdempotencyRecord, (user.id, scope, key)) if key is not None else None
        if found is None:
            raise
        return _replay(found, digest)
    return JSONResponse(body, status_code=status_code)


def _replay(found: IdempotencyRecord, digest: str) -> JSONResponse:
    if found.request_hash != digest:
        raise Problem(422, "Unprocessable request", "Idempotency-Key was already used with a different request",
                      field="Idempotency-Key", rule="reused_with_different_payload")
    return JSONResponse(json.loads(found.response_body), status_code=found.status_code,
                        headers={"Idempotent-Replayed": "true"})
