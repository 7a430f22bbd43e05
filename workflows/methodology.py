"""Placeholder: filled in by the methodology work."""

WORKFLOWS: list[type] = []
