"""Placeholder: filled in by the methodology work."""
