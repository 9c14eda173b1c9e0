"""Submissions and the jobs agents lease: PENDING -> RUNNING -> FINISHED | FAILED."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, utcnow


class Job(Base):
    """Work for an agent: run a variant `runs_total` times (a submission or a re-run).

    A claim bumps `lease_seq` and sets a fresh `lease_id`; heartbeats and completion must
    present the current lease, so a late answer from an expired lease is refused. `nonce` is
    issued at creation and given only to the agent that leases the job (never in public
    views): the runner signs it into every bundle of the job, so the server can tell the
    job's runs from unsolicited uploads.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state", "state", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # submission | reverify
    state: Mapped[str] = mapped_column(String(16), default="PENDING")
    track_id: Mapped[str] = mapped_column(String(64))
    track_version: Mapped[int]
    variant_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), index=True)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"))
    runs_total: Mapped[int]
    # A/B jobs (tracks with paired_ab, when a record exists): the record's variant, run
    # interleaved with this one; runs_total counts both sides of every pair.
    baseline_sha256: Mapped[str | None] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(32))
    lease_id: Mapped[str | None] = mapped_column(String(64))
    lease_seq: Mapped[int] = mapped_column(default=0)
    runner_id: Mapped[int | None] = mapped_column(ForeignKey("runners.id"))
    leased_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    expiries: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_user_time", "user_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    track_id: Mapped[str] = mapped_column(String(64))
    track_version: Mapped[int]
    variant_sha256: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    # The human name the submitter gave ("Muon improvements"); None: none given (0010).
    name: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
