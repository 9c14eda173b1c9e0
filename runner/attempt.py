"""One attempt, end to end: workspace, training process, clock, evaluation, signed bundle.

    1. copy the variant into a fresh workspace; write the harness config; make the FIFO
    2. run `torchrun` on the variant through the backend, under the wall-clock limit,
       stamping events and streaming the log to the progress display; the training data
       unlocks at the first `warmup_end`, and the model file is hashed when `export` arrives
    3. official time from the runner's clock (runner.timing)
    4. harness variants: copy the export out (no symlinks followed; it must be the file
       hashed at `export`) and evaluate it in a separate process that alone sees the scored
       tokens and the private held-out slice (runner.evaluate)
    5. judge status (runner.verdicts), apply every rule (speedrun.rules: a broken one makes
       the run a `rule_violation`), write the manifest and sign the bundle

Nothing is written to the output directory but the finished bundle (atomically renamed);
the workspace is removed whatever happens.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runner import verdicts
from runner.backends import Backend, Mount, ProcessResult, ProcessSpec
from runner.events import ChannelLog, Event, EventChannel
from runner.manifest import data_block, runner_block, utc_now, write_bundle_file
from runner.progress import Progress
from runner.safefs import (
    UnsafeFileError,
    copy_regular_file,
    hash_regular_file,
    list_regular_files,
    read_regular_file,
)
from runner.timing import Caps, Timing, harness_timing, legacy_timing
from runner.trackdata import TrackData
from runner.trainlog import compose_log, self_report
from runner.workspace import Workspace
from speedrun import rules
from speedrun.data import shards
from speedrun.harness import (
    CONFIG_ENV,
    EVENTS_ENV,
    MODEL_FILE,
    HarnessConfig,
    Scale,
    is_harness_variant,
)
from speedrun.tracks import Track

MAX_MODEL_BYTES = 8 * 1024**3
MAX_LOG_BYTES = 16 * 1024 * 1024
CONTAINER_ROOT = "/speedrun"


@dataclass
class SessionContext:
    track: Track
    backend: Backend
    key: Ed25519PrivateKey
    data: TrackData
    software: dict[str, Any]
    hardware: dict[str, Any]
    out_dir: Path
    time_limit_s: float
    progress: Progress
    group_id: str
    work_parent: Path | None = None
    job: dict[str, Any] | None = None  # {"id", "nonce"} of the server job, when there is one

    @property
    def eval_limit_s(self) -> float:
        # Generous: a busy host (several agents, CPU hogs) slows the evaluator too, and an
        # evaluation cut short costs a whole training run.
        limits = self.track.limits
        return max(300.0, float(limits.untimed_cap_s), limits.wall_clock_s / 4)


@dataclass(frozen=True)
class AttemptRequest:
    variant_name: str
    source: bytes
    seed: int
    index: int
    label: str
    bundle_name: str
    ab: dict[str, Any] | None = None


@dataclass(frozen=True)
class AttemptOutcome:
    run_id: str
    seed: int
    status: str
    reason: str | None
    time_ms: float | None
    val_loss: float | None
    flags: list[str]
    bundle_path: Path
    manifest: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class EvalRun:
    result: dict[str, Any] | None  # the evaluator's JSON, when it wrote one
    process: ProcessResult | None
    error: str | None  # why there is no loss (copying the model, crash, timeout)
    model_sha256: str | None = None  # of the copy the evaluator read


class ExportWatch:
    """The model file's sha256 when the `export` event arrives: after that, the file must not
    change (what is evaluated is what existed when the clock stopped)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.seen = False
        self.sha256: str | None = None
        self.error = ""

    def on_export(self) -> None:
        if self.seen:
            return
        self.seen = True
        try:
            self.sha256 = hash_regular_file(self.ws.out, MODEL_FILE, max_bytes=MAX_MODEL_BYTES)
        except (UnsafeFileError, OSError) as exc:
            self.error = str(exc)

    def problems(self, evaluated_sha256: str | None) -> list[str]:
        if not self.seen:
            return []
        if self.sha256 is None:
            return [f"no model file when the export event arrived ({self.error[:200]})"]
        if evaluated_sha256 != self.sha256:
            return ["the model file changed (or vanished) after the export event"]
        return []


def _on_event(ctx: SessionContext, ws: Workspace, watch: ExportWatch) -> Callable[[Event], None]:
    def handle(event: Event) -> None:
        if event.name == "warmup_end":
            ws.unlock_data()  # the first one opens the training data; later ones change nothing
        elif event.name == "export":
            watch.on_export()
        ctx.progress.event(event)

    return handle


