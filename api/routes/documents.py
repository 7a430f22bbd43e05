"""Placeholder: filled in by the documents work."""

from fastapi import APIRouter

router = APIRouter()
