"""The manifest as typed values: what a verified bundle's `manifest.json` holds.

The JSON Schema (`speedrun/schemas/manifest.v1.schema.json`) stays the published contract and
is what a manifest is checked against; `Manifest.from_json` is called only after that check
passed (`speedrun.bundle.verify_bundle`), so it reads the known fields without re-checking
them. Free-form parts the schema leaves open (the fingerprint's software and hardware, the
sandbox) stay mappings, and `raw` keeps the document exactly as signed: it is what is stored
and hashed, and what `speedrun.rules` reads. Plain dataclasses, no pydantic (the runner
image has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

ExitStatus = Literal["completed", "failed", "timeout", "killed", "eval_failed", "rule_violation"]
LossSource = Literal["independently-evaluated", "self-reported", "none"]
Backend = Literal["docker", "local"]
HeldOutKind = Literal["none", "secret-language", "private-slice"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class TrackRef:
    id: str
    version: int


@dataclass(frozen=True)
class Variant:
    sha256: str
    path: str  # the bundle member holding the variant source
    harness: bool  # follows the harness contract (independent evaluation); False: legacy
    name: str | None = None


@dataclass(frozen=True)
class Exit:
    status: ExitStatus
    code: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Figures:
    time_ms: float | None
    val_loss: float | None
    val_loss_source: LossSource
    time_source: str = "runner-measured"
    # Absent and null differ for this one (a null beside a val_loss is a disagreement).
    independent_val_loss: float | None = None
    has_independent_val_loss: bool = False
    self_reported_val_loss: float | None = None
    self_reported_train_time_ms: float | None = None
    runner_train_time_ms: float | None = None
    time_disagreement: float | None = None
    wall_ms: float | None = None
    untimed_ms: float | None = None
    untimed_cap_ms: float | None = None
    train_tokens: int | None = None
    steps: int | None = None
    peak_memory_bytes: int | None = None
    private_val_loss: float | None = None


@dataclass(frozen=True)
class HeldOut:
    kind: HeldOutKind
    commitment: str | None = None
    scored_sha256: str | None = None
    private_sha256: str | None = None


@dataclass(frozen=True)
class DataPin:
    dataset: str
    revision: str
    files: Mapping[str, str]  # file name -> sha256
    held_out: HeldOut | None = None


@dataclass(frozen=True)
class Image:
    name: str | None = None
    digest: str | None = None  # the engine's content-addressed image id


@dataclass(frozen=True)
class CalibrationFigures:
    matmul_flops_per_s: float
    memory_bytes_per_s: float


@dataclass(frozen=True)
class Calibration:
    """runner.calibrate's figures, measured where the attempt ran, before it (untimed)."""

    device: Literal["cpu", "cuda"]
    matmul_flops_per_s: float
    memory_bytes_per_s: float
    seconds: float
    reference: CalibrationFigures | None = None  # the track's, for this device
    tolerance: float | None = None
    below_reference: bool = False  # a mark (condition "below_calibration"), never a refusal


@dataclass(frozen=True)
class Fingerprint:
    data: DataPin
    software: Mapping[str, Any]  # free-form in the schema
    hardware: Mapping[str, Any]  # free-form in the schema (class, gpus, ...)
    image: Image | None = None
    calibration: Calibration | None = None  # hardware["calibration"], typed


@dataclass(frozen=True)
class RunnerInfo:
    key_id: str
    version: str
    host: str | None = None


@dataclass(frozen=True)
class Timing:
    method: str | None = None  # "harness-events" or "process-wall"
    clock: str | None = None
    wall_clock_limit_s: float | None = None
    breakdown_ms: Mapping[str, float] | None = None
    cap_exceeded: bool | None = None
    problems: tuple[str, ...] = ()
    exit_code: int | None = None


@dataclass(frozen=True)
class Evaluation:
    ok: bool | None = None
    refused: str | None = None
    val_loss: float | None = None
    tokens_scored: int | None = None
    windows: int | None = None
    seq_len: int | None = None
    batch_seqs: int | None = None
    device: str | None = None
    duration_ms: float | None = None
    causality: Mapping[str, Any] | None = None
    op_count: int | None = None
    torch: str | None = None


@dataclass(frozen=True)
class AbSide:
    session_id: str
    role: Literal["baseline", "candidate"]
    pair_index: int
    baseline_sha256: str | None = None
    candidate_sha256: str | None = None


@dataclass(frozen=True)
class JobRef:
    id: int
    nonce: str


@dataclass(frozen=True)
class Member:
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class Signature:
    algorithm: str
    key_id: str
    public_key: str
    value: str


@dataclass(frozen=True)
class Compute:
    """FLOPs and MFU: forward FLOPs per token counted on the exported program, training FLOPs
    = 3 x that x the variant's self-reported tokens, MFU against the peak per accelerator."""

    forward_flops_per_token: float
    flops_method: str
    train_tokens: int | None
    train_tokens_source: str  # "self-reported"
    train_tokens_within_ceiling: bool
    training_flops: float | None
    accelerators: int
    peak_flops_per_accelerator: float | None
    peak_source: str  # the track's vendor figure, or "calibration" on CPU
    mfu: float | None