def run_attempt(ctx: SessionContext, req: AttemptRequest) -> AttemptOutcome:
    harness = is_harness_variant(req.source.decode("utf-8", errors="replace"))
    run_id = uuid.uuid4().hex
    ws = Workspace.create(req.source, req.variant_name, parent=ctx.work_parent)
    try:
        ctx.progress.begin(req.label)
        started_at = utc_now()
        spec, config_json = _train_spec(ctx, ws, req, harness, run_id)
        watch = ExportWatch(ws)
        channel = EventChannel(ws.fifo, on_event=_on_event(ctx, ws, watch)).start()
        try:
            proc = ctx.backend.run(spec, on_line=ctx.progress.line)
        finally:
            channel_log = channel.stop()
        timing = _timing(ctx, harness, proc, channel_log)
        evaluation = None
        if harness and proc.exit_code == 0 and timing.time_ms is not None:
            ctx.progress.note("evaluating")
            evaluation = _evaluate(ctx, ws, run_id)
            breaches = watch.problems(evaluation.model_sha256)
            timing = replace(timing, problems=(*timing.problems, *breaches))
        finished_at = utc_now()
        members = _members(ctx, ws, req, proc, channel_log, config_json, evaluation, harness)
        judged = _judge(ctx, req, harness, proc, timing, evaluation, channel_log, members)
        manifest = _manifest(
            ctx, req, run_id, harness, proc, timing, judged, evaluation, started_at, finished_at
        )
        path = write_bundle_file(ctx.out_dir, req.bundle_name, manifest, members, ctx.key)
    finally:
        ws.remove()
    figures = manifest["figures"]
    ctx.progress.end(verdicts.one_line(manifest))
    return AttemptOutcome(
        run_id=run_id,
        seed=req.seed,
        status=manifest["exit"]["status"],
        reason=manifest["exit"]["reason"],
        time_ms=figures["time_ms"],
        val_loss=figures["val_loss"],
        flags=judged.flags,
        bundle_path=path,
        manifest=manifest,
    )


def _timing(ctx: SessionContext, harness: bool, proc: ProcessResult, channel: ChannelLog) -> Timing:
    if not harness:
        return legacy_timing(proc.t0_s, proc.t_end_s)
    limits = ctx.track.limits
    caps = Caps(limits.untimed_cap_s, limits.val_pause_share, limits.export_allowance_s)
    timing = harness_timing(channel.events, t0_s=proc.t0_s, t_end_s=proc.t_end_s, caps=caps)
    channel_problems = tuple(f"event channel: {p}" for p in channel.problems[:20])
    return replace(timing, problems=(*timing.problems, *channel_problems))


def _judge(
    ctx: SessionContext,
    req: AttemptRequest,
    harness: bool,
    proc: ProcessResult,
    timing: Timing,
    evaluation: EvalRun | None,
    channel: ChannelLog,
    members: dict[str, bytes],
) -> verdicts.Judged:
    """Status, figures and flags; a legacy script's own log file is preferred for what it
    self-reports (its console may carry fewer lines)."""
    log = members.get("variant_log.txt") or members["log.txt"]
    return verdicts.judge(
        track=ctx.track,
        harness=harness,
        proc=proc,
        timing=timing,
        report=self_report(log.decode("utf-8", "replace"), source=req.variant_name),
        evaluation=evaluation.result if evaluation else None,
        eval_error=evaluation.error if evaluation else None,
        eval_exit=evaluation.process.exit_code if evaluation and evaluation.process else None,
        time_limit_s=ctx.time_limit_s,
    )


def _visible(ctx: SessionContext, mount: Mount) -> str:
    return ctx.backend.visible_path(mount.target, mount.source)


