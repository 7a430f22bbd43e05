"""Every workflow class the worker runs: each process module (domain.processes) lists its own."""

from __future__ import annotations

from importlib import import_module

from domain.processes import PROCESSES

WORKFLOWS: list[type] = [w for p in PROCESSES for w in import_module(f"workflows.{p}").WORKFLOWS]
