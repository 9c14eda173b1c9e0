"""The process specs of an attempt: the training run (with the harness view: mounted shards
and dev tail, the config file, the event channel) and the evaluation of its export."""

from __future__ import annotations

import os
from dataclasses import asdict

from runner.attempt_context import AttemptRequest, SessionContext
from runner.backends import Mount, ProcessSpec
from runner.workspace import Workspace
from speedrun.harness import CONFIG_ENV, EVENTS_ENV, MODEL_FILE, HarnessConfig, Scale
from speedrun.tracks import Track

CONTAINER_ROOT = "/speedrun"


def visible(ctx: SessionContext, mount: Mount) -> str:
    return ctx.backend.visible_path(mount.target, mount.source)


def train_spec(
    ctx: SessionContext, ws: Workspace, req: AttemptRequest, harness: bool, run_id: str
) -> tuple[ProcessSpec, bytes | None]:
    track = ctx.track
    variant = Mount(ws.variant.parent, f"{CONTAINER_ROOT}/variant")
    out = Mount(ws.out, f"{CONTAINER_ROOT}/out", read_only=False)
    mounts = [variant, Mount(ws.ctl, f"{CONTAINER_ROOT}/ctl"), out]
    out_dir = visible(ctx, out)
    env = {"SPEEDRUN_SEED": str(req.seed), "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env["PYTHONPATH"] = _site_path(ctx, ws)
    if ctx.backend.name == "docker":
        env["HOME"] = "/tmp"
    config_json: bytes | None = None
    if harness:
        config_json = _harness_view(ctx, ws, req.seed, out_dir, mounts, env)
    else:
        # Legacy scripts read data/<dataset>/... relative to their working directory.
        folder = Mount(ctx.data.folder, f"{CONTAINER_ROOT}/data/{ctx.data.folder.name}")
        mounts.append(folder)
        os.symlink(os.path.dirname(visible(ctx, folder)), ws.out / "data")
    argv = [
        ctx.backend.python,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={track.launcher.nproc_per_node}",
        ctx.backend.visible_path(f"{variant.target}/{req.variant_name}", ws.variant),
    ]
    spec = ProcessSpec(
        argv=argv,
        env=env,
        cwd=out_dir,
        mounts=mounts,
        time_limit_s=ctx.time_limit_s,
        memory_bytes=track.limits.memory_bytes,
        pids=track.limits.pids,
        gpus=track.hardware.count if track.hardware.accelerator == "cuda" else 0,
        role="train",
        labels={"speedrun.run_id": run_id},
        cpus=_cpus(track),
        output_dir=ws.out,
        output_bytes=track.limits.output_bytes,
    )
    return spec, config_json


def _site_path(ctx: SessionContext, ws: Workspace) -> str:
    """The control folder first, for its sitecustomize (runner.stdio_site: whole lines from
    every rank); a local interpreter keeps the path it was given after it."""
    ctl = ctx.backend.visible_path(f"{CONTAINER_ROOT}/ctl", ws.ctl)
    inherited = os.environ.get("PYTHONPATH", "") if ctx.backend.name == "local" else ""
    return os.pathsep.join(p for p in (ctl, inherited) if p)


def _cpus(track: Track) -> float | None:
    """A CPU track's processes get exactly its cores, however many the host has."""
    return float(track.hardware.count) if track.hardware.accelerator == "cpu" else None


def _harness_view(
    ctx: SessionContext,
    ws: Workspace,
    seed: int,
    out_dir: str,
    mounts: list[Mount],
    env: dict[str, str],
) -> bytes:
    """Mount the train shards and the dev tail (never the scored slice) inside the locked
    data folder, write the config; returns the config's bytes, which go into the bundle."""
    track = ctx.track
    folder = f"{CONTAINER_ROOT}/data"
    data = [Mount(p, f"{folder}/{ws.mount_point(p.name).name}") for p in ctx.data.train_files]
    dev = ctx.data.derived.dev_file
    dev_mount = Mount(dev, f"{folder}/{ws.mount_point(dev.name).name}") if dev else None
    # The folder first: the engine mounts each shard over its mount point inside it.
    mounts += [Mount(ws.data, folder), *data, *([dev_mount] if dev_mount else [])]
    config = HarnessConfig(
        track=track.key,
        scale=Scale(**asdict(track.scale)),
        seed=seed,
        train_files=[visible(ctx, m) for m in data],
        dev_file=visible(ctx, dev_mount) if dev_mount else None,
        output_dir=out_dir,
        model_path=f"{out_dir}/{MODEL_FILE}",
        eval_seq_len=track.evaluation.seq_len,
        eval_batch_seqs=track.evaluation.batch_seqs,
        eos_token=track.dataset.eos_token,
    )
    config_json = config.to_json().encode("utf-8")
    ws.config.write_bytes(config_json)
    ws.config.chmod(0o644)
    env[CONFIG_ENV] = ctx.backend.visible_path(f"{CONTAINER_ROOT}/ctl/config.json", ws.config)
    env[EVENTS_ENV] = ctx.backend.visible_path(f"{CONTAINER_ROOT}/ctl/events", ws.fifo)
    return config_json


def eval_spec(ctx: SessionContext, ws: Workspace, run_id: str) -> ProcessSpec:
    track, slice_file = ctx.track, ctx.data.derived.slice_file
    mounts = [
        Mount(ws.eval_model, f"{CONTAINER_ROOT}/model"),
        Mount(slice_file, f"{CONTAINER_ROOT}/val/{slice_file.name}"),
        Mount(ws.eval_out, f"{CONTAINER_ROOT}/evalout", read_only=False),
    ]
    model_dir, tokens, out_dir = (visible(ctx, m) for m in mounts)
    args = {
        "--model": f"{model_dir}/{MODEL_FILE}",
        "--tokens": tokens,
        "--seq-len": str(track.evaluation.seq_len),
        "--batch-seqs": str(track.evaluation.batch_seqs),
        "--val-tokens": str(track.dataset.val_tokens),
        "--vocab-size": str(track.scale.vocab_size),
        "--out": f"{out_dir}/result.json",
    }
    private = ctx.data.private_slice
    if private is not None:
        mounts.append(Mount(private, f"{CONTAINER_ROOT}/val/private_slice.bin"))
        args["--private-tokens"] = visible(ctx, mounts[-1])
        args["--private-val-tokens"] = str(track.evaluation.private_slice_tokens)
    env = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    if ctx.backend.name == "docker":
        env["HOME"] = "/tmp"
    return ProcessSpec(
        argv=[ctx.backend.python, "-m", "runner.evaluate", *(x for kv in args.items() for x in kv)],
        env=env,
        cwd=out_dir,
        mounts=mounts,
        time_limit_s=ctx.eval_limit_s,
        memory_bytes=track.limits.memory_bytes,
        pids=track.limits.pids,
        gpus=1 if track.hardware.accelerator == "cuda" else 0,
        role="eval",
        labels={"speedrun.run_id": run_id},
        cpus=_cpus(track),
        output_dir=ws.eval_out,
        output_bytes=1 << 24,
    )


CALIBRATION_S = {"cpu": 0.5, "cuda": 0.5}  # per probe (and per GPU): a few seconds in all


def calibration_spec(ctx: SessionContext, run_id: str) -> ProcessSpec:
    """runner.calibrate where the attempt runs: the same image, cores and GPUs, no mounts."""
    track = ctx.track
    device = track.hardware.accelerator
    argv = [ctx.backend.python, "-m", "runner.calibrate", "--device", device]
    argv += ["--seconds", str(CALIBRATION_S[device])]
    if device == "cpu":
        argv += ["--threads", str(track.hardware.count)]
    return ProcessSpec(
        argv=argv,
        env={"HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"},
        cwd="/tmp",
        mounts=[],
        time_limit_s=180,
        memory_bytes=track.limits.memory_bytes,
        pids=track.limits.pids,
        gpus=track.hardware.count if device == "cuda" else 0,
        role="calibrate",
        labels={"speedrun.run_id": run_id},
        cpus=_cpus(track),
    )
