"""runner.attempt_bundle: what a signed bundle of an attempt holds. Members: the variant, the
composed log, the events (offsets from the process start), the harness config, the
evaluator's result and log, and a legacy script's own log file (never through a link). The
manifest: every block, with every rule of speedrun.rules applied to the status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import session_context

from runner import verdicts
from runner.attempt_bundle import build_manifest, bundle_members
from runner.attempt_context import AttemptRequest
from runner.attempt_eval import EvalRun
from runner.backends import ProcessResult
from runner.events import ChannelLog, Event
from runner.timing import legacy_timing
from runner.trainlog import self_report
from runner.workspace import Workspace
from speedrun import rules

SOURCE = b"print('legacy')\n"
LOG = "step:0/2 val_loss:5.0 train_time:0ms step_avg:nanms\nstep:2/2 val_loss:4.0 train_time:20ms step_avg:10.00ms\n"


@pytest.fixture
def ctx(smoke_data_dir: Path, tmp_path: Path) -> Any:
    return session_context(smoke_data_dir, tmp_path)


@pytest.fixture
def ws(tmp_path: Path) -> Any:
    workspace = Workspace.create(SOURCE, "train_gpt.py", parent=tmp_path)
    yield workspace
    workspace.remove()


REQ = AttemptRequest("train_gpt.py", SOURCE, 5, 2, "3/3", "b.bundle.tar.gz")


def proc(code: int | None = 0, output: str = LOG) -> ProcessResult:
    return ProcessResult(code, False, False, 100.0, 102.5, output)


def test_members_of_a_harness_attempt(ctx: Any, ws: Any) -> None:
    channel = ChannelLog([Event("hello", 100.25, {"pid": 1}), Event("done", 101.0, {"step": 2})])
    evaluation = EvalRun({"val_loss": 3.9}, proc(0, "evaluated\n"), None, "ab" * 32)
    members = bundle_members(ctx, ws, REQ, proc(), channel, b'{"seed": 5}', evaluation, True)
    assert set(members) == {
        "variant/train_gpt.py",
        "log.txt",
        "events.jsonl",
        "config.json",
        "eval.json",
        "eval.log",
    }
    assert members["variant/train_gpt.py"] == SOURCE and members["config.json"] == b'{"seed": 5}'
    events = [json.loads(line) for line in members["events.jsonl"].decode().splitlines()]
    assert events == [
        {"event": "hello", "t_ms": 250.0, "pid": 1},
        {"event": "done", "t_ms": 1000.0, "step": 2},
    ]
    assert (
        json.loads(members["eval.json"]) == {"val_loss": 3.9}
        and members["eval.log"] == b"evaluated\n"
    )
    log = members["log.txt"].decode()
    assert "print('legacy')" in log and log.rstrip().endswith("step_avg:10.00ms")


def test_a_legacy_scripts_own_log_is_kept_but_never_through_a_link(
    ctx: Any, ws: Any, tmp_path: Path
) -> None:
    (ws.out / "logs").mkdir()
    (ws.out / "logs" / "a.txt").write_text("its own log\n")
    members = bundle_members(ctx, ws, REQ, proc(), ChannelLog(), None, None, False)
    assert members["variant_log.txt"] == b"its own log\n"
    assert "config.json" not in members and "eval.json" not in members
    (ws.out / "logs" / "a.txt").unlink()
    secret = tmp_path / "secret.txt"
    secret.write_text("the runner's key\n")
    (ws.out / "logs" / "a.txt").symlink_to(secret)
    assert "variant_log.txt" not in bundle_members(
        ctx, ws, REQ, proc(), ChannelLog(), None, None, False
    )


def manifest_for(ctx: Any, p: ProcessResult) -> dict[str, Any]:
    timing = legacy_timing(p.t0_s, p.t_end_s)
    judged = verdicts.judge(
        track=ctx.track,
        harness=False,
        proc=p,
        timing=timing,
        report=self_report(p.output, source="train_gpt.py"),
        evaluation=None,
        eval_error=None,
        eval_exit=None,
        time_limit_s=ctx.time_limit_s,
    )
    return build_manifest(ctx, REQ, "run1", False, p, timing, judged, None, "t0", "t1")


def test_the_manifest_of_a_legacy_run(ctx: Any) -> None:
    m = manifest_for(ctx, proc())
    assert (m["run_id"], m["group_id"], m["attempt_index"], m["seed"]) == (
        "run1",
        ctx.group_id,
        2,
        5,
    )
    assert m["track"] == {"id": ctx.track.id, "version": ctx.track.version}
    assert m["variant"]["harness"] is False and m["variant"]["path"] == "variant/train_gpt.py"
    assert m["backend"] == "local" and m["fingerprint"]["image"] is None
    assert m["fingerprint"]["data"]["files"] == dict(sorted(ctx.data.sha256.items()))
    assert m["exit"] == {"status": "completed", "code": 0, "reason": None}
    assert m["figures"]["time_ms"] == 2500.0 and m["figures"]["val_loss"] == 4.0
    assert m["violations"] == rules.violations(m, ctx.track)
    # a held-out track run on public data says so: never an official run
    assert any(flag.startswith("held-out: none") for flag in m["flags"])
    assert (m["started_at"], m["finished_at"]) == ("t0", "t1")


def test_a_failed_process_is_a_failed_run_with_its_reason(ctx: Any) -> None:
    m = manifest_for(ctx, proc(1, "Traceback...\nValueError: boom\n"))
    assert m["exit"]["status"] == "failed" and m["exit"]["code"] == 1
    assert m["exit"]["reason"].startswith("exit code 1: ") and "boom" in m["exit"]["reason"]
