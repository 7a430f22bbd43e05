"""Sign-in of people on the web pages: invitations, password sign-in with lockout, browser sessions.

People (bureau, operator, expert, applicant, verifier, individual) sign in with a password they set
through a one-time invitation link an authority creates; systems keep bearer tokens (store/identity.py).
Secrets (invitation links, session cookies) are random, shown once, and stored only as SHA-256 hashes.

A session is live while its user is active and its organisation (if any) is active: every lookup
checks that, and suspending or terminating an organisation revokes its users' sessions outright
(`revoke_sessions_of_organisation`), so reinstating it does not bring an old cookie back (Art. 33).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from domain.clock import now_utc
from domain.roles import OrganisationStatus
from store import audit, passwords
from store.models.identity import User
from store.models.web import SignInThrottle, WebInvitation, WebSession

INVITATION_PREFIX = "inv_"
SESSION_PREFIX = "tps_"

# Lockout with back-off: this many failures in a row are free; then each further failure locks the
# account for 1, 2, 4 … minutes, at most an hour. A success clears the count.
FREE_FAILURES = 5
MAX_LOCK = timedelta(hours=1)
# Touch a session's last_seen_at at most this often, so reading a page is not a write every time.
TOUCH_EVERY = timedelta(minutes=1)

# A real Argon2id hash verified when the e-mail is unknown, so timing does not tell which e-mails exist.
_DUMMY_HASH = passwords.hash_password("not-a-real-password-" + secrets.token_hex(8))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _record(session: Session, action: str, user: User, actor: User | None = None, **details) -> None:
    audit.record(session, action=action, entity_type="user", entity_id=user.id, occurred_at=now_utc(),
                 actor_user_id=actor.id if actor else user.id, actor_role=(actor or user).role, details=details)


def may_sign_in(user: User) -> str | None:
    """Why this user may not sign in now (a rule code), or None."""
    if not user.active:
        return "user_inactive"
    org = user.organisation
    if org is not None and org.status != OrganisationStatus.ACTIVE.value:
        return f"organisation_{org.status}"
    return None


# --- invitations ------------------------------------------------------------------------------------

def invitation_refusal(user: User) -> tuple[str, str, str] | None:
    """Why `user` cannot be invited to set a password, as (field, rule, message), or None. Shared by the
    API, the authorities' user page and `tanpuhui users invite`."""
    from domain.roles import Role

    if not user.email:
        return "email", "required", "a person signs in with an e-mail; the user has none"
    if Role(user.role) in (Role.DATA_SOURCE, Role.EXCHANGE):
        return "role", "person", f"a {user.role} is a system: it uses bearer tokens, not a password"
    if not user.active:
        return "user", "active", "the user is deactivated; reactivate it first"
    return None


def create_invitation(session: Session, user: User, *, ttl_hours: int, actor: User | None) -> tuple[WebInvitation, str]:
    """A one-time link secret for `user` (shown once); earlier unused invitations of the user stop working."""
    now = now_utc()
    session.execute(update(WebInvitation).where(
        WebInvitation.user_id == user.id, WebInvitation.used_at.is_(None), WebInvitation.revoked_at.is_(None))
        .values(revoked_at=now))
    secret = INVITATION_PREFIX + secrets.token_urlsafe(32)
    row = WebInvitation(user_id=user.id, token_hash=_digest(secret), created_by_user_id=actor.id if actor else None,
                        expires_at=now + timedelta(hours=ttl_hours))
    session.add(row)
    session.flush()
    _record(session, "user.invited", user, actor, invitation_id=row.id, expires_at=row.expires_at.isoformat())
    return row, secret


def open_invitation(session: Session, secret: str) -> WebInvitation | None:
    """The invitation behind a link if it can still be used (unused, unrevoked, unexpired)."""
    if not secret.startswith(INVITATION_PREFIX) or len(secret) > 200:
        return None
    row = session.scalar(select(WebInvitation).where(WebInvitation.token_hash == _digest(secret)))
    if row is None or row.used_at is not None or row.revoked_at is not None or row.expires_at <= now_utc():
        return None
    return row


