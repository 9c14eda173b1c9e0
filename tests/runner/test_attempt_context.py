"""runner.attempt_context: what an attempt runs with and gives back. The evaluator's time
limit is generous (a busy host slows the evaluation too, and cutting it short costs a whole
training run): at least 300 s, the track's untimed cap, or a quarter of its wall clock."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from runner_helpers import session_context

from runner.attempt_context import AttemptOutcome, AttemptRequest
from speedrun.tracks import get_track


def test_the_evaluation_limit_is_the_largest_of_its_three_bounds(
    smoke_data_dir: Path, tmp_path: Path
) -> None:
    ctx = session_context(smoke_data_dir, tmp_path)
    limits = ctx.track.limits
    assert ctx.eval_limit_s == max(300.0, float(limits.untimed_cap_s), limits.wall_clock_s / 4)
    assert ctx.eval_limit_s >= 300.0
    long_track = get_track("gpt2-124m-8xh100")
    ctx.track = long_track  # a session context is the session's: mutable
    expected = max(
        300.0, float(long_track.limits.untimed_cap_s), long_track.limits.wall_clock_s / 4
    )
    assert ctx.eval_limit_s == expected
    assert ctx.job is None and ctx.work_parent == tmp_path


def test_requests_and_outcomes_are_frozen_values(tmp_path: Path) -> None:
    req = AttemptRequest(
        "train_gpt.py", b"print(1)\n", seed=3, index=0, label="1/3", bundle_name="b.tar.gz"
    )
    assert req.ab is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        req.seed = 4  # type: ignore[misc]
    out = AttemptOutcome(
        "r1", 3, "completed", None, 1000.0, 3.2, [], tmp_path / "b", {"big": "x" * 10_000}
    )
    assert "big" not in repr(out)  # the manifest stays out of log lines
