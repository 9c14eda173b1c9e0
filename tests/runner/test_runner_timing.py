"""The official time from runner timestamps: formula, cap, loopholes, protocol breaches."""

from __future__ import annotations

import pytest

from runner.events import Event
from runner.timing import disagreement, harness_timing, legacy_timing


def ev(name: str, t_s: float, **payload: object) -> Event:
    return Event(name=name, t_s=t_s, payload=dict(payload))


def timing(events: list[Event], *, end: float, cap_s: float = 60.0):  # type: ignore[no-untyped-def]
    return harness_timing(events, t0_s=100.0, t_end_s=100.0 + end, untimed_cap_s=cap_s)


def test_time_runs_from_last_warmup_end_to_done_less_val_pauses() -> None:
    events = [
        ev("hello", 101.0),
        ev("warmup_start", 101.5),
        ev("warmup_end", 103.0),
        ev("warmup_start", 103.5),
        ev("warmup_end", 105.0),  # the last one starts the clock
        ev("val_pause", 107.0),
        ev("val_resume", 108.0),
        ev("done", 115.0, train_time_ms=8900.0, train_tokens=1000),
        ev("export", 116.0),
    ]
    t = timing(events, end=17.0)
    # (115 - 105) - 1 s of validation = 9 s
    assert t.time_ms == pytest.approx(9000.0)
    assert t.breakdown_ms == pytest.approx(
        {"startup_warmup_ms": 5000.0, "val_pauses_ms": 1000.0, "post_done_ms": 1000.0}
    )
    assert t.untimed_ms == pytest.approx(7000.0)
    assert t.script_train_time_ms == 8900.0
    assert t.train_tokens == 1000
    assert not t.cap_exceeded and t.problems == ()


def test_untimed_time_beyond_the_cap_is_timed() -> None:
    events = [ev("warmup_end", 150.0), ev("done", 160.0), ev("export", 161.0)]
    t = timing(events, end=62.0, cap_s=30.0)
    # wall to export 61 s, untimed 50 + 1 = 51 s, capped at 30 s -> 31 s timed
    assert t.time_ms == pytest.approx(31000.0)
    assert t.cap_exceeded


def test_an_early_done_does_not_stop_the_clock_for_free() -> None:
    """A variant that says `done` and keeps training pays once the cap is used up."""
    honest = timing([ev("warmup_end", 110.0), ev("done", 150.0), ev("export", 151.0)], end=52)
    early = timing([ev("warmup_end", 110.0), ev("done", 120.0), ev("export", 250.0)], end=151)
    assert honest.time_ms == pytest.approx(40000.0)
    assert early.time_ms is not None and early.time_ms > honest.time_ms
    assert early.cap_exceeded


def test_events_sharing_a_timestamp_keep_their_order() -> None:
    events = [ev("warmup_end", 101.0), ev("val_pause", 105.0), ev("val_resume", 106.0)]
    events += [ev("done", 106.0), ev("export", 107.0)]
    t = timing(events, end=8.0)
    assert t.problems == ()
    assert t.time_ms == pytest.approx(4000.0)


def test_protocol_breaches_are_reported_and_count_as_timed() -> None:
    events = [
        ev("warmup_end", 101.0),
        ev("val_resume", 102.0),
        ev("val_pause", 103.0),  # never resumed: not untimed
        ev("done", 110.0),
        ev("warmup_end", 111.0),
    ]
    t = timing(events, end=12.0)
    assert t.time_ms == pytest.approx(9000.0)
    assert set(t.problems) == {
        "val_resume without val_pause",
        "val_pause never resumed before done",
        "warmup_end event after done",
    }


def test_no_done_means_no_time() -> None:
    t = timing([ev("warmup_end", 101.0)], end=5.0)
    assert t.time_ms is None and t.problems == ("no done event",)


def test_no_warmup_end_means_the_clock_runs_from_the_start() -> None:
    t = timing([ev("done", 110.0), ev("export", 110.5)], end=11.0)
    assert t.time_ms == pytest.approx(10000.0)


def test_legacy_time_is_wall_time() -> None:
    t = legacy_timing(10.0, 12.5)
    assert t.time_ms == t.wall_ms == pytest.approx(2500.0)


def test_disagreement() -> None:
    assert disagreement(1000.0, 990.0) == pytest.approx(0.01)
    assert disagreement(1000.0, 1.0) == pytest.approx(0.999)
    assert disagreement(None, 1.0) is None and disagreement(1000.0, None) is None
