"""Placeholder: filled in by the calendar work."""

from fastapi import APIRouter

router = APIRouter()
