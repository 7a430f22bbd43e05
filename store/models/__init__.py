"""Every model module, imported so that Base.metadata (and Alembic) sees all tables."""

from store.models import (  # noqa: F401
    audit,
    calendar,
    cases,
    disclosure,
    documents,
    identity,
    issuance,
    ledger,
    methodology,
    notifications,
    personal,
    policy,
    review,
    scenario,
    supervision,
    web,
)
from store.models.audit import AuditEvent
from store.models.identity import ApiToken, IdempotencyRecord, Organisation, User

__all__ = ["ApiToken", "AuditEvent", "IdempotencyRecord", "Organisation", "User"]
