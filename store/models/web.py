"""Sign-in of people on the web pages: one-time invitations, browser sessions, failed-attempt throttles.

Only SHA-256 hashes of invitation and session secrets are stored; the secrets live in the link and the
cookie alone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class WebInvitation(Base):
    """A one-time, expiring link that lets a user set a password (first sign-in or reset)."""

    __tablename__ = "web_invitations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]  # a newer invitation of the same user replaces it


class WebSession(Base):
    """A signed-in browser: idle timeout, absolute lifetime, revocation (sign-out, suspension)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(40))


class SignInThrottle(Base):
    """Consecutive failed sign-ins of one user and the lockout they earned (back-off doubles)."""

    __tablename__ = "web_sign_in_throttles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
