"""Placeholder: filled in by the documents work."""
