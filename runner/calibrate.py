"""The machine's calibration: a fixed matmul probe and a memory-bandwidth probe, run where the
attempt runs (its container, its devices, its CPU quota), untimed, before each attempt.

    python -m runner.calibrate --device cpu --threads 2 [--seconds 1.0]

prints one JSON object: `matmul_flops_per_s` (square matmuls of a fixed size and dtype, 2 n^3
flops each, repeated for about `--seconds`), `memory_bytes_per_s` (copies of one large tensor
into another: bytes read plus bytes written), the probe's own `seconds`, and what was run.
The sizes are fixed per device so figures compare across machines: fp32 1024 x 1024 on CPU
(the CPU tracks train in fp32), bf16 8192 x 8192 on CUDA (the GPU tracks' dtype, big enough
to saturate a tensor-core GPU). The runner compares them with the track's references
(speedrun.machine); a slow machine is marked, never refused. torch is imported only inside
functions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Probe:
    matmul_n: int
    matmul_dtype: str
    copy_bytes: int


PROBES = {
    "cpu": Probe(matmul_n=1024, matmul_dtype="float32", copy_bytes=256 * 1024**2),
    "cuda": Probe(matmul_n=8192, matmul_dtype="bfloat16", copy_bytes=2 * 1024**3),
}
MIN_REPEATS = 3  # a figure from at least this many timed repeats, however slow the machine


def calibrate(device: str, *, threads: int | None = None, seconds: float = 1.0) -> dict[str, Any]:
    """Both probes on `device` ("cpu", or every visible CUDA device in turn), ~`seconds`
    each; the headline figures are the slowest device's (one bad GPU slows a whole node)."""
    torch = _torch()
    if threads:
        torch.set_num_threads(threads)  # the attempt's cores, not the host's
    probe = PROBES[device]
    started = time.perf_counter()
    if device == "cuda":
        per_device = []
        for index in range(torch.cuda.device_count()):
            with torch.cuda.device(index):
                per_device.append(_figures(device, probe, seconds))
    else:
        per_device = [_figures(device, probe, seconds)]
    slowest = min(per_device, key=lambda f: f["matmul_flops_per_s"])
    return {
        "device": device,
        **slowest,
        "memory_bytes_per_s": min(f["memory_bytes_per_s"] for f in per_device),
        "seconds": round(time.perf_counter() - started, 3),
        "per_device": per_device if device == "cuda" else None,
        "matmul": {"n": probe.matmul_n, "dtype": probe.matmul_dtype},
        "copy_bytes": probe.copy_bytes,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def _figures(device: str, probe: Probe, seconds: float) -> dict[str, Any]:
    return {
        "device_name": _device_name(device),
        "matmul_flops_per_s": matmul_rate(device, probe, seconds),
        "memory_bytes_per_s": copy_rate(device, probe, seconds / 2),
    }


def matmul_rate(device: str, probe: Probe, seconds: float) -> float:
    torch = _torch()
    n, dtype = probe.matmul_n, getattr(torch, probe.matmul_dtype)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    out = torch.empty_like(a)
    repeats, elapsed = _timed(device, lambda: torch.mm(a, b, out=out), seconds)
    return 2.0 * n**3 * repeats / elapsed


def copy_rate(device: str, probe: Probe, seconds: float) -> float:
    torch = _torch()
    src = torch.ones(probe.copy_bytes // 4, device=device, dtype=torch.float32)
    dst = torch.empty_like(src)
    repeats, elapsed = _timed(device, lambda: dst.copy_(src), seconds)
    return 2.0 * probe.copy_bytes * repeats / elapsed


def _timed(device: str, step: Any, seconds: float) -> tuple[int, float]:
    """(repeats, seconds) of `step` after one untimed warm-up, until `seconds` have passed."""
    sync = _torch().cuda.synchronize if device == "cuda" else (lambda: None)
    step()
    sync()
    repeats, started = 0, time.perf_counter()
    while True:
        step()
        repeats += 1
        if repeats % 4 == 0 or repeats < MIN_REPEATS + 1:
            sync()
            elapsed = time.perf_counter() - started
            if repeats >= MIN_REPEATS and elapsed >= seconds:
                return repeats, elapsed


def _device_name(device: str) -> str:
    torch = _torch()
    if device == "cuda":
        return str(torch.cuda.get_device_name())
    from runner.fingerprint import cpuinfo_field

    return cpuinfo_field("model name") or "cpu"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m runner.calibrate")
    p.add_argument("--device", choices=sorted(PROBES), required=True)
    p.add_argument("--threads", type=int, default=None, help="CPU threads (the attempt's cores)")
    p.add_argument("--seconds", type=float, default=1.0, help="about this long per probe")
    args = p.parse_args(argv)
    if not 0 < args.seconds <= 30:
        p.error("--seconds must be in (0, 30]")
    if args.device == "cuda" and not _torch().cuda.is_available():
        print("calibrate: no CUDA device is visible", file=sys.stderr)
        return 2
    json.dump(calibrate(args.device, threads=args.threads, seconds=args.seconds), sys.stdout)
    sys.stdout.write("\n")
    return 0


def _torch() -> Any:
    """torch, imported on first use and typed loosely: the module stays importable without it."""
    import torch

    return torch


if __name__ == "__main__":
    sys.exit(main())
