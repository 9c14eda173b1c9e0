"""The manifest's `compute` block: how much compute a run used and how well it used it.

training_flops = 3 x forward FLOPs per token x train tokens
    (the backward pass costs about twice the forward: Kaplan et al. 2020, arXiv:2001.08361,
    section 2.1; the forward figure is counted on the exported program by runner.flops;
    the tokens are what the variant reports at `done`, self-reported, and checked against
    the track's ceiling)
mfu = training_flops / (time_s x accelerators x peak FLOP/s per accelerator)
    (model FLOPs utilization: Chowdhery et al., PaLM, arXiv:2204.02311, Appendix B; the
    peak is the vendor's dense figure from the track's table on GPUs, and on CPU the
    calibration's matmul rate of the attempt's container shared by its processes)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from speedrun.machine import peak_for
from speedrun.tracks import Track

BACKWARD_FACTOR = 3  # forward + backward (about 2x forward)


def compute_block(
    track: Track,
    figures: Mapping[str, Any],
    evaluation: Mapping[str, Any] | None,
    hardware: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The block, or None when the evaluator counted no FLOPs (legacy variant, failed run)."""
    per_token = _positive((evaluation or {}).get("forward_flops_per_token"))
    if per_token is None:
        return None
    tokens = figures.get("train_tokens")
    tokens = tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None
    training = BACKWARD_FACTOR * per_token * tokens if tokens is not None else None
    accelerators = track.hardware.count
    peak, source = peak_per_accelerator(track, hardware)
    time_ms = _positive(figures.get("time_ms"))
    mfu = None
    if training is not None and time_ms is not None and peak is not None:
        mfu = training / (time_ms / 1000 * accelerators * peak)
    return {
        "forward_flops_per_token": per_token,
        "flops_method": str((evaluation or {}).get("flops_method", "")),
        "train_tokens": tokens,
        "train_tokens_source": "self-reported",
        "train_tokens_within_ceiling": tokens is not None
        and tokens <= track.scale.max_train_tokens,
        "train_tokens_ceiling": track.scale.max_train_tokens,
        "training_flops": training,
        "accelerators": accelerators,
        "peak_flops_per_accelerator": peak,
        "peak_source": source,
        "mfu": None if mfu is None else round(mfu, 6),
    }


def peak_per_accelerator(track: Track, hardware: Mapping[str, Any]) -> tuple[float | None, str]:
    """(peak FLOP/s per accelerator, where it comes from)."""
    if track.hardware.accelerator == "cpu":
        calibration = hardware.get("calibration")
        rate = _positive(calibration.get("matmul_flops_per_s")) if calibration else None
        if rate is None:
            return None, "calibration (none measured)"
        return rate / track.hardware.count, "calibration"
    name = hardware.get("gpu_model")
    peak = peak_for(track.machine, name) if isinstance(name, str) else None
    if peak is None:
        return None, f"no vendor peak for {name!r} in the track's table"
    return peak.flops_per_s, peak.source


def _positive(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) and value > 0 else None