@dataclass(frozen=True)
class CpuTelemetry:
    cpus: int
    mean_load1: float
    max_load1: float
    mean_steal_share: float
    mean_iowait_share: float
    mean_busy_share: float
    min_freq_mhz: float | None = None
    throttled_share: float | None = None  # share of samples where nr_throttled grew
    throttled_usec: int | None = None
    mean_running: float | None = None  # runnable tasks (/proc/loadavg), instantaneous


@dataclass(frozen=True)
class GpuTelemetry:
    count: int
    min_sm_clock_mhz: float
    max_temperature_c: float
    mean_power_w: float
    power_limit_w: float
    throttled_share: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Telemetry:
    """The runner's samples during training (never the variant's): a summary of the bundle
    member `member`; `conditions` is the runner's reading (speedrun.machine recomputes it)."""

    member: str
    samples: int
    interval_s: float
    cpu: CpuTelemetry | None
    gpu: GpuTelemetry | None
    conditions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    run_id: str
    track: TrackRef
    variant: Variant
    backend: Backend
    seed: int
    exit: Exit
    figures: Figures
    fingerprint: Fingerprint
    runner: RunnerInfo
    started_at: str
    finished_at: str
    members: Mapping[str, Member]
    signature: Signature
    raw: Mapping[str, Any]  # the document as signed (stored, hashed, read by speedrun.rules)
    group_id: str | None = None
    attempt_index: int | None = None
    job: JobRef | None = None
    ab: AbSide | None = None
    violations: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    timing: Timing | None = None
    evaluation: Evaluation | None = None  # None when absent, null or empty
    sandbox: Mapping[str, Any] | None = None
    compute: Compute | None = None
    telemetry: Telemetry | None = None

    @staticmethod
    def from_json(m: Mapping[str, Any]) -> Manifest:
        """The typed view of a manifest that passed the schema (not checked again here)."""
        fp = m["fingerprint"]
        job, ab, image = m.get("job"), m.get("ab"), fp.get("image")
        return Manifest(
            run_id=m["run_id"],
            track=TrackRef(m["track"]["id"], m["track"]["version"]),
            variant=Variant(**m["variant"]),
            backend=m["backend"],
            seed=m["seed"],
            exit=Exit(m["exit"]["status"], m["exit"].get("code"), m["exit"].get("reason")),
            figures=_figures(m["figures"]),
            fingerprint=Fingerprint(
                data=_data_pin(fp["data"]),
                software=fp["software"],
                hardware=fp["hardware"],
                image=None if image is None else Image(image.get("name"), image.get("digest")),
                calibration=_calibration(fp["hardware"].get("calibration")),
            ),
            runner=RunnerInfo(
                m["runner"]["key_id"], m["runner"]["version"], m["runner"].get("host")
            ),
            started_at=m["started_at"],
            finished_at=m["finished_at"],
            members={name: Member(**entry) for name, entry in m["members"].items()},
            signature=Signature(**m["signature"]),
            raw=m,
            group_id=m.get("group_id"),
            attempt_index=m.get("attempt_index"),
            job=None if job is None else JobRef(**job),
            ab=None if ab is None else _known(AbSide, ab),
            violations=tuple(m.get("violations") or ()),
            flags=tuple(m.get("flags", ())),
            timing=_timing(m.get("timing")),
            evaluation=_known(Evaluation, m["evaluation"]) if m.get("evaluation") else None,
            sandbox=m.get("sandbox"),
            compute=_known(Compute, m["compute"]) if m.get("compute") else None,
            telemetry=_telemetry(m.get("telemetry")),
        )


def _known(cls: type[_T], block: Mapping[str, Any]) -> _T:
    """`cls` from the block's fields it names (the schema leaves these blocks open)."""
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return cls(**{k: v for k, v in block.items() if k in names})


def _figures(fig: Mapping[str, Any]) -> Figures:
    known = {k: v for k, v in fig.items() if k in Figures.__dataclass_fields__}
    known["has_independent_val_loss"] = "independent_val_loss" in fig
    return Figures(**known)


def _data_pin(data: Mapping[str, Any]) -> DataPin:
    held = data.get("held_out")
    return DataPin(
        dataset=data["dataset"],
        revision=data["revision"],
        files=data["files"],
        held_out=None if held is None else _known(HeldOut, held),
    )


def _timing(timing: Mapping[str, Any] | None) -> Timing | None:
    if timing is None:
        return None
    known = {k: v for k, v in timing.items() if k in Timing.__dataclass_fields__}
    known["problems"] = tuple(timing.get("problems", ()))
    return Timing(**known)


def _calibration(block: Mapping[str, Any] | None) -> Calibration | None:
    if not block:
        return None
    ref = block.get("reference")
    known = {k: v for k, v in block.items() if k in Calibration.__dataclass_fields__}
    known["reference"] = None if ref is None else _known(CalibrationFigures, ref)
    return Calibration(**known)


def _telemetry(block: Mapping[str, Any] | None) -> Telemetry | None:
    if not block:
        return None
    cpu, gpu = block.get("cpu"), block.get("gpu")
    return Telemetry(
        member=block["member"],
        samples=block["samples"],
        interval_s=block["interval_s"],
        cpu=None if cpu is None else _known(CpuTelemetry, cpu),
        gpu=None
        if gpu is None
        else replace(_known(GpuTelemetry, gpu), reasons=tuple(gpu.get("reasons", ()))),
        conditions=tuple(block.get("conditions", ())),
    )
