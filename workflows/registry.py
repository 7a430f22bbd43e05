"""Every workflow class the worker runs: each process module lists its own."""

from __future__ import annotations

from workflows import cancellation, issuance, methodology, review, scenario

WORKFLOWS: list[type] = [*review.WORKFLOWS, *methodology.WORKFLOWS, *scenario.WORKFLOWS, *issuance.WORKFLOWS,
                         *cancellation.WORKFLOWS]
