"""GET /api/v1/health: answers without touching the database (a liveness probe)."""

from __future__ import annotations

from fastapi import APIRouter

from server.schemas.common import HealthPublic
from speedrun import __version__

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> HealthPublic:
    return HealthPublic(status="ok", version=__version__)
