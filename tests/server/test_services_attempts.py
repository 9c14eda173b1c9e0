"""server.services.attempts: an attempt's statistics over its runs. Only completed, official,
independently evaluated runs of a server job count toward a record (each other run says why
not); the claim rule (enough runs, mean val loss below the target at p < alpha, as scipy's
one-sided t-test) decides `qualifies` with a reason; statistics round-trip through JSON; one
attempt per code and track version, created on first sight."""

from __future__ import annotations

import pytest
from scipy import stats as scipy_stats

from server.services.attempts import (
    RunFigures,
    compute_stats,
    get_or_create_attempt,
    record_times,
    stats_from_json,
    stats_to_json,
)
from speedrun.tracks import get_track

TRACK = get_track("cpu-tiny")
TARGET = TRACK.rules.target_val_loss
IND = "independently-evaluated"


def good(time_ms: float, loss: float, **changes) -> RunFigures:
    fields = {
        "time_ms": time_ms,
        "val_loss": loss,
        "status": "completed",
        "official": True,
        "val_loss_source": IND,
    }
    return RunFigures(**(fields | changes))


def runs(n: int, **changes) -> list[RunFigures]:
    return [good(1000.0 + i, TARGET - 0.5 + 0.01 * i, **changes) for i in range(n)]


def test_enough_good_runs_below_the_target_qualify() -> None:
    sample = runs(TRACK.rules.runs_required)
    st = compute_stats(sample, TRACK)
    assert st.qualifies and st.reason == "meets the rule" and st.official
    expected = scipy_stats.ttest_1samp(
        [r.val_loss for r in sample], TARGET, alternative="less"
    ).pvalue
    assert st.p_value == pytest.approx(expected, rel=1e-9)
    assert st.n_runs == st.n_counted == len(sample) and st.time_ms is not None
    assert st.time_ms.mean == pytest.approx(sum(r.time_ms for r in sample) / len(sample))
    assert record_times(sample) == [r.time_ms for r in sample]


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        (runs(1), "1 of "),
        ([*runs(3), good(1.0, 1.0, status="failed")], "1 of 4 runs failed: failed"),
        (runs(3, official=False), "no official, independently evaluated, completed run"),
        ([*runs(3), good(999.0, 3.0, val_loss_source="self-reported")], "1 of 4 runs do not count"),
        ([good(1000.0 + i, TARGET + 0.1) for i in range(5)], f"mean val loss not below {TARGET}"),
    ],
)
def test_attempts_that_do_not_qualify_say_why(sample: list[RunFigures], reason: str) -> None:
    st = compute_stats(sample, TRACK)
    assert not st.qualifies and st.reason.startswith(reason), st.reason


def test_runs_that_do_not_count_say_why() -> None:
    assert good(1.0, 3.0).uncounted_reasons() == []
    unsolicited = good(1.0, 3.0, purpose="unsolicited", official=False)
    assert not unsolicited.counts and unsolicited.uncounted_reasons() == [
        "unsolicited: uploaded outside any server job",
        "unofficial: not a record backend on the track's hardware and data",
    ]
    only = compute_stats([unsolicited], TRACK)
    assert only.n_runs == 0 and only.n_unsolicited == 1
    assert only.reason == "no run of a server job (unsolicited runs are shown, never counted)"


def test_statistics_round_trip_through_json() -> None:
    st = compute_stats(runs(3), TRACK)
    assert stats_from_json(stats_to_json(st)) == st
    empty = compute_stats([], TRACK)
    assert stats_from_json(stats_to_json(empty)) == empty and empty.p_value is None


def test_one_attempt_per_code_and_track_version(db) -> None:
    with db.write() as session:
        a = get_or_create_attempt(session, "cpu-tiny", 2, "ab" * 32, description="first")
        b = get_or_create_attempt(session, "cpu-tiny", 2, "ab" * 32, description="ignored")
        c = get_or_create_attempt(session, "cpu-tiny", 1, "ab" * 32)
    assert a.id == b.id != c.id and b.description == "first"
