"""Placeholder: filled in by the notifications work."""
