"""Placeholder: filled in by the methodology work."""

from fastapi import APIRouter

router = APIRouter()
