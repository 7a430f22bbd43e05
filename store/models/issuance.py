"""Placeholder: filled in by the projects and issuance work."""
