"""One attempt, end to end: workspace, training process, clock, evaluation, signed bundle.

    1. copy the variant into a fresh workspace; write the harness config; make the FIFO
       (runner.attempt_specs)
    2. run `torchrun` on the variant through the backend, under the wall-clock limit,
       stamping events and streaming the log to the progress display; the training data
       unlocks at the first `warmup_end`, and the model file is hashed when `export` arrives
    3. official time from the runner's clock (runner.timing); before the training, untimed, a
       calibration of the machine where it runs, and during it the runner's telemetry
       (runner.attempt_machine)
    4. harness variants: copy the export out (no symlinks followed; it must be the file
       hashed at `export`) and evaluate it in a separate process that alone sees the scored
       tokens and the private held-out slice (runner.attempt_eval, runner.evaluate)
    5. judge status (runner.verdicts), apply every rule (speedrun.rules: a broken one makes
       the run a `rule_violation`), write the manifest and sign the bundle
       (runner.attempt_bundle)

Nothing is written to the output directory but the finished bundle (atomically renamed);
the workspace is removed whatever happens.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

from runner import verdicts
from runner.attempt_bundle import build_manifest, bundle_members
from runner.attempt_context import AttemptOutcome, AttemptRequest, SessionContext
from runner.attempt_eval import EvalRun, ExportWatch, evaluate
from runner.attempt_machine import MEMBER as TELEMETRY_MEMBER
from runner.attempt_machine import add_machine_blocks, run_calibration, start_telemetry
from runner.attempt_specs import train_spec
from runner.backends import ProcessResult, ProcessSpec
from runner.events import ChannelLog, Event, EventChannel
from runner.manifest import utc_now, write_bundle_file
from runner.telemetry import TelemetryLog
from runner.timing import Caps, Timing, harness_timing, legacy_timing
from runner.trainlog import self_report
from runner.workspace import Workspace
from speedrun.harness import is_harness_variant

__all__ = ["AttemptOutcome", "AttemptRequest", "SessionContext", "run_attempt"]


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
        ctx.progress.note("calibrating")
        calibration = run_calibration(ctx, run_id)  # untimed, before the clock starts
        spec, config_json = train_spec(ctx, ws, req, harness, run_id)
        watch = ExportWatch(ws)
        proc, channel_log, telemetry = _train(ctx, ws, spec, watch)
        timing = _timing(ctx, harness, proc, channel_log)
        evaluation = None
        if harness and proc.exit_code == 0 and timing.time_ms is not None:
            ctx.progress.note("evaluating")
            evaluation = evaluate(ctx, ws, run_id)
            breaches = watch.problems(evaluation.model_sha256)
            timing = replace(timing, problems=(*timing.problems, *breaches))
        finished_at = utc_now()
        members = bundle_members(ctx, ws, req, proc, channel_log, config_json, evaluation, harness)
        members[TELEMETRY_MEMBER] = telemetry.member
        judged = _judge(ctx, req, harness, proc, timing, evaluation, channel_log, members)
        manifest = build_manifest(
            ctx, req, run_id, harness, proc, timing, judged, evaluation, started_at, finished_at
        )
        result = evaluation.result if evaluation else None
        add_machine_blocks(manifest, ctx.track, calibration, telemetry, result)
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


def _train(
    ctx: SessionContext, ws: Workspace, spec: ProcessSpec, watch: ExportWatch
) -> tuple[ProcessResult, ChannelLog, TelemetryLog]:
    """The training process, with the event channel open and the runner's telemetry sampling
    the host (and, once it runs, the process's cgroup) throughout."""
    channel = EventChannel(ws.fifo, on_event=_on_event(ctx, ws, watch)).start()
    sampler = start_telemetry(ctx.track)
    try:
        proc = ctx.backend.run(spec, on_line=ctx.progress.line, on_start=sampler.attach)
    finally:
        channel_log = channel.stop()
        telemetry = sampler.stop()
    return proc, channel_log, telemetry


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
