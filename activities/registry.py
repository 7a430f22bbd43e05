"""Every activity object the worker runs: each area module builds its own around the session factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from activities import (
    audit,
    calendar,
    cancellation,
    cases,
    documents,
    issuance,
    methodology,
    notifications,
    policy,
    review,
    scenario,
)
from settings import Settings

AREAS = [audit, cases, calendar, policy, documents, notifications, review, methodology, scenario, issuance,
         cancellation]


def activity_objects(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [obj for area in AREAS for obj in area.activities(session_factory, settings)]


def collect(objects: list[Any]) -> list[Callable]:
    """The bound @activity.defn methods of the given objects."""
    found = []
    for obj in objects:
        for name in dir(type(obj)):
            member = getattr(obj, name)
            if callable(member) and hasattr(member, "__temporal_activity_definition"):
                found.append(member)
    return found
