"""Shapes shared by several entities."""

from __future__ import annotations

from pydantic import BaseModel


class SummaryPublic(BaseModel):
    """Mean and sample standard deviation (ddof=1) over n values."""

    n: int
    mean: float
    std: float


class TrackRef(BaseModel):
    id: str
    version: int


class ProblemPublic(BaseModel):
    """RFC 9457 problem details: every error answer has this shape."""

    type: str
    title: str
    status: int
    detail: str
    code: str


class HealthPublic(BaseModel):
    status: str
    version: str
