"""Sealing personal data at rest (Art. 34: the reporter is kept confidential): MultiFernet
(`cryptography`: AES-128-CBC + HMAC-SHA256, authenticated) under keys derived from SECRET_KEY, the
current one first, then TANPUHUI_OLD_SECRET_KEYS. Rotation: set the new SECRET_KEY, move the old one
into TANPUHUI_OLD_SECRET_KEYS, run `rotate` (every sealed value re-sealed under the new key), then drop
the old key."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from settings import Settings


def _fernet(secret: str) -> Fernet:
    # A key of its own for this purpose (the secret also keys other hashes): SHA-256 of a labelled secret.
    digest = hashlib.sha256(f"tanpuhui/reporter-seal/v1:{secret}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def keyring(settings: Settings) -> MultiFernet:
    olds = [k.strip() for k in settings.old_secret_keys.get_secret_value().split(",") if k.strip()]
    return MultiFernet([_fernet(settings.secret_key.get_secret_value()), *(_fernet(k) for k in olds)])


def seal(settings: Settings, value: dict[str, Any]) -> str:
    return keyring(settings).encrypt(json.dumps(value, ensure_ascii=False).encode()).decode()


def unseal(settings: Settings, token: str) -> dict[str, Any]:
    return json.loads(keyring(settings).decrypt(token.encode()))


def rotate(session: Session, settings: Settings) -> int:
    """Re-seal every sealed reporter under the current key (in the caller's transaction)."""
    from store.models.supervision import Report

    ring = keyring(settings)
    count = 0
    for report in session.scalars(select(Report).where(Report.reporter_sealed.is_not(None)).with_for_update()):
        report.reporter_sealed = ring.rotate(report.reporter_sealed.encode()).decode()  # type: ignore[union-attr]
        count += 1
    return count
