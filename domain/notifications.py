"""Webhook rules: how a delivery is signed and when a failed one is tried again."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

SIGNATURE_HEADER = "X-Tanpuhui-Signature"
TIMESTAMP_HEADER = "X-Tanpuhui-Timestamp"
DELIVERY_HEADER = "X-Tanpuhui-Delivery"

MAX_ATTEMPTS = 8
_FIRST_RETRY = timedelta(seconds=30)
_LONGEST_WAIT = timedelta(hours=1)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256 over "<unix timestamp>.<exact body>"; the timestamp lets receivers
    refuse replays of an old delivery."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def retry_delay(attempts: int) -> timedelta:
    """Wait after the given number of failed attempts: 30 s, 1 min, 2 min, … at most an hour."""
    return min(_FIRST_RETRY * (2 ** max(attempts - 1, 0)), _LONGEST_WAIT)
