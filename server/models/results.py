"""Attempts, runs, records and their verification history.

`origin` separates what this service verified (`verified`: a signed bundle from a registered
runner) from what was imported from the speedrun's history (`imported`: self-reported logs,
with the claimed time beside the logged one). Imported rows live on their own track ids.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, utcnow


class TrackState(Base):
    """One row per track version: the row a record decision locks, and a write counter."""

    __tablename__ = "track_states"
    track_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    track_version: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(default=0)


class Attempt(Base):
    """One variant (by sha256) on one track version: every run of that code groups here."""

    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("track_id", "track_version", "variant_sha256"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(16), default="verified")
    track_id: Mapped[str] = mapped_column(String(64))
    track_version: Mapped[int]
    variant_sha256: Mapped[str] = mapped_column(String(64))
    source_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    name: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    submitter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Statistics over the runs, recomputed whenever a run joins (so reads need no t-tests).
    stats_json: Mapped[str | None] = mapped_column(Text)
    time_ms_mean: Mapped[float | None]


class Run(Base):
    """One execution: the figures the bundle vouches for, copied out of its manifest."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_attempt_purpose", "attempt_id", "purpose"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32), unique=True)
    origin: Mapped[str] = mapped_column(String(16), default="verified")
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"))
    runner_id: Mapped[int | None] = mapped_column(ForeignKey("runners.id"))
    bundle_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"), unique=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    # claim (a submission job's run) | reverify (a re-verification job's) | unsolicited
    # (uploaded outside any job: shown, never counted); imported runs have their own purposes.
    purpose: Mapped[str] = mapped_column(String(16), default="claim")
    track_id: Mapped[str] = mapped_column(String(64))
    track_version: Mapped[int]
    backend: Mapped[str | None] = mapped_column(String(32))
    official: Mapped[bool]
    # As the server judged it (speedrun.rules.effective_status), not as the manifest says:
    # a "completed" run whose figures break a rule is stored as rule_violation.
    status: Mapped[str] = mapped_column(String(32))
    exit_reason: Mapped[str | None] = mapped_column(Text)
    violations_json: Mapped[str | None] = mapped_column(Text)  # JSON list of broken rules
    time_ms: Mapped[float | None]
    val_loss: Mapped[float | None]
    val_loss_source: Mapped[str] = mapped_column(String(32))
    claimed_time_ms: Mapped[float | None]  # the script's own figure (imported: the claim)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    ab_session: Mapped[str | None] = mapped_column(String(100), index=True)
    ab_role: Mapped[str | None] = mapped_column(String(16))
    ab_pair_index: Mapped[int | None] = mapped_column(BigInteger)
    hardware_class: Mapped[str | None] = mapped_column(String(100))
    accelerator_count: Mapped[int | None]
    image_digest: Mapped[str | None] = mapped_column(Text)
    log_member: Mapped[str | None] = mapped_column(String(200))
    # Imported runs have no bundle: their log is a blob of its own.
    log_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    manifest_json: Mapped[str] = mapped_column(Text)
    # Read out of the manifest at ingest (migration 0011), so statistics and boards need not
    # parse manifests: the machine (speedrun.machine_id) and the compute block's figures.
    machine_key: Mapped[str | None] = mapped_column(String(24))
    forward_flops_per_token: Mapped[float | None]
    training_flops: Mapped[float | None]  # 3 x forward x the variant's self-reported tokens
    mfu: Mapped[float | None]
    peak_source: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunLogSummary(Base):
    """What the pages show of a run's log (its step curve, or why there is none, and the
    head and tail of the text), worked out once when the run is stored, so a page view
    never reads a bundle or parses a log. Rows stored before migration 0007 get theirs on
    their first view (`server.services.run_logs`)."""

    __tablename__ = "run_log_summaries"
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    curve_json: Mapped[str | None] = mapped_column(Text)  # schemas.runs.CurvePublic
    # The same without its train points (one per step): what the pages' charts draw.
    val_curve_json: Mapped[str | None] = mapped_column(Text)
    curve_error: Mapped[str | None] = mapped_column(Text)
    excerpt_json: Mapped[str | None] = mapped_column(Text)  # run_logs.LogExcerpt's fields
    # The runner's telemetry.jsonl, thinned to what the run page's chart draws (0011).
    telemetry_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Record(Base):
    """An attempt that met the track's rule and beat the record before it.

    Superseded records stay, with `superseded_at`; `decision_json` keeps the numbers the
    decision was made on (n, means, p-values, speedup, method).
    """

    __tablename__ = "records"
    __table_args__ = (
        Index("ix_records_track", "track_id", "track_version"),
        UniqueConstraint("track_id", "track_version", "import_key"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(16), default="verified")
    track_id: Mapped[str] = mapped_column(String(64))
    track_version: Mapped[int]
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), unique=True)
    previous_record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"))
    established_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_at: Mapped[datetime | None]
    decision_json: Mapped[str] = mapped_column(Text, default="{}")
    # Imported records only: the README row's number, the natural key a re-import finds the
    # record by ("<number>@<date>"), and the figure the README claims (what the track ranks).
    number: Mapped[int | None]
    import_key: Mapped[str | None] = mapped_column(String(64))
    claimed_time_ms: Mapped[float | None]
    claimed_steps: Mapped[int | None]


class Verification(Base):
    """The outcome of re-running a record: reproduced, drifted or failed, with the numbers."""

    __tablename__ = "verifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    status: Mapped[str] = mapped_column(String(16))
    n_runs: Mapped[int]
    time_ms_mean: Mapped[float | None]
    time_ms_std: Mapped[float | None]
    val_loss_mean: Mapped[float | None]
    p_value: Mapped[float | None]
    image_digest: Mapped[str | None] = mapped_column(Text)
    runner_id: Mapped[int | None] = mapped_column(ForeignKey("runners.id"))
    detail: Mapped[str | None] = mapped_column(Text)
    # A drift on a machine the server found in bad shape (throttled, stolen from, below its
    # calibration): "machine conditions", and the conditions with their figures (0011).
    cause: Mapped[str | None] = mapped_column(String(32))
    conditions_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
