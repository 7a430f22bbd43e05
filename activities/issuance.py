"""Placeholder: filled in by the projects and issuance work."""

from __future__ import annotations

from typing import Any


def activities(session_factory, settings) -> list[Any]:
    return []
