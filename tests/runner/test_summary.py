"""runner.summary: a session's statistics and the verdict a track's rules give it, for plain
runs and for A/B sessions, including too few or failed attempts and non-record backends."""

from __future__ import annotations

from pathlib import Path

from runner.attempt import AttemptOutcome
from runner.summary import ab_summary, runs_summary
from speedrun import stats
from speedrun.tracks import get_track

TRACK = get_track("cpu-smoke")  # target 3.0, two runs, alpha 0.01, records on docker only


def outcome(i: int, val_loss: float | None, time_ms: float | None = 1000.0) -> AttemptOutcome:
    status = "completed" if val_loss is not None else "failed"
    return AttemptOutcome(
        run_id=f"r{i}",
        seed=i,
        status=status,
        reason=None if val_loss is not None else "crashed",
        time_ms=time_ms,
        val_loss=val_loss,
        flags=[],
        bundle_path=Path(f"/b/r{i}.tar.gz"),
        manifest={},
    )


def test_runs_clearly_below_target_meet_it() -> None:
    runs = [outcome(i, loss) for i, loss in enumerate([2.50, 2.51, 2.49, 2.50])]
    s = runs_summary(TRACK, "docker", "g1", "v.py", runs)
    assert s["completed"] == 4 and s["track"] == TRACK.key
    assert s["val_loss"]["n"] == 4 and abs(s["val_loss"]["mean"] - 2.5) < 1e-9
    assert s["time_ms"] == {"n": 4, "mean": 1000.0, "std": 0.0}
    assert s["p_value"] is not None and s["p_value"] < 0.01
    assert s["verdict"].startswith("target met: mean val loss 2.5000 < 3.0")
    assert s["attempts"][0]["bundle"] == "/b/r0.tar.gz"


def test_failures_too_few_runs_and_local_backends_are_named() -> None:
    s = runs_summary(TRACK, "local", "g2", "v.py", [outcome(0, 2.5), outcome(1, None)])
    assert s["completed"] == 1 and s["p_value"] is None
    assert s["verdict"] == (
        "insufficient runs: 1 completed, the track needs 2; 1 attempt(s) did not complete; "
        "backend 'local' never counts toward records"
    )
    above = runs_summary(TRACK, "docker", "g3", "v.py", [outcome(0, 3.2), outcome(1, 3.3)])
    assert above["verdict"].startswith("target not met")


def test_an_ab_session_reports_the_paired_speedup() -> None:
    results = {
        "baseline": [outcome(i, 2.5, t) for i, t in enumerate([1000.0, 1010.0, 990.0])],
        "candidate": [outcome(i, 2.5, t) for i, t in enumerate([800.0, 805.0, 795.0])],
    }
    s = ab_summary(TRACK, "docker", "s1", results, stats.paired_speedup)
    assert s["pairs_completed"] == 3
    assert 1.2 < s["speedup"]["speedup"] < 1.3
    assert s["verdict"].startswith("candidate faster: 1.2")


def test_an_ab_session_with_fewer_than_two_pairs_has_no_speedup() -> None:
    results = {
        "baseline": [outcome(0, 2.5, 1000.0), outcome(1, None, None)],
        "candidate": [outcome(0, 2.5, 900.0), outcome(1, 2.5, 900.0)],
    }
    s = ab_summary(TRACK, "docker", "s2", results, stats.paired_speedup)
    assert s["speedup"] is None
    assert s["verdict"] == "insufficient pairs: 1 completed, need at least 2"
