"""Activities of the cancellation case: the step record, and the ledger writes (retire with a
certificate, release). Each is idempotent on the cancellation, so a retry after a crash moves the
units once; business refusals (a frozen account) fail the update without retrying."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.contracts.cancellation import (
    CONFIRM_CANCELLATION,
    RECORD_CANCELLATION_STEP,
    RELEASE_CANCELLATION,
    CancellationStep,
    ConfirmRequest,
    ConfirmResult,
    ReleaseRequest,
)
from domain.errors import Refusal
from settings import Settings
from store import audit, cases, ledger, notifications
from store.identity import now_utc
from store.session import transaction

_SHANGHAI = ZoneInfo("Asia/Shanghai")


def _refused(exc: Refusal) -> ApplicationError:
    kind = {403: "forbidden", 404: "not_found", 409: "conflict"}.get(exc.status, "invalid")
    return ApplicationError(exc.message, {"field": exc.field, "rule": exc.rule}, type=kind, non_retryable=True)


class CancellationActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=RECORD_CANCELLATION_STEP)
    def record_cancellation_step(self, step: CancellationStep) -> None:
        with transaction(self.session_factory) as session:
            cases.mirror(session, step.mirror)
            if step.notification is not None:
                notifications.notify(session, step.notification, now=now_utc())
            audit.append(session, **step.audit.model_dump())  # last: it holds the chain lock to commit

    @activity.defn(name=CONFIRM_CANCELLATION)
    def confirm_cancellation(self, r: ConfirmRequest) -> ConfirmResult:
        try:
            with transaction(self.session_factory) as session:
                cert = ledger.confirm_cancellation(session, r.cancellation_id, at=r.at,
                                                   year=r.at.astimezone(_SHANGHAI).year, actor_user_id=r.actor_user_id)
                return ConfirmResult(certificate_number=cert.number, quantity=cert.quantity,
                                     serial_ranges=list(cert.serial_ranges))
        except Refusal as exc:
            raise _refused(exc) from None

    @activity.defn(name=RELEASE_CANCELLATION)
    def release_cancellation(self, r: ReleaseRequest) -> None:
        try:
            with transaction(self.session_factory) as session:
                ledger.release_cancellation(session, r.cancellation_id, status=r.status, reason=r.reason, at=r.at,
                                            actor_user_id=r.actor_user_id)
        except Refusal as exc:
            raise _refused(exc) from None


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [CancellationActivities(session_factory)]
