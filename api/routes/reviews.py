"""Placeholder: filled in by the reviews work."""

from fastapi import APIRouter

router = APIRouter()
