"""Placeholder: filled in by the projects and issuance work."""

WORKFLOWS: list[type] = []
