"""Activities of a behaviour batch's accounting: set-based SQL over the batch in one transaction each
(store/personal.py), idempotent on the batch, so a retry after a crash, or the same task on a second
worker, credits nothing twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.contracts.personal import (
    ACCOUNT_BATCH,
    EXPIRE_WAITING,
    AccountRequest,
    AccountResult,
    ExpireRequest,
    ExpireResult,
)
from settings import Settings
from store import personal
from store.session import transaction


class PersonalActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=ACCOUNT_BATCH)
    def account_batch(self, r: AccountRequest) -> AccountResult:
        with transaction(self.session_factory) as session:
            return personal.account_batch(session, r.batch_id, unbound_wait_days=r.unbound_wait_days)

    @activity.defn(name=EXPIRE_WAITING)
    def expire_waiting(self, r: ExpireRequest) -> ExpireResult:
        with transaction(self.session_factory) as session:
            return ExpireResult(expired=personal.expire_waiting(session, r.batch_id))


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [PersonalActivities(session_factory)]
