"""Submissions, jobs and runners."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from server.schemas.common import TrackRef
from speedrun.names import MAX_NAME_CHARS, clean_name


class SubmissionCreate(BaseModel):
    track: str = Field(description="track id, or id@vN", max_length=80)
    version: int | None = Field(default=None, ge=1, le=1_000_000)
    source: str = Field(description="the variant's train_gpt.py")
    description: str = Field(default="", max_length=10_000)
    name: str | None = Field(
        default=None,
        max_length=4 * MAX_NAME_CHARS,  # before trimming; `clean_name` has the rule
        description=f'a human name the pages show ("Muon improvements"): trimmed, at most '
        f"{MAX_NAME_CHARS} characters, no control or format characters; blank: none",
    )

    @field_validator("name")
    @classmethod
    def _clean_name(cls, value: str | None) -> str | None:
        return None if value is None else clean_name(value)


class JobPublic(BaseModel):
    id: int
    kind: str  # submission | reverify
    name: str | None = None  # the attempt's human name (what its record will show)
    state: str  # PENDING | RUNNING | FINISHED | FAILED
    track: TrackRef
    attempt_id: int
    record_id: int | None
    variant_sha256: str
    baseline_sha256: str | None = None  # A/B jobs: the record's variant, run in pairs
    runs_total: int
    runs_done: list[str]
    runs_remaining: int
    runner: str | None
    leased_at: datetime | None
    heartbeat_at: datetime | None
    lease_expires_at: datetime | None
    expiries: int
    reason: str | None
    created_at: datetime
    finished_at: datetime | None


class JobLease(BaseModel):
    """The claim answer, for the leasing agent alone: `nonce` goes into every bundle of the
    job (the runner's manifest `job` block); public job views never show it."""

    job: JobPublic
    lease_id: str
    nonce: str
    source: str
    baseline_source: str | None = None  # A/B jobs: the record's variant
    upload_url: str


class ClaimIn(BaseModel):
    """What an agent runs, announced when it claims work (all optional). The hardware decides
    which jobs it gets (`server.services.hardware`): its accelerator kind, how many (GPUs, or
    the CPU cores it may use) and, with GPUs, their model name."""

    accelerator: Literal["cpu", "cuda"] | None = None
    accelerator_count: int | None = Field(default=None, ge=0, le=4096)
    gpu_model: str | None = Field(default=None, max_length=200)
    image_digest: str | None = Field(default=None, max_length=200)
    runner_version: str | None = Field(default=None, max_length=64)


class LeaseIn(BaseModel):
    lease_id: str = Field(max_length=64)


class CompleteIn(LeaseIn):
    outcome: Literal["finished", "failed"]
    reason: str | None = Field(default=None, max_length=4000)


class SubmissionPublic(BaseModel):
    id: int
    user: str
    track: TrackRef
    attempt_id: int
    variant_sha256: str
    name: str | None = None  # as this submission gave it (the attempt's may be older)
    description: str
    created_at: datetime
    job: JobPublic
    attempt_url: str


class RunnerPublic(BaseModel):
    name: str
    key_id: str
    active: bool
    created_at: datetime
    revoked_at: datetime | None


class RunnersPublic(BaseModel):
    data: list[RunnerPublic]
    count: int
