"""Judging an attempt: its exit status, the figures that count, and the flags it earns.

Status, first match wins: `timeout` (killed at the wall-clock limit), `killed` (out of
memory or a signal), `failed` (non-zero exit, or a harness variant that never said `done`
or never exported its model), `rule_violation` (the evaluator refused the model: I/O or
non-ATen ops, mutated buffers, not causal, unreadable archive), `eval_failed` (the evaluator
itself failed), else `completed` — which the attempt then checks against every rule of
`speedrun.rules` (protocol, caps, agreement, held-out gap): a run that breaks one becomes a
`rule_violation` with the reasons.

Flags are facts worth a reader's attention that do not decide anything (the runs' data was
public, no sandbox).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from runner.backends import ProcessResult
from runner.timing import Timing, disagreement
from runner.trainlog import SelfReport
from runner.workspace import SANDBOX_GID, SANDBOX_UID
from speedrun.tracks import Track

TIME_TOLERANCE = 0.01  # runner vs script train time
LOSS_TOLERANCE = 0.05  # relative, self-reported vs independent val loss (dev vs val slice)


@dataclass(frozen=True)
class Judged:
    status: str
    reason: str | None
    figures: dict[str, Any]
    flags: list[str] = field(default_factory=list)


_EXCEPTION_RE = re.compile(
    r"^(?:\[rank\d+\]: )?((?:[A-Za-z_][\w.]*)?(?:Error|Exception|Exit)\b.*)$"
)


def failure_summary(text: str) -> str:
    """The last exception a traceback ended with (what a reader wants), else the last lines.

    torchrun ends a failed run with its own summary, which names no cause; the worker's
    traceback above it does."""
    for line in reversed(text.splitlines()):
        m = _EXCEPTION_RE.match(line.strip())
        if m and not m.group(1).startswith("torch.distributed.elastic"):
            return m.group(1)[:1000]
    return last_lines(text, 3)


def last_lines(text: str, n: int) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:])[-1000:] or "(no output)"


def judge(
    *,
    track: Track,
    harness: bool,
    proc: ProcessResult,
    timing: Timing,
    report: SelfReport,
    evaluation: dict[str, Any] | None,
    eval_error: str | None,
    eval_exit: int | None,
    time_limit_s: float,
) -> Judged:
    status, reason = _process_status(proc, track, time_limit_s)
    independent = private = None
    if status == "completed" and harness:
        status, reason, independent = _harness_status(timing, evaluation, eval_error, eval_exit)
        private = _finite((evaluation or {}).get("private_val_loss")) if independent else None
    if status == "completed" and not harness and report.val_loss is None:
        status, reason = "failed", f"no val_loss line in the log ({report.parse_error or 'none'})"
    script_ms = timing.script_train_time_ms if harness else report.train_time_ms
    figures = {
        "time_ms": timing.time_ms,
        "time_source": "runner-measured",
        "val_loss": independent if harness else report.val_loss,
        "val_loss_source": _loss_source(harness, independent, report.val_loss),
        "independent_val_loss": independent,
        "private_val_loss": private,
        "self_reported_val_loss": report.val_loss,
        "self_reported_train_time_ms": script_ms,
        "runner_train_time_ms": timing.time_to_done_ms if harness else timing.time_ms,
        "time_disagreement": disagreement(
            timing.time_to_done_ms if harness else timing.time_ms, script_ms
        ),
        "wall_ms": timing.wall_ms,
        "untimed_ms": timing.untimed_ms,
        "untimed_cap_ms": timing.untimed_cap_ms,
        "train_tokens": timing.train_tokens,
        "steps": report.steps,
        "peak_memory_bytes": proc.peak_memory_bytes,
    }
    return Judged(status=status, reason=reason, figures=figures, flags=[])


def _process_status(proc: ProcessResult, track: Track, limit_s: float) -> tuple[str, str | None]:
    if proc.timed_out:
        return "timeout", f"killed at the {limit_s:g} s wall-clock limit"
    if proc.limit_exceeded:
        return "killed", f"stopped by the runner: {proc.limit_exceeded}"
    if proc.oom_killed:
        return "killed", f"out of memory (limit {track.limits.memory_bytes} bytes)"
    if proc.killed_by_signal is not None:
        return "killed", f"killed by signal {proc.killed_by_signal}: {last_lines(proc.output, 2)}"
    if proc.exit_code != 0:
        return "failed", f"exit code {proc.exit_code}: {failure_summary(proc.output)}"
    return "completed", None


def _harness_status(
    timing: Timing, evaluation: dict[str, Any] | None, eval_error: str | None, eval_exit: int | None
) -> tuple[str, str | None, float | None]:
    if timing.time_ms is None:
        return "failed", "the variant never sent the `done` event", None
    if evaluation is not None and evaluation.get("ok") is False:
        return "rule_violation", f"evaluation refused the model: {evaluation.get('refused')}", None
    if evaluation is None or eval_error is not None:
        reason = eval_error or f"evaluator exited {eval_exit} without a result"
        status = "failed" if reason.startswith("no usable exported model") else "eval_failed"
        return status, reason, None
    loss = evaluation.get("val_loss")
    if not isinstance(loss, float) or not math.isfinite(loss):
        return "eval_failed", "the evaluator returned no finite loss", None
    return "completed", None, loss


def _loss_source(harness: bool, independent: float | None, reported: float | None) -> str:
    if harness:
        return "independently-evaluated" if independent is not None else "none"
    return "self-reported" if reported is not None else "none"


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def timing_block(timing: Timing, proc: ProcessResult, limit_s: float) -> dict[str, Any]:
    return {
        "clock": "runner monotonic; t0 = the runner starting the process",
        "method": "harness-events" if timing.untimed_cap_ms is not None else "process-wall",
        "wall_clock_limit_s": limit_s,
        "breakdown_ms": timing.breakdown_ms,
        "cap_exceeded": timing.cap_exceeded,
        "pause_cap_exceeded": timing.pause_cap_exceeded,
        "problems": list(timing.problems),
        "exit_code": proc.exit_code,
    }


def evaluation_block(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    keep = (
        "ok",
        "refused",
        "val_loss",
        "private_val_loss",
        "tokens_scored",
        "windows",
        "seq_len",
        "batch_seqs",
        "device",
        "duration_ms",
        "causality",
        "torch",
    )
    block = {k: result[k] for k in keep if k in result}
    block["op_count"] = len(result.get("ops", []))
    return block


def sandbox_block(backend: str, track: Track, harness: bool) -> dict[str, Any]:
    if backend != "docker":
        return {
            "kind": "none",
            "note": "local backend: no isolation",
            "val_visible_to_training": True,
        }
    return {
        "kind": "container",
        "network": "none",
        "read_only_rootfs": True,
        "user": f"{SANDBOX_UID}:{SANDBOX_GID}",
        "capabilities": [],
        "memory_bytes": track.limits.memory_bytes,
        "pids": track.limits.pids,
        "val_visible_to_training": not harness,
        "data_locked_until_warmup_end": harness,
    }


def one_line(manifest: dict[str, Any]) -> str:
    fig, status = manifest["figures"], manifest["exit"]["status"]
    time_s = f"{fig['time_ms'] / 1000:.3f} s" if fig["time_ms"] is not None else "-"
    loss = f"{fig['val_loss']:.4f}" if fig["val_loss"] is not None else "-"
    text = f"{status}  time {time_s}  val_loss {loss} ({fig['val_loss_source']})"
    if manifest["exit"]["reason"] and status != "completed":
        text += f"  [{manifest['exit']['reason'][:160]}]"
    if manifest.get("flags"):
        text += f"  flags: {len(manifest['flags'])}"
    return text
