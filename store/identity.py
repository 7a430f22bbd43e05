"""Organisations, users and tokens: the writes both the admin API and the CLI make."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from domain.clock import now_utc  # (also imported from here by code written before domain/clock.py)
from domain.roles import OrganisationStatus, OrganisationType, Role
from store import audit, token_cache
from store.models.identity import ApiToken, Organisation, User

TOKEN_PREFIX = "tph_"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_organisation(
    session: Session,
    *,
    name: str,
    org_type: OrganisationType,
    credit_code: str | None = None,
    webhook_url: str | None = None,
    status: OrganisationStatus = OrganisationStatus.PENDING,
    actor: User | None = None,
) -> Organisation:
    org = Organisation(
        name=name,
        org_type=org_type.value,
        credit_code=credit_code,
        webhook_url=webhook_url,
        webhook_secret=secrets.token_hex(32) if webhook_url else None,
        status=status.value,
    )
    session.add(org)
    session.flush()
    audit.record(
        session,
        action="organisation.created",
        entity_type="organisation",
        entity_id=org.id,
        occurred_at=now_utc(),
        actor_user_id=actor.id if actor else None,
        actor_role=actor.role if actor else "system",
        details={"name": name, "org_type": org_type.value, "status": status.value},
    )
    return org


def set_organisation_status(
    session: Session, org: Organisation, status: OrganisationStatus, *, actor: User | None, reason: str | None = None
) -> Organisation:
    if org.status == status.value:
        return org  # a repeated approval is harmless
    previous = org.status
    org.status = status.value
    token_cache.changed(session)  # its users' rights change: cached callers go at commit
    org.status_reason = reason
    session.flush()
    if status in (OrganisationStatus.SUSPENDED, OrganisationStatus.TERMINATED):
        from store.web_auth import revoke_sessions_of_organisation  # web_auth imports this module

        revoke_sessions_of_organisation(session, org.id, reason=f"organisation_{status.value}")
    audit.record(
        session,
        action=f"organisation.{status.value}",
        entity_type="organisation",
        entity_id=org.id,
        occurred_at=now_utc(),
        actor_user_id=actor.id if actor else None,
        actor_role=actor.role if actor else "system",
        details={"from": previous, "to": status.value, "reason": reason},
    )
    return org


def create_user(
    session: Session,
    *,
    name: str,
    role: Role,
    organisation: Organisation | None,
    email: str | None = None,
    actor: User | None = None,
) -> User:
    user = User(name=name, role=role.value, organisation_id=organisation.id if organisation else None, email=email)
    session.add(user)
    session.flush()
    audit.record(
        session,
        action="user.created",
        entity_type="user",
        entity_id=user.id,
        occurred_at=now_utc(),
        actor_user_id=actor.id if actor else None,
        actor_role=actor.role if actor else "system",
        details={"role": role.value, "organisation_id": user.organisation_id},
    )
    return user


def issue_token(
    session: Session, user: User, *, ttl_days: int, label: str | None = None, actor: User | None = None
) -> tuple[ApiToken, str]:
    """Return the stored token row and the secret, which is never stored and never shown again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id, token_hash=hash_token(secret), label=label, expires_at=now_utc() + timedelta(days=ttl_days)
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        action="token.issued",
        entity_type="user",
        entity_id=user.id,
        occurred_at=now_utc(),
        actor_user_id=actor.id if actor else None,
        actor_role=actor.role if actor else "system",
        details={"token_id": token.id, "expires_at": token.expires_at.isoformat()},
    )
    return token, secret


def set_user_active(session: Session, user: User, active: bool, *, actor: User, reason: str | None) -> User:
    """Deactivate or reactivate a user (a deactivated user's tokens stop working); a repeat changes nothing."""
    if user.active == active:
        return user
    user.active = active
    token_cache.changed(session)
    session.flush()
    audit.record(
        session,
        action="user.reactivated" if active else "user.deactivated",
        entity_type="user",
        entity_id=user.id,
        occurred_at=now_utc(),
        actor_user_id=actor.id,
        actor_role=actor.role,
        details={"reason": reason},
    )
    return user


def revoke_token(session: Session, token: ApiToken, *, actor: User) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = now_utc()
        token_cache.changed(session)
        session.flush()
        audit.record(
            session,
            action="token.revoked",
            entity_type="user",
            entity_id=token.user_id,
            occurred_at=now_utc(),
            actor_user_id=actor.id,
            actor_role=actor.role,
            details={"token_id": token.id},
        )
    return token


def authenticate(session: Session, secret: str) -> User | None:
    """The user behind a live token, or None (unknown, revoked, expired, or user deactivated)."""
    return authenticate_touching(session, secret)[0]


def authenticate_touching(session: Session, secret: str) -> tuple[User | None, bool]:
    """`authenticate`, also saying whether the token's last use was written (the caller commits it)."""
    user, touched, _ = authenticate_until(session, secret)
    return user, touched


TOUCH_EVERY = timedelta(minutes=1)


def authenticate_until(session: Session, secret: str) -> tuple[User | None, bool, datetime | None]:
    """`authenticate_touching`, also saying until when the answer may be reused without asking the database
    (store/token_cache.py): the next touch is due or the token expires, whichever is first."""
    if not secret.startswith(TOKEN_PREFIX):
        return None, False, None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    now = now_utc()
    if token is None or token.revoked_at is not None or token.expires_at <= now or not token.user.active:
        return None, False, None
    # Touch at most once a minute so authentication is not a write on every request.
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
        return token.user, True, min(now + TOUCH_EVERY, token.expires_at)
    return token.user, False, min(token.last_used_at + TOUCH_EVERY, token.expires_at)
