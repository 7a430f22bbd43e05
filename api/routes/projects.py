"""Placeholder: filled in by the projects and issuance work."""

from fastapi import APIRouter

router = APIRouter()
