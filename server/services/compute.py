"""A run's compute block, its machine's calibration and the telemetry summary, read out of
a stored manifest for the API and the pages.

Every part is optional: bundles signed before the runner measured compute have none, and
their pages and answers simply leave the figures out. The schema types these blocks, but a
reader here still takes only finite numbers and short strings (a value it cannot use is
left out rather than trusted), since the same code reads manifests stored before the
schema said anything about them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.schemas.compute import CalibrationPublic, ComputePublic, TelemetryPublic
from speedrun.machine import as_mapping, finite_number

MAX_TEXT = 500  # the schema's limit on peak_source and flops_method
MAX_FIGURE = 1e30  # FLOPs, FLOP/s, B/s: some 10^4 x the largest training run ever reported
CPU_FIGURES = (
    "cpus",
    "mean_load1",
    "max_load1",
    "mean_running",
    "mean_steal_share",
    "mean_iowait_share",
    "mean_busy_share",
    "min_freq_mhz",
    "throttled_share",
    "throttled_usec",
)
GPU_FIGURES = (
    "count",
    "min_sm_clock_mhz",
    "max_temperature_c",
    "mean_power_w",
    "power_limit_w",
    "throttled_share",
)


def figure(value: Any) -> float | None:
    """A rate, count or share in [0, MAX_FIGURE], or None: a signed manifest may still carry
    1e308, and a sum of two such (a record's mean) is infinite, which no JSON answer or
    chart axis holds."""
    n = finite_number(value)
    return n if n is not None and 0 <= n <= MAX_FIGURE else None


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _count(value: Any) -> int | None:
    n = finite_number(value)
    return int(n) if n is not None and n.is_integer() and n >= 0 else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def compute_of(manifest: Mapping[str, Any]) -> ComputePublic | None:
    c = manifest.get("compute")
    if not isinstance(c, Mapping):
        return None
    return ComputePublic(
        forward_flops_per_token=figure(c.get("forward_flops_per_token")),
        flops_method=text(c.get("flops_method")),
        train_tokens=figure(c.get("train_tokens")),
        train_tokens_source=text(c.get("train_tokens_source")) or "self-reported",
        train_tokens_within_ceiling=_flag(c.get("train_tokens_within_ceiling")),
        training_flops=figure(c.get("training_flops")),
        accelerators=_count(c.get("accelerators")),
        peak_flops_per_accelerator=figure(c.get("peak_flops_per_accelerator")),
        peak_source=text(c.get("peak_source")),
        mfu=figure(c.get("mfu")),
    )


def compute_columns(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The `runs` columns the boards and charts read (no manifest parse on a page view)."""
    c = compute_of(manifest)
    return {
        "forward_flops_per_token": c.forward_flops_per_token if c else None,
        "training_flops": c.training_flops if c else None,
        "mfu": c.mfu if c else None,
        "peak_source": c.peak_source if c else None,
    }


def calibration_of(manifest: Mapping[str, Any]) -> CalibrationPublic | None:
    hardware = as_mapping(as_mapping(manifest.get("fingerprint")).get("hardware"))
    cal = hardware.get("calibration")
    if not isinstance(cal, Mapping):
        return None
    ref = as_mapping(cal.get("reference"))
    return CalibrationPublic(
        device=text(cal.get("device")),
        matmul_flops_per_s=figure(cal.get("matmul_flops_per_s")),
        memory_bytes_per_s=figure(cal.get("memory_bytes_per_s")),
        seconds=figure(cal.get("seconds")),
        reference_matmul_flops_per_s=figure(ref.get("matmul_flops_per_s")),
        reference_memory_bytes_per_s=figure(ref.get("memory_bytes_per_s")),
        tolerance=finite_number(cal.get("tolerance")),
        below_reference=_flag(cal.get("below_reference")),
    )


def _gpu_summary(gpu: Any) -> dict[str, float | str | None] | None:
    if not isinstance(gpu, Mapping):
        return None
    out: dict[str, float | str | None] = {k: finite_number(gpu.get(k)) for k in GPU_FIGURES}
    reasons = gpu.get("reasons")
    if isinstance(reasons, list):
        out["reasons"] = ", ".join(t for r in reasons[:20] if (t := text(r, 60))) or None
    return out


def telemetry_of(manifest: Mapping[str, Any]) -> TelemetryPublic | None:
    t = manifest.get("telemetry")
    if not isinstance(t, Mapping):
        return None
    cpu = as_mapping(t.get("cpu"))
    listed = t.get("conditions")
    return TelemetryPublic(
        samples=_count(t.get("samples")),
        interval_s=finite_number(t.get("interval_s")),
        cpu={k: finite_number(cpu.get(k)) for k in CPU_FIGURES},
        gpu=_gpu_summary(t.get("gpu")),
        conditions=[c for x in listed[:20] if (c := text(x, 60))]
        if isinstance(listed, list)
        else [],
    )
