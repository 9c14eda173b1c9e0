"""The tables (SQLAlchemy 2 typed ORM). Importing this package registers them all."""

from server.models.base import Base, utcnow
from server.models.core import AgentNonce, ApiToken, Blob, Runner, User
from server.models.jobs import Job, Submission
from server.models.policy import Environment
from server.models.results import (
    Attempt,
    Record,
    Run,
    RunLogSummary,
    TrackState,
    Verification,
)

__all__ = [
    "AgentNonce",
    "ApiToken",
    "Attempt",
    "Base",
    "Blob",
    "Environment",
    "Job",
    "Record",
    "Run",
    "RunLogSummary",
    "Runner",
    "Submission",
    "TrackState",
    "User",
    "Verification",
    "utcnow",
]
