"""The machine parts of a manifest, as the runner writes them (issue 17), for tests that need
them chosen by hand: the hardware fingerprint of a named host with its calibration, the
compute block, the telemetry summary and the `telemetry.jsonl` samples behind it.

Pass the blocks to `support.bundles.manifest` / `make_bundle` (`hardware=`, `compute=`,
`telemetry=`, and the samples through `extra_members=`). The figures default to a healthy
2-core machine on cpu-tiny (its calibration reference is 4e10 FLOP/s and 8e9 B/s).
"""

from __future__ import annotations

import json
from typing import Any

TELEMETRY_MEMBER = "telemetry.jsonl"


def calibration(
    *, matmul: float = 5.0e10, memory: float = 1.2e10, below: bool = False
) -> dict[str, Any]:
    return {
        "device": "cpu",
        "matmul_flops_per_s": matmul,
        "memory_bytes_per_s": memory,
        "seconds": 2.5,
        "reference": {"matmul_flops_per_s": 4.0e10, "memory_bytes_per_s": 8.0e9},
        "tolerance": 0.5,
        "below_reference": below,
    }


def hardware(
    host: str = "node-a", *, cal: dict[str, Any] | None = None, gpus: list[str] | None = None
) -> dict[str, Any]:
    """A CPU host's fingerprint (with GPUs by UUID when `gpus` names some)."""
    hw: dict[str, Any] = {
        "host": host,
        "machine": "x86_64",
        "cpu_model": "AMD EPYC 7B13",
        "cpu_count": 2,
        "calibration": cal if cal is not None else calibration(),
    }
    if gpus is not None:
        hw["gpus"] = [{"name": "NVIDIA H100 80GB HBM3", "uuid": u} for u in gpus]
    return hw


def compute(
    *,
    forward: float = 2.5e6,
    tokens: int = 2_000,
    time_ms: float = 1000.0,
    peak: float = 5.0e10,
    peak_source: str = "calibration: matmul rate of this machine",
) -> dict[str, Any]:
    """The compute block, its training FLOPs and MFU worked out as the runner does."""
    training = 3 * forward * tokens
    return {
        "forward_flops_per_token": forward,
        "flops_method": "torch.utils.flop_counter over the exported program",
        "train_tokens": tokens,
        "train_tokens_source": "self-reported",
        "train_tokens_within_ceiling": True,
        "training_flops": training,
        "accelerators": 1,
        "peak_flops_per_accelerator": peak,
        "peak_source": peak_source,
        "mfu": training / (time_ms / 1000 * peak),
    }


def telemetry(
    *,
    steal: float = 0.0,
    load1: float = 1.2,
    throttled: float = 0.0,
    samples: int = 60,
    conditions: list[str] | None = None,
) -> dict[str, Any]:
    """A telemetry summary; `conditions` is the runner's own list (the server recomputes it)."""
    return {
        "member": TELEMETRY_MEMBER,
        "samples": samples,
        "interval_s": 1.0,
        "cpu": {
            "cpus": 2,
            "mean_load1": load1,
            "max_load1": load1 * 1.5,
            "mean_steal_share": steal,
            "mean_iowait_share": 0.01,
            "mean_busy_share": 0.9,
            "min_freq_mhz": 2450.0,
            "throttled_share": throttled,
            "throttled_usec": int(throttled * samples * 1e6),
        },
        "gpu": None,
        "conditions": conditions if conditions is not None else [],
    }


def samples(n: int = 60, *, steal: float = 0.0, load1: float = 1.2) -> bytes:
    """`telemetry.jsonl` as runner.telemetry writes it: n samples a second apart, a load
    bump half-way."""
    lines = []
    for i in range(n):
        bump = 2.0 if n // 2 <= i < n // 2 + 5 else 1.0
        lines.append(
            {
                "t_s": float(i),
                "load1": load1 * bump,
                "running": 2,
                "steal": steal,
                "iowait": 0.01,
                "busy": 0.9,
                "freq_mhz": 2450.0,
                "nr_throttled": 0,
                "throttled_usec": 0,
            }
        )
    return "".join(json.dumps(x) + "\n" for x in lines).encode()


def telemetry_members(n: int = 60, **kw: Any) -> dict[str, bytes]:
    return {TELEMETRY_MEMBER: samples(n, **kw)}
