"""runner.attempt_specs: the processes of an attempt. The training sees the variant, its
control folder and its output; a harness variant gets the train shards and dev tail in the
locked data folder and a config naming them (never the scored slice); a legacy script gets
the data folder. The evaluation sees the export, the scored slice (and the private one) and
its own output. Both run with the track's bounds."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import session_context

from runner.attempt_context import AttemptRequest
from runner.attempt_specs import calibration_spec, eval_spec, train_spec
from runner.workspace import Workspace
from speedrun.harness import CONFIG_ENV, EVENTS_ENV, MODEL_FILE


@pytest.fixture
def ctx(smoke_data_dir: Path, tmp_path: Path) -> Any:
    return session_context(smoke_data_dir, tmp_path)


@pytest.fixture
def ws(tmp_path: Path) -> Any:
    workspace = Workspace.create(b"print(1)\n", "train_gpt.py", parent=tmp_path)
    yield workspace
    workspace.remove()


def request(seed: int = 7) -> AttemptRequest:
    return AttemptRequest("train_gpt.py", b"print(1)\n", seed, 0, "1/1", "b.bundle.tar.gz")


def test_a_harness_training_sees_its_shards_and_config_but_not_the_scored_slice(
    ctx: Any, ws: Any
) -> None:
    spec, config_json = train_spec(ctx, ws, request(), True, "run1")
    track = ctx.track
    assert config_json is not None and ws.config.read_bytes() == config_json
    config = json.loads(config_json)
    assert config["track"] == track.key and config["seed"] == 7
    assert config["model_path"] == f"{ws.out}/{MODEL_FILE}"
    # the local backend shows host paths; a container sees the shards mounted over empty
    # files in the data folder it cannot enter before warmup_end
    assert config["train_files"] == [str(p) for p in ctx.data.train_files]
    assert all((ws.data / p.name).is_file() for p in ctx.data.train_files)
    targets = [m.target for m in spec.mounts if m.source in ctx.data.train_files]
    assert targets == [f"/speedrun/data/{p.name}" for p in ctx.data.train_files]
    sources = {m.source for m in spec.mounts}
    assert set(ctx.data.train_files) <= sources and ctx.data.derived.dev_file in sources
    assert ctx.data.derived.slice_file not in sources and ctx.data.val_file not in sources
    assert [m.source for m in spec.mounts if not m.read_only] == [ws.out]
    assert spec.env[CONFIG_ENV] == str(ws.config) and spec.env[EVENTS_ENV] == str(ws.fifo)
    assert spec.env["SPEEDRUN_SEED"] == "7" and "HOME" not in spec.env  # local backend
    assert spec.env["PYTHONPATH"].split(os.pathsep)[0] == str(ws.ctl)  # runner.stdio_site
    assert spec.argv[1:4] == ["-m", "torch.distributed.run", "--standalone"]
    assert spec.argv[4] == f"--nproc_per_node={track.launcher.nproc_per_node}"
    assert spec.argv[-1] == str(ws.variant)
    assert (spec.memory_bytes, spec.pids, spec.gpus) == (
        track.limits.memory_bytes,
        track.limits.pids,
        0,
    )
    assert (
        spec.cpus == float(track.hardware.count) and spec.output_bytes == track.limits.output_bytes
    )
    assert spec.role == "train" and spec.labels == {"speedrun.run_id": "run1"}


def test_a_legacy_script_gets_the_data_folder_and_no_config(ctx: Any, ws: Any) -> None:
    spec, config_json = train_spec(ctx, ws, request(), False, "run2")
    assert config_json is None and not ws.config.exists()
    assert ctx.data.folder in {m.source for m in spec.mounts}
    assert (ws.out / "data").is_symlink()  # data/<dataset>/ relative to its working folder
    assert CONFIG_ENV not in spec.env and spec.cwd == str(ws.out)


def test_the_evaluation_sees_the_export_and_the_scored_slice_only(ctx: Any, ws: Any) -> None:
    spec = eval_spec(ctx, ws, "run3")
    track = ctx.track
    assert [m.source for m in spec.mounts] == [
        ws.eval_model,
        ctx.data.derived.slice_file,
        ws.eval_out,
    ]
    assert [m.read_only for m in spec.mounts] == [True, True, False]
    args = dict(zip(spec.argv[3::2], spec.argv[4::2], strict=True))
    assert spec.argv[1:3] == ["-m", "runner.evaluate"]
    assert args["--model"] == f"{ws.eval_model}/{MODEL_FILE}"
    assert args["--val-tokens"] == str(track.dataset.val_tokens)
    assert args["--out"] == f"{ws.eval_out}/result.json"
    assert "--private-tokens" not in args  # no held-out secret in this session
    assert spec.time_limit_s == ctx.eval_limit_s and spec.role == "eval"


def test_the_calibration_runs_on_the_tracks_cores_without_mounts(ctx: Any) -> None:
    spec = calibration_spec(ctx, "run4")
    assert spec.mounts == [] and spec.role == "calibrate"
    assert spec.argv[1:5] == ["-m", "runner.calibrate", "--device", "cpu"]
    assert spec.argv[-2:] == ["--threads", str(ctx.track.hardware.count)]
