"""Machine conditions of a run: was its machine as good as the track expects while it ran?

The runner writes a calibration (`fingerprint.hardware.calibration`) and a telemetry summary
(`telemetry`) into each manifest, and its own list of `telemetry.conditions`. Whoever reads a
manifest (the server's statistics and re-verification verdicts, the pages) recomputes that
list here from the figures and the track's thresholds (`speedrun.tracks.Machine`, which
documents each condition), so the runner's conclusion is never taken on trust. Torch-free;
unknown tracks and malformed figures read as "no evidence", never as an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from speedrun.errors import TrackError
from speedrun.tracks import CalibrationReference, Machine, PeakFlops, Track, get_track

BELOW_CALIBRATION = "below_calibration"
CPU_STEAL = "cpu_steal"
CPU_LOAD = "cpu_load"
CPU_THROTTLED = "cpu_throttled"
GPU_THROTTLED = "gpu_throttled"
CONDITIONS = (BELOW_CALIBRATION, CPU_STEAL, CPU_LOAD, CPU_THROTTLED, GPU_THROTTLED)


def machine_conditions(raw_manifest: Mapping[str, Any]) -> list[str]:
    """The conditions (in CONDITIONS order) a manifest's own figures show, by its track's
    thresholds (the defaults when the track is unknown)."""
    track = manifest_track(raw_manifest.get("track"))
    machine = track.machine if track is not None else Machine()
    hardware = as_mapping(as_mapping(raw_manifest.get("fingerprint")).get("hardware"))
    calibration = as_mapping(hardware.get("calibration"))
    found: set[str] = set()
    if calibration:
        reference = reference_for(machine, device_name(hardware, calibration))
        if calibration_below(calibration, reference, machine.calibration_tolerance):
            found.add(BELOW_CALIBRATION)
    own = track.hardware.count if track is not None else 0
    found.update(telemetry_conditions(as_mapping(raw_manifest.get("telemetry")), machine, own))
    return [c for c in CONDITIONS if c in found]


def telemetry_conditions(
    telemetry: Mapping[str, Any], machine: Machine, own_processes: int = 0
) -> list[str]:
    """The CPU and GPU conditions of a telemetry summary (its `cpu` and `gpu` blocks);
    `own_processes` are the attempt's (one per accelerator or CPU process), not competition."""
    found = []
    cpu, gpu = as_mapping(telemetry.get("cpu")), as_mapping(telemetry.get("gpu"))
    cpus = finite_number(cpu.get("cpus"))
    if _above(cpu.get("mean_steal_share"), machine.steal_share):
        found.append(CPU_STEAL)
    if cpus and cpus > 0 and extra_load(cpu, own_processes) / cpus > machine.load_per_cpu:
        found.append(CPU_LOAD)
    if _above(cpu.get("throttled_share"), machine.cpu_throttled_share) and not _brief(
        telemetry, cpu, machine.cpu_throttled_time_share
    ):
        found.append(CPU_THROTTLED)
    if _above(gpu.get("throttled_share"), machine.gpu_throttled_share):
        found.append(GPU_THROTTLED)
    return found


def extra_load(cpu: Mapping[str, Any], own_processes: int) -> float:
    """Runnable tasks beyond the attempt's own: the larger of the mean 1-minute load (slow to
    follow a short run) and the mean instantaneous runnable count less the sampler itself."""
    load = finite_number(cpu.get("mean_load1")) or 0.0
    running = finite_number(cpu.get("mean_running"))
    if running is not None:
        load = max(load, running - 1)
    return max(0.0, load - own_processes)


def calibration_below(
    calibration: Mapping[str, Any], reference: CalibrationReference | None, tolerance: float
) -> bool:
    """True when either probe's figure is more than `tolerance` (a share) below the reference."""
    if reference is None:
        return False
    pairs = (
        (calibration.get("matmul_flops_per_s"), reference.matmul_flops_per_s),
        (calibration.get("memory_bytes_per_s"), reference.memory_bytes_per_s),
    )
    for measured, expected in pairs:
        value = finite_number(measured)
        if value is not None and value < (1 - tolerance) * expected:
            return True
    return False


def reference_for(machine: Machine, name: str) -> CalibrationReference | None:
    """The first reference whose `model` is part of the device's name ("" matches any)."""
    return next((r for r in machine.references if r.model in name), None)


def peak_for(machine: Machine, name: str) -> PeakFlops | None:
    """The first vendor peak whose `model` is part of the accelerator's name."""
    return next((p for p in machine.peaks if p.model in name), None)


def device_name(hardware: Mapping[str, Any], calibration: Mapping[str, Any]) -> str:
    """The name references are matched on: the GPU model on CUDA, else the CPU model."""
    key = "gpu_model" if calibration.get("device") == "cuda" else "cpu_model"
    value = hardware.get(key)
    return value if isinstance(value, str) else ""


def track_machine(track: Any) -> Machine:
    """The machine section of the manifest's track ({"id", "version"}); defaults if unknown."""
    found = manifest_track(track)
    return found.machine if found is not None else Machine()


def manifest_track(track: Any) -> Track | None:
    """The track a manifest names ({"id", "version"}), or None when unknown or malformed."""
    ref = as_mapping(track)
    track_id, version = ref.get("id"), ref.get("version")
    if not isinstance(track_id, str) or not isinstance(version, int) or isinstance(version, bool):
        return None
    try:
        return get_track(track_id, version)
    except TrackError:
        return None


def _brief(telemetry: Mapping[str, Any], cpu: Mapping[str, Any], bar: float) -> bool:
    """True when the throttled time is a negligible share of the sampled time. A container
    whose quota equals the host's cores is throttled for a few ms now and then in many
    samples (a quiet cpu-tiny run: 30% of samples, 0.04 s in 95 s); that is no machine
    condition. Unknown figures are not brief: the share of samples decides alone."""
    usec = finite_number(cpu.get("throttled_usec"))
    samples, interval = (
        finite_number(telemetry.get("samples")),
        finite_number(telemetry.get("interval_s")),
    )
    if usec is None or not samples or not interval or samples <= 0 or interval <= 0:
        return False
    return usec / 1e6 / (samples * interval) <= bar


def _above(value: Any, threshold: float) -> bool:
    number = finite_number(value)
    return number is not None and number > threshold


def finite_number(value: Any) -> float | None:
    """A finite int or float (never a bool); None for anything else. The one reading of a
    manifest's figures (the server's compute and telemetry read models use it too)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def as_mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one (a malformed block reads as absent)."""
    return value if isinstance(value, Mapping) else {}
