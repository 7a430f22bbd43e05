"""Placeholder: filled in by the policy work."""

from fastapi import APIRouter

router = APIRouter()
