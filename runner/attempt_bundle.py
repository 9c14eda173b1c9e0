"""What an attempt's signed bundle holds: its members (variant, log, events, config, the
evaluator's result and log) and its manifest, with every rule of speedrun.rules applied."""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any

from runner import verdicts
from runner.attempt_context import AttemptRequest, SessionContext
from runner.attempt_eval import EvalRun
from runner.backends import ProcessResult
from runner.events import ChannelLog
from runner.manifest import data_block, runner_block
from runner.safefs import UnsafeFileError, list_regular_files, read_regular_file
from runner.timing import Timing
from runner.trainlog import compose_log
from runner.workspace import Workspace
from speedrun import rules
from speedrun.tracks import Track

MAX_LOG_BYTES = 16 * 1024 * 1024


def bundle_members(
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


def build_manifest(
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
