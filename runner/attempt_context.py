"""What one attempt runs with (the session's `SessionContext`, the `AttemptRequest`) and what it
gives back (`AttemptOutcome`); runner.attempt runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runner.backends import Backend
from runner.progress import Progress
from runner.trackdata import TrackData
from speedrun.tracks import Track


@dataclass
class SessionContext:
    track: Track
    backend: Backend
    key: Ed25519PrivateKey
    data: TrackData
    software: dict[str, Any]
    hardware: dict[str, Any]
    out_dir: Path
    time_limit_s: float
    progress: Progress
    group_id: str
    work_parent: Path | None = None
    job: dict[str, Any] | None = None  # {"id", "nonce"} of the server job, when there is one

    @property
    def eval_limit_s(self) -> float:
        # Generous: a busy host (several agents, CPU hogs) slows the evaluator too, and an
        # evaluation cut short costs a whole training run.
        limits = self.track.limits
        return max(300.0, float(limits.untimed_cap_s), limits.wall_clock_s / 4)


@dataclass(frozen=True)
class AttemptRequest:
    variant_name: str
    source: bytes
    seed: int
    index: int
    label: str
    bundle_name: str
    ab: dict[str, Any] | None = None


@dataclass(frozen=True)
class AttemptOutcome:
    run_id: str
    seed: int
    status: str
    reason: str | None
    time_ms: float | None
    val_loss: float | None
    flags: list[str]
    bundle_path: Path
    manifest: dict[str, Any] = field(repr=False)
