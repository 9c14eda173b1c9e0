"""The compute block: training FLOPs = 3 x forward per token x the variant's self-reported
tokens (checked against the track's ceiling), MFU against the calibration's matmul rate on CPU
and against the vendor's peak from the track's table on GPUs."""

from __future__ import annotations

from typing import Any

import pytest

from runner.compute import compute_block, peak_per_accelerator
from speedrun.tracks import get_track

TINY = get_track("cpu-tiny")
H100 = get_track("gpt2-124m-8xh100")
EVAL = {"forward_flops_per_token": 2_162_688.0, "flops_method": "FlopCounterMode ..."}
CPU_HW = {"cpu_model": "AMD EPYC", "calibration": {"matmul_flops_per_s": 40e9}}


def test_cpu_mfu_against_the_calibration() -> None:
    figures = {"train_tokens": 655_360, "time_ms": 120_000.0}
    block = compute_block(TINY, figures, EVAL, CPU_HW)
    assert block is not None
    training = 3 * 2_162_688.0 * 655_360
    assert block["training_flops"] == training
    assert block["accelerators"] == 2 and block["peak_source"] == "calibration"
    assert block["peak_flops_per_accelerator"] == 20e9  # the container's rate over 2 processes
    assert block["mfu"] == pytest.approx(training / (120 * 2 * 20e9), rel=1e-5)
    assert block["train_tokens_source"] == "self-reported"
    assert block["train_tokens_within_ceiling"] is True
    assert block["flops_method"] == "FlopCounterMode ..."


def test_tokens_beyond_the_ceiling_are_marked() -> None:
    over = TINY.scale.max_train_tokens + 1
    block = compute_block(TINY, {"train_tokens": over, "time_ms": 1.0}, EVAL, CPU_HW)
    assert block is not None and block["train_tokens_within_ceiling"] is False
    assert block["training_flops"] == 3 * EVAL["forward_flops_per_token"] * over


@pytest.mark.parametrize("tokens", [None, "655360", True])
def test_no_reported_tokens_means_no_training_flops(tokens: Any) -> None:
    block = compute_block(TINY, {"train_tokens": tokens, "time_ms": 5.0}, EVAL, CPU_HW)
    assert block is not None
    assert block["train_tokens"] is None and block["training_flops"] is None
    assert block["mfu"] is None and block["train_tokens_within_ceiling"] is False
    assert block["forward_flops_per_token"] == EVAL["forward_flops_per_token"]


def test_gpu_mfu_against_the_vendor_peak() -> None:
    hw = {"gpu_model": "NVIDIA H100 80GB HBM3"}
    figures = {"train_tokens": 10 * 524_288, "time_ms": 1000.0}
    block = compute_block(H100, figures, {"forward_flops_per_token": 1e9}, hw)
    assert block is not None and block["accelerators"] == 8
    assert block["peak_flops_per_accelerator"] == 989.4e12
    assert "H100 datasheet" in block["peak_source"]
    assert block["mfu"] == pytest.approx(3 * 1e9 * 10 * 524_288 / (1.0 * 8 * 989.4e12), rel=1e-5)


def test_no_peak_no_mfu() -> None:
    peak, source = peak_per_accelerator(H100, {"gpu_model": "Tesla T4"})
    assert peak is None and "Tesla T4" in source
    assert peak_per_accelerator(TINY, {"cpu_model": "x"}) == (None, "calibration (none measured)")
    block = compute_block(H100, {"train_tokens": 1, "time_ms": 1.0}, EVAL, {"gpu_model": None})
    assert block is not None and block["mfu"] is None


@pytest.mark.parametrize(
    "evaluation",
    [None, {}, {"forward_flops_per_token": 0}, {"forward_flops_per_token": float("nan")}],
)
def test_no_counted_flops_no_block(evaluation: Any) -> None:
    assert compute_block(TINY, {"train_tokens": 1, "time_ms": 1.0}, evaluation, CPU_HW) is None


def test_a_failed_run_without_time_has_flops_but_no_mfu() -> None:
    block = compute_block(TINY, {"train_tokens": 4096, "time_ms": None}, EVAL, CPU_HW)
    assert block is not None and block["training_flops"] > 0 and block["mfu"] is None
