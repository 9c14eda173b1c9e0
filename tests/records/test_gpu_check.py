"""benchmarks/gpu_check.py, without a GPU: the configuration it hands the variants, the commands,
and the arithmetic it reports (the GPU run itself needs CUDA)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from speedrun.logparse import format_step_line, parse_log

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gpu_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks/gpu_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


def test_config_is_one_gpus_share_of_record_12(
    gpu_check: ModuleType, seed_recipe: ModuleType, llmc_baseline: ModuleType, tmp_path: Path
) -> None:
    cfg, have_data = gpu_check.per_gpu_config(tmp_path / "no-data", tmp_path / "out", 0)
    assert not have_data and cfg.train_files == [] and cfg.val_file is None
    scale = cfg.scale
    assert (scale.device, scale.dtype, scale.world_size) == ("cuda", "bfloat16", 1)
    assert (scale.n_layer, scale.n_embd, scale.batch_tokens) == (12, 768, 65536)
    # one 64K-token row (seed recipe) / 64 rows of 1024 (baseline) per step, no accumulation
    sched = seed_recipe.SCHEDULES["gpt2-124m-1xgpu"]
    assert seed_recipe.batch_layout(scale, sched, 1) == (65536, 65536, 1)
    base = llmc_baseline.SCHEDULES["gpt2-124m-1xgpu"]
    assert llmc_baseline.batch_layout(scale, base, 1) == (1024, 65536, 1)
    cmd = gpu_check.command("seed-recipe", 40, random_data=True)
    assert cmd[-1] == "--random-data" and "--no-export" in cmd and "--nproc_per_node=1" in cmd


def test_reference_is_record_12s_step_avg(gpu_check: ModuleType) -> None:
    ms, _source = gpu_check.reference_step_ms()
    assert ms == pytest.approx(161.8, abs=0.1)


def test_steady_step_time_and_table(gpu_check: ModuleType) -> None:
    lines = [
        format_step_line(
            s,
            40,
            train_loss=5.0,
            train_time_ms=1000 + 150.0 * s,
            step_avg_ms=(1000 + 150.0 * s) / s,
        )
        for s in range(1, 41)
    ]
    [run] = parse_log("\n".join(lines) + "\npeak memory allocated: 100 MiB reserved: 120 MiB\n")
    assert gpu_check.steady_step_ms(run) == pytest.approx(150.0)
    row = {
        "variant": "seed-recipe",
        "data": "RANDOM",
        "steps": 40,
        "step_avg_ms": 175.0,
        "steady_step_ms": 150.0,
        "peak_alloc_mib": 100,
        "peak_reserved_mib": 120,
        "gpu": "X",
    }
    table = gpu_check.render([row], 161.84, "record #12 log")
    assert (
        "| seed-recipe | RANDOM | 40 | 175.0 ms | 150.0 ms | 100 / 120 MiB | 161.8 ms/step" in table
    )
