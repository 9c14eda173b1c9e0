"""Runs: a brief form for lists, and the full form with the manifest and the step curve."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, computed_field

from server.schemas.common import TrackRef
from server.schemas.compute import (
    CalibrationPublic,
    ComputePublic,
    ConditionPublic,
    MachinePublic,
    TelemetryPublic,
    TelemetrySeries,
)


class AbPublic(BaseModel):
    session_id: str
    role: str
    pair_index: int | None


class RunBrief(BaseModel):
    run_id: str
    attempt_id: int
    origin: str  # verified | imported
    purpose: str  # claim (a submission job's run) | reverify | unsolicited (outside any job)
    status: str  # as the server re-checked it: a run breaking a rule is rule_violation
    official: bool
    counts: bool  # counts toward its attempt's record statistics (see not_counted)
    backend: str | None
    time_ms: float | None
    val_loss: float | None
    val_loss_source: str
    claimed_time_ms: float | None
    seed: int | None
    runner: str | None
    hardware_class: str | None
    accelerator_count: int | None
    image_digest: str | None
    machine: MachinePublic | None = None  # None: imported history (no fingerprint)
    training_flops: float | None = None  # 3 x forward FLOPs/token x self-reported tokens
    mfu: float | None = None
    ab: AbPublic | None
    started_at: datetime | None
    finished_at: datetime | None
    ingested_at: datetime
    url: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unsolicited(self) -> bool:
        """Uploaded outside any server job: shown, never counted toward a record."""
        return self.purpose == "unsolicited"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def page_url(self) -> str:
        """The run's HTML page."""
        return f"/runs/{self.run_id}"


class CurvePoint(BaseModel):
    step: int
    val_loss: float | None = None
    train_loss: float | None = None
    train_time_ms: float | None = None


class CurvePublic(BaseModel):
    format: str
    total_steps: int | None
    val: list[CurvePoint]
    train: list[CurvePoint]
    warnings: list[str]


class RunPublic(RunBrief):
    track: TrackRef
    variant_sha256: str
    name: str | None = None  # the attempt's human name (its record's)
    exit_reason: str | None
    violations: list[str]  # the rules the run broke, as the server re-checked them
    not_counted: list[str]  # why this run does not count toward a record (empty: it does)
    bundle_sha256: str | None
    bundle_url: str | None
    job_id: int | None
    record_id: int | None
    manifest: dict[str, Any]
    curve: CurvePublic | None
    curve_error: str | None
    compute: ComputePublic | None = None  # None: the runner measured no compute
    calibration: CalibrationPublic | None = None
    telemetry: TelemetryPublic | None = None
    conditions: list[ConditionPublic] = []  # recomputed by the server from the summaries
    telemetry_series: TelemetrySeries | None = (
        None  # the run page's chart: telemetry.jsonl, thinned
    )


class IngestPublic(BaseModel):
    created: bool  # false: this bundle was already stored (idempotent re-upload)
    run_id: str
    records_established: list[int]
    warnings: list[str]
    run: RunBrief  # GET run.url for the manifest and the step curve
