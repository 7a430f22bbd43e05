"""Every workflow class the worker runs."""

from __future__ import annotations

WORKFLOWS: list[type] = []
