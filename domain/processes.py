"""The one list of processes. Each name `p` has `workflows/p.py` (WORKFLOWS), `activities/p.py`
(`activities()` and, when its steps carry facts, FACTS_WRITERS by case type) and
`domain/contracts/p.py`; the worker's registries are built from this list (docs/new-process.md)."""

from __future__ import annotations

PROCESSES: tuple[str, ...] = ("review", "methodology", "scenario", "issuance", "cancellation", "report",
                                 "sanction", "neutrality", "personal")
