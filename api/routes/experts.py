"""Placeholder: filled in by the experts work."""

from fastapi import APIRouter

router = APIRouter()
