"""Every model module, imported so that Base.metadata (and Alembic) sees all tables."""

from store.models import audit, calendar, documents, identity, notifications, policy, review  # noqa: F401
from store.models.audit import AuditEvent
from store.models.identity import ApiToken, IdempotencyRecord, Organisation, User

__all__ = ["ApiToken", "AuditEvent", "IdempotencyRecord", "Organisation", "User"]
