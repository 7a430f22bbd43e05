"""Placeholder: filled in by the workflows_admin work."""

from fastapi import APIRouter

router = APIRouter()
