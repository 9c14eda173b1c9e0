"""Compute and machines in the API: a run's FLOPs and MFU, the calibration of its machine,
the telemetry summary, the machine conditions the server found, and which machine it was."""

from __future__ import annotations

from pydantic import BaseModel


class MachinePublic(BaseModel):
    key: str  # what the statistics group runs by (speedrun.machine_id)
    label: str  # the host (or runner key) and its GPUs, for people


class ComputePublic(BaseModel):
    forward_flops_per_token: float | None  # counted over the exported model's program
    flops_method: str | None
    train_tokens: float | None
    train_tokens_source: str  # "self-reported": the variant says how many tokens it trained on
    train_tokens_within_ceiling: bool | None  # checked against the track's ceiling
    training_flops: float | None  # 3 x forward x train_tokens: as good as those tokens
    accelerators: int | None
    peak_flops_per_accelerator: float | None
    peak_source: str | None  # where the peak comes from (a vendor's figure, or calibration)
    mfu: float | None  # training FLOPs / (runner time x accelerators x peak)


class CalibrationPublic(BaseModel):
    device: str | None
    matmul_flops_per_s: float | None
    memory_bytes_per_s: float | None
    seconds: float | None
    reference_matmul_flops_per_s: float | None  # the track's figures for its hardware class
    reference_memory_bytes_per_s: float | None
    tolerance: float | None  # how far below the reference still counts as healthy
    below_reference: bool | None


class TelemetryPublic(BaseModel):
    """The runner's summary of its samples (the series is `telemetry.jsonl` in the bundle)."""

    samples: int | None
    interval_s: float | None
    cpu: dict[str, float | None]
    gpu: dict[str, float | str | None] | None
    conditions: list[str]  # as the runner listed them; `RunPublic.conditions` is the server's


class TelemetryPoint(BaseModel):
    t_s: float  # seconds since the run started
    load1: float | None
    busy_share: float | None
    steal_share: float | None
    iowait_share: float | None


class TelemetrySeries(BaseModel):
    samples: int  # samples read
    skipped: int  # lines that were not a usable sample (or beyond the cap on samples read)
    points: list[TelemetryPoint]  # bucket means of consecutive samples (at most 240)


class ConditionPublic(BaseModel):
    name: str  # below_calibration | cpu_steal | cpu_load | cpu_throttled | gpu_throttled
    detail: str  # the figures behind it, in words
    figures: dict[str, float | str | None]
    run_id: str | None = None  # in a verification: the re-run it was found on


class RecordComputePublic(BaseModel):
    """Means over the record's counted runs that carry a compute block."""

    runs: int  # how many of them did
    forward_flops_per_token: float | None
    training_flops: float | None
    train_tokens_source: str  # "self-reported"
    mfu: float | None
    peak_source: str | None
