"""What several route modules share: problem responses for OpenAPI and track resolution."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from server.problems import PROBLEM_MEDIA_TYPE
from server.schemas.common import ProblemPublic
from server.services import catalog
from speedrun.tracks import Track

# Ids are INTEGER (32-bit on PostgreSQL): larger numbers are refused as invalid, not looked up.
Id = Annotated[int, Path(ge=0, le=2**31 - 1)]


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries: these statuses answer problem JSON."""
    content = {PROBLEM_MEDIA_TYPE: {"schema": ProblemPublic.model_json_schema()}}
    return {s: {"model": ProblemPublic, "content": content} for s in statuses}


def resolve(track: str, version: int | None) -> Track:
    """`cpu-tiny`, `cpu-tiny@v1`, or `cpu-tiny` with ?version=1 (TrackError answers 404)."""
    return catalog.track(track, version)
