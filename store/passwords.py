"""Passwords of people who sign in (residents, staff on the web pages): Argon2id via argon2-cffi.

Only the encoded hash is stored (`users.password_hash`); parameters travel inside it, so a stronger
default later re-hashes a password at its next successful sign-in (`needs_rehash`).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id, the library's RFC 9106 low-memory profile

MIN_LENGTH = 10
MAX_LENGTH = 256  # longer inputs only cost hashing time


def password_problem(password: str) -> str | None:
    """Why a new password is refused (zh-CN / English), or None."""
    if len(password) < MIN_LENGTH:
        return f"密码至少 {MIN_LENGTH} 个字符 / a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"密码最多 {MAX_LENGTH} 个字符 / a password has at most {MAX_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash or len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
