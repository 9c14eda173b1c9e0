"""GPU check of the machine record (issue 17): the NVML telemetry sampler and the GPU
calibration on the GPUs of this machine, for a few seconds, with the figures printed beside the
GPU tracks' references and vendor peaks.

    python benchmarks/gpu_telemetry_check.py [--gpus 1] [--seconds 1.0] [--idle-s 3] [--json]

1. opens NVML (nvidia-ml-py) on the first --gpus GPUs and starts the runner's sampler
   (runner.telemetry, the thread an attempt runs) at its usual one sample a second;
2. runs runner.calibrate on every visible CUDA device (bf16 8192^3 matmuls, 2 GiB copies,
   --seconds each), then lets the GPUs idle --idle-s seconds so the samples show both;
3. prints the calibration (slowest device first), the track reference for this GPU model with
   the below-reference verdict, the vendor peak (MFU denominator), the telemetry summary and
   the conditions speedrun.machine reads from them, and the first samples.

Needs a CUDA build of torch and nvidia-ml-py (`pip install -e '.[gpu]'`). Where there is no
NVIDIA GPU it says so and exits 0 without measuring anything (it is run on CPU machines in the
tests for exactly that). The GPU references in the track files are estimates until this script
has been run on the hardware: its figures are what they should be replaced with.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.nvml import NvmlSampler, NvmlUnavailable
from runner.telemetry import TelemetrySampler
from speedrun.machine import (
    calibration_below,
    peak_for,
    reference_for,
    telemetry_conditions,
)
from speedrun.tracks import get_track

TRACKS = ("gpt2-124m-1xgpu", "gpt2-124m-8xh100")


def measure(gpus: int, seconds: float, idle_s: float) -> dict[str, Any]:
    from runner.calibrate import calibrate

    sampler = TelemetrySampler(gpus=NvmlSampler.open(gpus)).start()
    try:
        started = time.monotonic()
        calibration = calibrate("cuda", seconds=seconds)
        busy_s = time.monotonic() - started
        time.sleep(idle_s)
    finally:
        log = sampler.stop()
    samples = [json.loads(line) for line in log.member.decode().splitlines()]
    return {"calibration": calibration, "busy_s": busy_s, "telemetry": log.summary,
            "samples": samples}  # fmt: skip


def judge(result: dict[str, Any]) -> dict[str, Any]:
    """Per GPU track: the reference and peak for this GPU model, and what they say."""
    cal, name = result["calibration"], result["calibration"]["device_name"]
    verdicts = {}
    for track_id in TRACKS:
        machine = get_track(track_id).machine
        ref, peak = reference_for(machine, name), peak_for(machine, name)
        verdicts[track_id] = {
            "reference": None if ref is None else vars(ref),
            "below_reference": calibration_below(cal, ref, machine.calibration_tolerance),
            "tolerance": machine.calibration_tolerance,
            "peak_flops_per_s": None if peak is None else peak.flops_per_s,
            "matmul_share_of_peak": None if peak is None else cal["matmul_flops_per_s"] / peak.flops_per_s,
            "conditions": telemetry_conditions(result["telemetry"], machine),
        }  # fmt: skip
    return verdicts


def report(result: dict[str, Any], verdicts: dict[str, Any]) -> None:
    cal, tele = result["calibration"], result["telemetry"]
    print(f"calibration on {cal['device_name']} ({cal['seconds']:.1f} s, slowest device):")
    print(f"  matmul {cal['matmul_flops_per_s'] / 1e12:8.1f} TFLOP/s  (bf16 8192^3)")
    print(f"  copy   {cal['memory_bytes_per_s'] / 1e12:8.3f} TB/s    (read + write, 2 GiB)")
    for dev in cal.get("per_device") or []:
        print(f"    {dev['device_name']}: {dev['matmul_flops_per_s'] / 1e12:.1f} TFLOP/s, "
              f"{dev['memory_bytes_per_s'] / 1e12:.3f} TB/s")  # fmt: skip
    for track_id, v in verdicts.items():
        print(f"{track_id}: reference {v['reference']}, below: {v['below_reference']}, "
              f"peak {v['peak_flops_per_s']}, matmul/peak {v['matmul_share_of_peak']}, "
              f"conditions {v['conditions']}")  # fmt: skip
    print(f"telemetry: {tele['samples']} samples; gpu {tele['gpu']}")
    print(f"           cpu {tele['cpu']}")
    for row in result["samples"][:5]:
        print("  sample", json.dumps(row, sort_keys=True))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gpus", type=int, default=1, help="GPUs the NVML sampler reads")
    p.add_argument("--seconds", type=float, default=1.0, help="per calibration probe")
    p.add_argument("--idle-s", type=float, default=3.0, help="idle sampling after it")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    args = p.parse_args(argv)
    try:
        NvmlSampler.open(args.gpus).close()
    except NvmlUnavailable as exc:
        print(f"no NVIDIA GPU: {exc}; nothing measured")
        return 0
    result = measure(args.gpus, args.seconds, args.idle_s)
    verdicts = judge(result)
    if args.json:
        print(json.dumps({**result, "tracks": verdicts}, sort_keys=True))
    else:
        report(result, verdicts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
