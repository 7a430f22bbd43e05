"""Placeholder: filled in by the review work."""

WORKFLOWS: list[type] = []
