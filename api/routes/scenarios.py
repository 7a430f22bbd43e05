"""Placeholder: filled in by the scenario work."""

from fastapi import APIRouter

router = APIRouter()
