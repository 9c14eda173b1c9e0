"""The official time from runner timestamps: formula, caps, loopholes, protocol breaches."""

from __future__ import annotations

import math

import pytest

from runner.events import Event
from runner.timing import Caps, Timing, disagreement, harness_timing, legacy_timing
from speedrun.tracks import get_track


def ev(name: str, t_s: float, **payload: object) -> Event:
    return Event(name=name, t_s=t_s, payload=dict(payload))


def timing(
    events: list[Event],
    *,
    end: float,
    cap_s: float = 60.0,
    share: float = 0.5,
    allowance_s: float = 0.0,
) -> Timing:
    caps = Caps(untimed_cap_s=cap_s, val_pause_share=share, export_allowance_s=allowance_s)
    return harness_timing(events, t0_s=100.0, t_end_s=100.0 + end, caps=caps)


def test_time_runs_from_the_first_warmup_end_to_the_export_less_val_pauses() -> None:
    events = [
        ev("hello", 101.0),
        ev("warmup_start", 101.5),
        ev("warmup_end", 105.0),
        ev("val_pause", 107.0),
        ev("val_resume", 108.0),
        ev("done", 115.0, train_time_ms=9000.0, train_tokens=1000),
        ev("export", 116.0),
    ]
    t = timing(events, end=17.0)
    # (116 - 105) - 1 s of validation = 10 s: writing the model is timed on live tracks
    assert t.time_ms == pytest.approx(10000.0)
    assert t.time_to_done_ms == pytest.approx(9000.0)  # what the script measures
    assert t.breakdown_ms == pytest.approx(
        {
            "startup_warmup_ms": 5000.0,
            "val_pauses_ms": 1000.0,
            "val_pauses_allowed_ms": 4500.0,
            "post_done_ms": 1000.0,
        }
    )
    assert t.untimed_ms == pytest.approx(6000.0)
    assert t.script_train_time_ms == 9000.0 and t.train_tokens == 1000
    assert not t.cap_exceeded and not t.pause_cap_exceeded and t.problems == ()


def test_an_export_allowance_leaves_that_much_after_done_untimed() -> None:
    events = [ev("warmup_end", 105.0), ev("done", 115.0), ev("export", 118.0)]
    assert timing(events, end=20.0, allowance_s=2.0).time_ms == pytest.approx(11000.0)
    assert timing(events, end=20.0, allowance_s=5.0).time_ms == pytest.approx(10000.0)


def test_a_second_warmup_end_does_not_restart_the_clock() -> None:
    """Data unlocks at the first warmup_end: whatever follows it is training, and timed."""
    events = [
        ev("warmup_end", 103.0),
        ev("warmup_start", 103.5),
        ev("warmup_end", 140.0),
        ev("done", 145.0),
        ev("export", 145.0),
    ]
    t = timing(events, end=46.0)
    assert t.time_ms == pytest.approx(42000.0)
    assert "warmup_end sent more than once (the clock starts at the first)" in t.problems
    assert "warmup_start after warmup_end" in t.problems


def test_startup_beyond_the_cap_is_timed_and_flagged() -> None:
    events = [ev("warmup_end", 150.0), ev("done", 160.0), ev("export", 161.0)]
    t = timing(events, end=62.0, cap_s=30.0)
    # wall to export 61 s, startup 50 s capped at 30 s -> 31 s timed
    assert t.time_ms == pytest.approx(31000.0)
    assert t.cap_exceeded


def test_validation_pauses_beyond_their_share_are_timed_and_flagged() -> None:
    events = [
        ev("warmup_end", 100.0),
        ev("val_pause", 101.0),
        ev("val_resume", 141.0),  # 40 s "validating": training hidden in a pause
        ev("done", 151.0),
        ev("export", 151.0),
    ]
    t = timing(events, end=52.0, share=0.10)
    # 11 s of training outside the pause leaves 1.1 s of it untimed: 51 - 1.1 = 49.9 s
    assert t.time_ms == pytest.approx(49900.0)
    assert t.pause_cap_exceeded


def test_training_after_done_is_timed_on_live_tracks() -> None:
    """`done` early, training until the export: nothing after done is free."""
    honest = timing([ev("warmup_end", 110.0), ev("done", 150.0), ev("export", 151.0)], end=52)
    early = timing([ev("warmup_end", 110.0), ev("done", 111.0), ev("export", 250.0)], end=151)
    assert honest.time_ms == pytest.approx(41000.0)
    assert early.time_ms == pytest.approx(140000.0)
    assert early.time_to_done_ms == pytest.approx(1000.0)


def test_without_an_export_event_the_clock_runs_to_the_exit() -> None:
    t = timing([ev("warmup_end", 110.0), ev("done", 111.0)], end=90.0)
    assert t.time_ms == pytest.approx(80000.0)


def test_events_sharing_a_timestamp_keep_their_order() -> None:
    events = [ev("warmup_end", 101.0), ev("val_pause", 105.0), ev("val_resume", 106.0)]
    events += [ev("done", 106.0), ev("export", 107.0)]
    t = timing(events, end=8.0)
    assert t.problems == ()
    assert t.time_ms == pytest.approx(5000.0)


def test_protocol_breaches_are_reported_and_count_as_timed() -> None:
    events = [
        ev("warmup_end", 101.0),
        ev("export", 101.5),
        ev("val_resume", 102.0),
        ev("val_pause", 103.0),  # never resumed: not untimed
        ev("done", 110.0),
        ev("warmup_end", 111.0),
        ev("export", 112.0),
        ev("export", 113.0),
    ]
    t = timing(events, end=14.0)
    assert t.time_ms == pytest.approx(11000.0)
    assert set(t.problems) == {
        "export before done",
        "val_resume without val_pause",
        "val_pause never resumed before done",
        "warmup_end event after done",
        "export sent more than once",
    }


def test_a_non_finite_train_time_is_a_breach_not_a_crash() -> None:
    t = timing([ev("warmup_end", 101.0), ev("done", 102.0, train_time_ms=math.nan)], end=3.0)
    assert t.script_train_time_ms is None
    assert "done event's train_time_ms is not a finite number" in t.problems


def test_no_done_means_no_time() -> None:
    t = timing([ev("warmup_end", 101.0)], end=5.0)
    assert t.time_ms is None and t.problems == ("no done event",)


def test_no_warmup_end_means_the_clock_runs_from_the_start() -> None:
    t = timing([ev("done", 110.0), ev("export", 110.5)], end=11.0)
    assert t.time_ms == pytest.approx(10500.0)


def test_legacy_time_is_wall_time() -> None:
    t = legacy_timing(10.0, 12.5)
    assert t.time_ms == t.wall_ms == pytest.approx(2500.0)


def test_disagreement() -> None:
    assert disagreement(1000.0, 990.0) == pytest.approx(0.01)
    assert disagreement(1000.0, 1.0) == pytest.approx(0.999)
    assert disagreement(None, 1.0) is None and disagreement(1000.0, None) is None


@pytest.mark.parametrize("track_id", ["cpu-smoke", "cpu-tiny", "gpt2-124m-8xh100"])
def test_live_tracks_leave_nothing_after_done_untimed(track_id: str) -> None:
    track = get_track(track_id)
    assert track.limits.export_allowance_s == 0 and not track.retired
    assert 0 < track.limits.val_pause_share <= 0.25
