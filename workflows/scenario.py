"""Placeholder: filled in by the scenario work."""

WORKFLOWS: list[type] = []
