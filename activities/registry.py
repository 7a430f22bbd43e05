"""Every activity object the worker runs: the shared areas, and each process of domain.processes
(its activities and its facts writers, which the kit's record_case_step calls)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from activities import audit, calendar, documents, notifications, policy
from activities.cases import CaseActivities, CaseStarter
from activities.deployment import DeploymentGuard
from domain.processes import PROCESSES
from settings import Settings

AREAS = [audit, calendar, policy, documents, notifications]


def activity_objects(session_factory: sessionmaker[Session], settings: Settings,
                     guard: DeploymentGuard | None = None, client: Client | None = None,
                     task_queue: str | None = None) -> list[Any]:
    processes = [import_module(f"activities.{p}") for p in PROCESSES]
    writers = {case_type: writer for module in processes
               for case_type, writer in getattr(module, "FACTS_WRITERS", {}).items()}
    starter = [CaseStarter(client, task_queue or settings.task_queue)] if client is not None else []
    return [CaseActivities(session_factory, writers, guard), *starter,
            *(obj for area in [*AREAS, *processes] for obj in area.activities(session_factory, settings))]


def collect(objects: list[Any]) -> list[Callable]:
    """The bound @activity.defn methods of the given objects."""
    found = []
    for obj in objects:
        for name in dir(type(obj)):
            member = getattr(obj, name)
            if callable(member) and hasattr(member, "__temporal_activity_definition"):
                found.append(member)
    return found
