"""runner.verdicts: an attempt's status from its process and evaluation (timeouts, kills,
crashes, refused models, missing events), the figures it reports, and failure summaries
drawn from hostile or empty output."""

from __future__ import annotations

import math
from typing import Any

from runner.backends import ProcessResult
from runner.timing import Timing
from runner.trainlog import SelfReport
from runner.verdicts import Judged, failure_summary, judge, last_lines, one_line, sandbox_block
from speedrun.tracks import get_track

TRACK = get_track("cpu-smoke")
DONE = Timing(time_ms=900.0, wall_ms=2000.0, time_to_done_ms=905.0, script_train_time_ms=900.0)
NO_REPORT = SelfReport(None, None, None)


def proc(exit_code: int | None = 0, output: str = "", **kw: Any) -> ProcessResult:
    fields: dict[str, Any] = {"timed_out": False, "oom_killed": False} | kw
    return ProcessResult(exit_code=exit_code, t0_s=0.0, t_end_s=2.0, output=output, **fields)


def judged(
    process: ProcessResult,
    *,
    harness: bool = True,
    timing: Timing = DONE,
    report: SelfReport = NO_REPORT,
    evaluation: dict[str, Any] | None = None,
    eval_error: str | None = None,
) -> Judged:
    return judge(
        track=TRACK,
        harness=harness,
        proc=process,
        timing=timing,
        report=report,
        evaluation=evaluation,
        eval_error=eval_error,
        eval_exit=0,
        time_limit_s=60.0,
    )


def test_a_harness_run_completes_with_the_independent_loss() -> None:
    j = judged(proc(), evaluation={"ok": True, "val_loss": 2.75, "private_val_loss": 2.8})
    assert (j.status, j.reason) == ("completed", None)
    fig = j.figures
    assert fig["val_loss"] == 2.75 and fig["val_loss_source"] == "independently-evaluated"
    assert fig["private_val_loss"] == 2.8 and fig["time_ms"] == 900.0
    assert math.isclose(fig["time_disagreement"], 5 / 900, rel_tol=0.05)
    manifest = {"figures": fig, "exit": {"status": j.status, "reason": j.reason}}
    assert one_line(manifest) == (
        "completed  time 0.900 s  val_loss 2.7500 (independently-evaluated)"
    )


def test_process_failures_are_ranked_timeout_first() -> None:
    assert judged(proc(None, timed_out=True, oom_killed=True)).status == "timeout"
    oom = judged(proc(None, oom_killed=True))
    assert oom.status == "killed" and "out of memory" in (oom.reason or "")
    sig = judged(proc(None, killed_by_signal=9, output="a\nb\nc\n"))
    assert sig.reason == "killed by signal 9: b | c"
    crash = judged(proc(1, "Traceback (most recent call last):\nValueError: bad shape\nbye\n"))
    assert (crash.status, crash.reason) == ("failed", "exit code 1: ValueError: bad shape")
    assert crash.figures["val_loss"] is None and crash.figures["val_loss_source"] == "none"


def test_harness_protocol_and_evaluation_problems_have_their_own_status() -> None:
    no_done = judged(proc(), timing=Timing(time_ms=None, wall_ms=1.0))
    assert (no_done.status, no_done.reason) == ("failed", "the variant never sent the `done` event")
    refused = judged(proc(), evaluation={"ok": False, "refused": "I/O op aten::_print"})
    assert refused.status == "rule_violation" and "aten::_print" in (refused.reason or "")
    nan = judged(proc(), evaluation={"ok": True, "val_loss": float("nan")})
    assert (nan.status, nan.reason) == ("eval_failed", "the evaluator returned no finite loss")
    missing = judged(proc(), eval_error="no usable exported model at model.pt2: gone")
    assert missing.status == "failed"


def test_a_legacy_run_needs_a_val_loss_line_in_its_log() -> None:
    no_line = judged(proc(), harness=False, report=SelfReport(None, None, None, "no step lines"))
    assert (no_line.status, no_line.reason) == (
        "failed",
        "no val_loss line in the log (no step lines)",
    )
    ok = judged(proc(), harness=False, report=SelfReport(3.1, 880.0, 10))
    assert ok.status == "completed" and ok.figures["val_loss_source"] == "self-reported"
    assert sandbox_block("local", TRACK, False)["val_visible_to_training"] is True
    assert sandbox_block("docker", TRACK, True)["data_locked_until_warmup_end"] is True


def test_failure_summaries_skip_torchrun_noise_and_stay_bounded() -> None:
    torchrun = (
        "[rank0]: RuntimeError: CUDA error: out of memory\n"
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n"
    )
    assert failure_summary(torchrun) == "RuntimeError: CUDA error: out of memory"
    assert len(failure_summary("KeyError: " + "x" * 50_000)) == 1000
    assert last_lines("", 3) == "(no output)"
    assert last_lines("\n\n a \n\n b \n", 1) == "b"
