"""Activities of the cancellation case: the ledger writes (retire with a certificate, release); its
steps are the kit's record_case_step. Each is idempotent on the cancellation, so a retry after a
crash moves the units once; business refusals (a frozen account) fail the action without retrying."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.clock import SHANGHAI
from domain.contracts.cancellation import (
    CONFIRM_CANCELLATION,
    RELEASE_CANCELLATION,
    ConfirmRequest,
    ConfirmResult,
    ReleaseRequest,
)
from domain.rules import Refusal
from settings import Settings
from store import ledger
from store.session import transaction



def _refused(exc: Refusal) -> ApplicationError:
    """The ledger's refusal as the kit's: its kind, the field and rule at fault, no retry."""
    return ApplicationError(exc.message, {"field": exc.field, "rule": exc.rule}, type=exc.kind.value, non_retryable=True)


class CancellationActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=CONFIRM_CANCELLATION)
    def confirm_cancellation(self, r: ConfirmRequest) -> ConfirmResult:
        try:
            with transaction(self.session_factory) as session:
                cert = ledger.confirm_cancellation(session, r.cancellation_id, at=r.at,
                                                   year=r.at.astimezone(SHANGHAI).year, actor_user_id=r.actor_user_id)
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
