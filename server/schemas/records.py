"""Attempts, records and the leaderboard: everything a page needs to render a row."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, computed_field

from server.schemas.common import SummaryPublic, TrackRef
from server.schemas.compute import ConditionPublic, RecordComputePublic
from server.schemas.history import ImportedPublic
from server.schemas.runs import RunBrief
from server.schemas.tracks import TrackPublic


class StatsPublic(BaseModel):
    n_runs: int  # runs of the attempt's submission jobs, whatever became of them
    n_counted: int
    n_unsolicited: int  # uploaded outside any job: shown, never counted
    official: bool
    self_reported: bool
    time_ms: SummaryPublic | None
    val_loss: SummaryPublic | None
    p_value: float | None  # one-sided t-test: mean val loss < target
    qualifies: bool
    reason: str
    machines: int = 1  # distinct machines the counted runs came from
    test_unit: str = "run"  # "machine": the tests ran over per-machine means


class AttemptPublic(BaseModel):
    id: int
    origin: str
    track: TrackRef
    variant_sha256: str
    name: str | None
    description: str | None
    submitter: str | None
    created_at: datetime
    record_id: int | None
    stats: StatsPublic
    source_url: str | None
    runs: list[RunBrief]


class AttemptsPublic(BaseModel):
    data: list[AttemptPublic]
    count: int


class VerificationPublic(BaseModel):
    id: int
    status: str  # reproduced | drifted | failed
    n_runs: int
    time_ms_mean: float | None
    time_ms_std: float | None
    val_loss_mean: float | None
    p_value: float | None
    image_digest: str | None
    runner: str | None
    job_id: int | None
    detail: str | None
    cause: str | None = None  # "machine conditions": a slow drift on a machine in bad shape
    conditions: list[ConditionPublic] = []  # as the server found them on the re-runs
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> str:
        """The outcome as the pages say it: "drifted: machine conditions" apart from a
        plain "drifted" (a healthy machine: the code or the environment changed)."""
        return f"{self.status}: {self.cause}" if self.cause else self.status


class BeatPublic(BaseModel):
    method: str  # first | welch | paired | imported
    p_value: float | None
    speedup: float | None
    detail: str


class HardwareUsed(BaseModel):
    hardware_class: str | None
    accelerator_count: int | None


class CostPublic(BaseModel):
    """Inputs for a cost figure: accelerators x mean time."""

    accelerator_count: int | None
    time_ms_mean: float | None
    accelerator_hours: float | None


class EvidencePublic(BaseModel):
    origin: str  # verified | imported
    runners: list[str]  # runners whose signatures vouch for the runs
    val_loss_source: str  # independently-evaluated | self-reported | mixed
    official: bool
    imported: bool
    verification: VerificationPublic | None  # the latest re-verification


class RecordEntry(BaseModel):
    rank: int
    record_id: int
    status: str  # current | superseded
    origin: str
    track: TrackRef
    attempt_id: int
    variant_sha256: str
    name: str | None
    description: str | None
    submitter: str | None
    established_at: datetime
    superseded_at: datetime | None
    previous_record_id: int | None
    time_ms: SummaryPublic | None
    val_loss: SummaryPublic | None
    p_value: float | None
    beat: BeatPublic
    hardware: HardwareUsed
    cost: CostPublic
    compute: RecordComputePublic | None = None  # None: no counted run measured compute
    machines: int = 0  # distinct machines of the counted runs (0: none known)
    evidence: EvidencePublic
    url: str
    source_url: str | None
    imported: ImportedPublic | None = None  # imported history: what the README claims

    @computed_field  # type: ignore[prop-decorator]
    @property
    def page_url(self) -> str:
        """The record's HTML page (this answer is its JSON twin)."""
        return f"/records/{self.record_id}"


class RecordPublic(RecordEntry):
    runs: list[RunBrief]
    verifications: list[VerificationPublic]


class RecordsPublic(BaseModel):
    data: list[RecordEntry]
    count: int


class LeaderboardPublic(BaseModel):
    track: TrackPublic
    total: int
    limit: int
    offset: int
    generated_at: datetime
    entries: list[RecordEntry]