class InvitationRefused(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def accept_invitation(session: Session, secret: str, password: str) -> User:
    """Set the password through an invitation; the link is spent atomically (a second use is refused)."""
    problem = passwords.password_problem(password)
    if problem is not None:
        raise InvitationRefused("password_policy", problem)
    now = now_utc()
    # One statement spends the link: of two concurrent uses exactly one gets the row back.
    user_id = session.scalar(
        update(WebInvitation)
        .where(WebInvitation.token_hash == _digest(secret), WebInvitation.used_at.is_(None),
               WebInvitation.revoked_at.is_(None), WebInvitation.expires_at > now)
        .values(used_at=now).returning(WebInvitation.user_id))
    if user_id is None:
        raise InvitationRefused("invitation_invalid", "the invitation link is unknown, used or expired")
    user = session.get(User, user_id)
    assert user is not None
    why = may_sign_in(user)
    if why is not None:
        raise InvitationRefused(why, "this account cannot sign in now")
    user.password_hash = passwords.hash_password(password)
    session.execute(update(SignInThrottle).where(SignInThrottle.user_id == user.id)
                    .values(failures=0, locked_until=None))
    revoke_sessions_of_user(session, user.id, reason="password_set")
    _record(session, "user.password_set", user)
    return user


# --- sign-in ----------------------------------------------------------------------------------------

@dataclass
class SignInResult:
    user: User | None = None
    locked_until: datetime | None = None  # set when refused because of the lockout
    refused: str | None = None  # rule: bad_credentials, locked, user_inactive, organisation_suspended …


def _lock_for(failures: int) -> timedelta | None:
    if failures < FREE_FAILURES:
        return None
    return min(timedelta(minutes=2 ** (failures - FREE_FAILURES)), MAX_LOCK)


def sign_in(session: Session, email: str, password: str) -> SignInResult:
    """Check an e-mail and password, counting failures per user (row-locked, so 32 parallel guesses
    count as 32). The caller commits either way: a failure's count must be kept."""
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()[:320])) if email else None
    if user is None:
        passwords.verify_password(_DUMMY_HASH, password)
        return SignInResult(refused="bad_credentials")
    throttle = session.get(SignInThrottle, user.id, with_for_update=True)
    if throttle is None:
        throttle = SignInThrottle(user_id=user.id, failures=0)
        session.add(throttle)
        session.flush()
        throttle = session.get(SignInThrottle, user.id, with_for_update=True)
    now = now_utc()
    if throttle.locked_until is not None and throttle.locked_until > now:
        return SignInResult(refused="locked", locked_until=throttle.locked_until)
    if not passwords.verify_password(user.password_hash, password):
        throttle.failures += 1
        throttle.last_failure_at = now
        lock = _lock_for(throttle.failures)
        throttle.locked_until = now + lock if lock else None
        if throttle.failures == FREE_FAILURES:
            _record(session, "user.sign_in_locked", user, failures=throttle.failures)
        return SignInResult(refused="bad_credentials", locked_until=throttle.locked_until)
    why = may_sign_in(user)
    if why is not None:
        return SignInResult(refused=why)
    throttle.failures = 0
    throttle.locked_until = None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return SignInResult(user=user)


# --- sessions ---------------------------------------------------------------------------------------

def start_session(session: Session, user: User, *, max_hours: int) -> str:
    """A new session for a signed-in user; returns the cookie secret (never stored)."""
    now = now_utc()
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    session.add(WebSession(user_id=user.id, token_hash=_digest(secret), last_seen_at=now,
                           expires_at=now + timedelta(hours=max_hours)))
    _record(session, "user.signed_in", user)
    return secret


def session_hash(secret: str) -> str:
    return _digest(secret)


def live_session(session: Session, secret: str | None, *, idle_minutes: int) -> tuple[WebSession, User] | None:
    """The session and user behind a cookie, or None: unknown, revoked, idle too long, past its
    lifetime, user deactivated or organisation no longer active (then the session is revoked)."""
    if not secret or not secret.startswith(SESSION_PREFIX) or len(secret) > 200:
        return None
    row = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(secret)))
    now = now_utc()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.last_seen_at + timedelta(minutes=idle_minutes) <= now:
        return None
    user = session.get(User, row.user_id)
    assert user is not None
    why = may_sign_in(user)
    if why is not None:
        row.revoked_at, row.revoked_reason = now, why
        session.commit()
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        session.execute(update(WebSession).where(WebSession.id == row.id).values(last_seen_at=now))
        session.commit()
    return row, user


def end_session(session: Session, secret: str | None) -> None:
    if not secret:
        return
    row = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(secret)))
    if row is not None and row.revoked_at is None:
        row.revoked_at, row.revoked_reason = now_utc(), "signed_out"
        user = session.get(User, row.user_id)
        assert user is not None
        _record(session, "user.signed_out", user)


def revoke_sessions_of_user(session: Session, user_id: int, *, reason: str) -> None:
    session.execute(update(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
                    .values(revoked_at=now_utc(), revoked_reason=reason))


def revoke_sessions_of_organisation(session: Session, organisation_id: int, *, reason: str) -> int:
    """Revoke every live session of the organisation's users (suspension, termination)."""
    result = session.execute(
        update(WebSession)
        .where(WebSession.revoked_at.is_(None),
               WebSession.user_id.in_(select(User.id).where(User.organisation_id == organisation_id)))
        .values(revoked_at=now_utc(), revoked_reason=reason))
    return result.rowcount or 0
