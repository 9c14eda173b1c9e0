"""An attempt's machine record: the calibration before it (runner.calibrate, run where the
attempt runs, untimed), the telemetry during its training (runner.telemetry, sampled by the
runner), and the manifest blocks they make with the compute figures (runner.compute):
`fingerprint.hardware.calibration`, `telemetry` (its conditions judged by speedrun.machine,
the same code the server runs) and `compute`. A slow or busy machine is marked, never refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from runner import verdicts
from runner.attempt_context import SessionContext
from runner.attempt_specs import calibration_spec
from runner.compute import compute_block
from runner.telemetry import MEMBER, TelemetryLog, TelemetrySampler
from speedrun.machine import calibration_below, device_name, machine_conditions, reference_for
from speedrun.tracks import Track

__all__ = ["MEMBER", "add_machine_blocks", "run_calibration", "start_telemetry"]

CARRIED = ("device_name", "matmul", "copy_bytes", "threads", "per_device")


def run_calibration(ctx: SessionContext, run_id: str) -> dict[str, Any] | str:
    """The calibration's figures, or why there are none (never fails the attempt)."""
    proc = ctx.backend.run(calibration_spec(ctx, run_id))
    for line in reversed(proc.output.strip().splitlines()[-20:]):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and _rates_ok(data):
            return data
    tail = verdicts.last_lines(proc.output, 2)
    return f"calibration failed (exit {proc.exit_code}): {tail}"[:500]


def start_telemetry(track: Track) -> TelemetrySampler:
    return TelemetrySampler.for_accelerator(
        track.hardware.accelerator, track.hardware.count
    ).start()


def add_machine_blocks(
    manifest: dict[str, Any],
    track: Track,
    calibration: dict[str, Any] | str | None,
    telemetry: TelemetryLog | None,
    evaluation: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Calibration, compute and telemetry into the manifest (in place; returned too)."""
    hardware = dict(manifest["fingerprint"]["hardware"])
    if isinstance(calibration, dict):
        hardware["calibration"] = calibration_block(track, calibration, hardware)
    elif calibration:
        hardware["calibration_error"] = calibration
    manifest["fingerprint"]["hardware"] = hardware
    compute = compute_block(track, manifest["figures"], evaluation, hardware)
    if compute is not None:
        manifest["compute"] = compute
    if telemetry is not None:
        manifest["telemetry"] = telemetry.summary
        manifest["telemetry"]["conditions"] = machine_conditions(manifest)
    return manifest


def calibration_block(
    track: Track, measured: Mapping[str, Any], hardware: Mapping[str, Any]
) -> dict[str, Any]:
    """The measured figures beside the track's reference for this device and the verdict."""
    block: dict[str, Any] = {
        "device": "cuda" if measured.get("device") == "cuda" else "cpu",
        "matmul_flops_per_s": float(measured["matmul_flops_per_s"]),
        "memory_bytes_per_s": float(measured["memory_bytes_per_s"]),
        "seconds": _seconds(measured.get("seconds")),
    }
    block |= {k: measured[k] for k in CARRIED if measured.get(k) is not None}
    machine = track.machine
    reference = reference_for(machine, device_name(hardware, block))
    block["reference"] = (
        None
        if reference is None
        else {
            "matmul_flops_per_s": reference.matmul_flops_per_s,
            "memory_bytes_per_s": reference.memory_bytes_per_s,
        }
    )
    block["tolerance"] = machine.calibration_tolerance if reference else None
    block["below_reference"] = calibration_below(block, reference, machine.calibration_tolerance)
    return block


def _rates_ok(data: Mapping[str, Any]) -> bool:
    return all(
        isinstance(data.get(k), int | float)
        and not isinstance(data.get(k), bool)
        and math.isfinite(data[k])
        and data[k] > 0
        for k in ("matmul_flops_per_s", "memory_bytes_per_s")
    )


def _seconds(value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return max(0.0, float(value)) if ok else 0.0
