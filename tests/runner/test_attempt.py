"""runner.attempt: one attempt end to end through the local backend: the variant runs under
torchrun on the runner's clock, the outcome is judged, and a bundle signed by the session's
key is the only thing written to the output folder; the workspace is gone afterwards,
whatever happened. (Harness variants with their evaluation: tests/runner/test_backends_local.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from runner_helpers import session_context

from runner.attempt import run_attempt
from runner.attempt_context import AttemptRequest
from speedrun.bundle import read_bundle, verify_bundle
from speedrun.signing import key_id

pytestmark = pytest.mark.slow  # each attempt starts torchrun and a calibration: seconds

LEGACY = b"""import os
if int(os.environ.get("RANK", 0)) == 0:
    print("step:0/2 val_loss:5.0 train_time:0ms step_avg:nanms")
    print("step:2/2 val_loss:4.0 train_time:20ms step_avg:10.00ms")
"""


def attempt(ctx: Any, source: bytes, name: str) -> Any:
    return run_attempt(ctx, AttemptRequest("train_gpt.py", source, 11, 0, "1/1", name))


def test_a_legacy_attempt_gives_one_signed_bundle_and_leaves_no_workspace(
    smoke_data_dir: Path, tmp_path: Path
) -> None:
    ctx = session_context(smoke_data_dir, tmp_path)
    outcome = attempt(ctx, LEGACY, "legacy.bundle.tar.gz")
    assert (outcome.status, outcome.reason, outcome.seed) == ("completed", None, 11)
    assert outcome.val_loss == 4.0 and outcome.time_ms is not None and outcome.time_ms > 0
    assert sorted(p.name for p in ctx.out_dir.iterdir()) == ["legacy.bundle.tar.gz"]
    assert outcome.bundle_path == ctx.out_dir / "legacy.bundle.tar.gz"
    verified = verify_bundle(
        read_bundle(outcome.bundle_path.read_bytes()),
        trusted={key_id(ctx.key.public_key()): ctx.key.public_key()},
    )
    assert verified.manifest.run_id == outcome.run_id
    assert outcome.manifest["figures"]["val_loss_source"] == "self-reported"  # no harness
    assert not list(tmp_path.glob("speedrun-attempt-*"))  # the workspace is removed


def test_a_crashing_variant_is_a_failed_run_with_the_error_and_still_a_bundle(
    smoke_data_dir: Path, tmp_path: Path
) -> None:
    ctx = session_context(smoke_data_dir, tmp_path)
    outcome = attempt(ctx, b"raise ValueError('out of ideas')\n", "crash.bundle.tar.gz")
    assert outcome.status == "failed" and outcome.val_loss is None
    assert outcome.reason == "exit code 1: ValueError: out of ideas"  # the cause, not torchrun's
    bundle = read_bundle(outcome.bundle_path.read_bytes())
    assert "out of ideas" in bundle.members["log.txt"].decode()
    assert not list(tmp_path.glob("speedrun-attempt-*"))
