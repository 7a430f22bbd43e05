"""Every activity object the worker runs, built around one session factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from activities.audit import AuditActivities
from settings import Settings


def activity_objects(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [
        AuditActivities(session_factory),
    ]


def collect(objects: list[Any]) -> list[Callable]:
    """The bound @activity.defn methods of the given objects."""
    found = []
    for obj in objects:
        for name in dir(type(obj)):
            member = getattr(obj, name)
            if callable(member) and hasattr(member, "__temporal_activity_definition"):
                found.append(member)
    return found
