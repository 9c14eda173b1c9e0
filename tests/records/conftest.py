"""Shared fixtures for the record variants' tests: import a train_gpt.py by path (never running
its main), build the cpu-smoke data once per session, and launch real torchrun attempts."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from speedrun import harness
from speedrun.data.fetch import fetch_track_data
from speedrun.tracks import get_track

RECORDS = Path(__file__).resolve().parents[2] / "records"


def load_variant(name: str) -> ModuleType:
    """Import records/<name>/train_gpt.py as a module (its main() is not run)."""
    path = RECORDS / name / "train_gpt.py"
    module_name = "record_" + name.replace("-", "_")
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def seed_recipe() -> ModuleType:
    return load_variant("seed-recipe")


@pytest.fixture(scope="session")
def llmc_baseline() -> ModuleType:
    return load_variant("llmc-baseline")


def build_data(tmp_path_factory: pytest.TempPathFactory, track_id: str) -> Path:
    data_dir = tmp_path_factory.mktemp(f"data-{track_id}")
    fetch_track_data(get_track(track_id), data_dir, progress=False)
    return data_dir


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory, "cpu-tiny")


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory, "cpu-smoke")


def runner_config(track_id: str, data_dir: Path, out: Path, seed: int) -> Path:
    """A configuration as the runner writes it: no scored slice, a dev shard instead (here the
    validation shard itself, which is fine for a test)."""
    cfg = harness.standalone_config(track_id, data_dir, out, seed)
    cfg = replace(cfg, dev_file=cfg.val_file, val_file=None, val_tokens=None)
    path = out / "config.json"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(cfg.to_json())
    return path


def run_torchrun(
    variant: str,
    args: list[str],
    *,
    nproc: int = 2,
    env: dict[str, str] | None = None,
    timeout_s: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`torchrun --standalone --nproc_per_node=N records/<variant>/train_gpt.py ARGS`."""
    script = str(RECORDS / variant / "train_gpt.py")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd = [*launcher, f"--nproc_per_node={nproc}", script, *args]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", harness.CONFIG_ENV, harness.EVENTS_ENV):
        if env is None or key not in env:
            full_env.pop(key, None)
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=full_env, timeout=timeout_s, check=False
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="session")
def torchrun() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_torchrun


@pytest.fixture(scope="session")
def make_runner_config() -> Callable[[str, Path, Path, int], Path]:
    return runner_config
