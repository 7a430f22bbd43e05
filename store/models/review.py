"""Placeholder: filled in by the review work."""