def _train_spec(
    ctx: SessionContext, ws: Workspace, req: AttemptRequest, harness: bool, run_id: str
) -> tuple[ProcessSpec, bytes | None]:
    track = ctx.track
    variant = Mount(ws.variant.parent, f"{CONTAINER_ROOT}/variant")
    out = Mount(ws.out, f"{CONTAINER_ROOT}/out", read_only=False)
    mounts = [variant, Mount(ws.ctl, f"{CONTAINER_ROOT}/ctl"), out]
    out_dir = _visible(ctx, out)
    env = {"SPEEDRUN_SEED": str(req.seed), "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    if ctx.backend.name == "docker":
        env["HOME"] = "/tmp"
    config_json: bytes | None = None
    if harness:
        config_json = _harness_view(ctx, ws, req.seed, out_dir, mounts, env)
    else:
        # Legacy scripts read data/<dataset>/... relative to their working directory.
        folder = Mount(ctx.data.folder, f"{CONTAINER_ROOT}/data/{ctx.data.folder.name}")
        mounts.append(folder)
        os.symlink(os.path.dirname(_visible(ctx, folder)), ws.out / "data")
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
        train_files=[_visible(ctx, m) for m in data],
        dev_file=_visible(ctx, dev_mount) if dev_mount else None,
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


def _evaluate(ctx: SessionContext, ws: Workspace, run_id: str) -> EvalRun:
    """Copy the export out of the training's directory (no link followed) and evaluate it
    in a process of its own, the only one that sees the scored tokens."""
    model = ws.eval_model / MODEL_FILE
    try:
        copy_regular_file(ws.out, MODEL_FILE, model, max_bytes=MAX_MODEL_BYTES)
    except (UnsafeFileError, FileNotFoundError) as exc:
        return EvalRun(None, None, f"no usable exported model at {MODEL_FILE}: {exc}")
    model.chmod(0o644)
    digest = shards.sha256_file(model)
    proc = ctx.backend.run(_eval_spec(ctx, ws, run_id))
    if proc.timed_out:
        return EvalRun(None, proc, f"evaluation exceeded {ctx.eval_limit_s:.0f} s", digest)
    try:
        result = json.loads(read_regular_file(ws.eval_out, "result.json", max_bytes=1 << 20))
    except (UnsafeFileError, FileNotFoundError, ValueError):
        tail = verdicts.last_lines(proc.output, 3)
        return EvalRun(None, proc, f"evaluator exited {proc.exit_code}: {tail}", digest)
    return EvalRun(result if isinstance(result, dict) else None, proc, None, digest)


def _eval_spec(ctx: SessionContext, ws: Workspace, run_id: str) -> ProcessSpec:
    track, slice_file = ctx.track, ctx.data.derived.slice_file
    mounts = [
        Mount(ws.eval_model, f"{CONTAINER_ROOT}/model"),
        Mount(slice_file, f"{CONTAINER_ROOT}/val/{slice_file.name}"),
        Mount(ws.eval_out, f"{CONTAINER_ROOT}/evalout", read_only=False),
    ]
    model_dir, tokens, out_dir = (_visible(ctx, m) for m in mounts)
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
        args["--private-tokens"] = _visible(ctx, mounts[-1])
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


def _members(
    ctx: SessionContext,
    ws: Workspace,
    req: AttemptRequest,
    proc: ProcessResult,
    channel: ChannelLog,
    config_json: bytes | None,
    evaluation: EvalRun | None,
    harness: bool,
) -> dict[str, bytes]:
    source = req.source.decode("utf-8", errors="replace")
    log = compose_log(source, ctx.software, ctx.hardware, proc.output)
    members = {
        f"variant/{req.variant_name}": req.source,
        "log.txt": log.encode("utf-8")[:MAX_LOG_BYTES],
        "events.jsonl": "".join(
            json.dumps(e.to_json(proc.t0_s), sort_keys=True) + "\n" for e in channel.events
        ).encode("utf-8"),
    }
    if config_json is not None:
        members["config.json"] = config_json
    if evaluation is not None and evaluation.result is not None:
        members["eval.json"] = json.dumps(evaluation.result, indent=2, sort_keys=True).encode()
    if evaluation is not None and evaluation.process is not None:
        members["eval.log"] = evaluation.process.output.encode("utf-8")[:MAX_LOG_BYTES]
    if not harness:
        for name in list_regular_files(ws.out, "logs", ".txt")[:1]:
            with contextlib.suppress(UnsafeFileError):
                members["variant_log.txt"] = read_regular_file(
                    ws.out, name, max_bytes=MAX_LOG_BYTES
                )
    return members


def _manifest(
    ctx: SessionContext,
    req: AttemptRequest,
    run_id: str,
    harness: bool,
    proc: ProcessResult,
    timing: Timing,
    judged: verdicts.Judged,
    evaluation: EvalRun | None,
    started_at: str,
    finished_at: str,
) -> dict[str, Any]:
    image = ctx.backend.describe() if ctx.backend.name == "docker" else None
    manifest: dict[str, Any] = {
        "schema_version": 1,
        "kind": "speedrun-run",
        "run_id": run_id,
        "group_id": ctx.group_id,
        "attempt_index": req.index,
        "job": ctx.job,
        "track": {"id": ctx.track.id, "version": ctx.track.version},
        "variant": {
            "sha256": hashlib.sha256(req.source).hexdigest(),
            "path": f"variant/{req.variant_name}",
            "harness": harness,
            "name": req.variant_name,
        },
        "backend": ctx.backend.name,
        "seed": req.seed,
        "ab": req.ab,
        "exit": {"status": judged.status, "code": proc.exit_code, "reason": judged.reason},
        "figures": judged.figures,
        "flags": judged.flags,
        "fingerprint": {
            "image": image,
            "data": {**data_block(ctx.track, ctx.data.sha256), "held_out": ctx.data.held_out},
            "software": ctx.software,
            "hardware": ctx.hardware,
        },
        "runner": runner_block(ctx.key),
        "started_at": started_at,
        "finished_at": finished_at,
        "timing": verdicts.timing_block(timing, proc, ctx.time_limit_s),
        "evaluation": verdicts.evaluation_block(evaluation.result if evaluation else None),
        "sandbox": verdicts.sandbox_block(ctx.backend.name, ctx.track, harness),
    }
    return _apply_rules(manifest, ctx.track)


def _apply_rules(manifest: dict[str, Any], track: Track) -> dict[str, Any]:
    """Every rule of speedrun.rules: a completed run that breaks one is a rule violation."""
    status, reason = rules.effective_status(manifest, track)
    manifest["exit"] = {**manifest["exit"], "status": status, "reason": reason}
    manifest["violations"] = rules.violations(manifest, track)
    held = manifest["fingerprint"]["data"]["held_out"]["kind"]
    if track.evaluation.held_out != "none" and held == "none":
        note = "held-out: none (no deployment secret: public data, never an official run)"
        manifest["flags"] = [*manifest["flags"], note]
    return manifest
