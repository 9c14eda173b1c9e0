"""The runner's telemetry samples thinned for the run page (server.services.telemetry): in
bounded memory, unusable lines skipped and counted, at most MAX_POINTS bucket means that
keep a short spike visible, nothing for a bundle without the member."""

from __future__ import annotations

import json

import pytest
from support import machines

from server.services import telemetry
from server.services.telemetry import MAX_POINTS, bundle_series, series_of


def test_no_member_no_series_and_the_manifest_names_the_member() -> None:
    assert series_of(None) is None
    assert bundle_series({}, {}) is None
    named = {"telemetry": {"member": "telemetry.jsonl"}}
    found = bundle_series(named, machines.telemetry_members(10))
    assert found is not None and found.samples == 10 and len(found.points) == 10


def test_short_runs_keep_every_sample() -> None:
    series = series_of(machines.samples(30, steal=0.25, load1=1.0))
    assert series is not None and (series.samples, series.skipped) == (30, 0)
    assert [p.t_s for p in series.points] == [float(i) for i in range(30)]
    assert series.points[15].load1 == 2.0  # the bump half-way
    assert all(p.steal_share == 0.25 for p in series.points)


def test_long_runs_are_averaged_into_buckets_that_keep_a_spike() -> None:
    lines = [{"t_s": float(i), "load1": 1.0, "busy": 0.5} for i in range(10_000)]
    lines[5000]["load1"] = 1000.0  # one sample's spike
    series = series_of("".join(json.dumps(x) + "\n" for x in lines).encode())
    assert series is not None and series.samples == 10_000
    assert len(series.points) <= MAX_POINTS
    assert max(p.load1 or 0 for p in series.points) > 10  # visible as a bump
    assert series.points[0].steal_share is None  # never sampled: no value, not zero
    assert series.points[0].busy_share == pytest.approx(0.5)


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"[1, 2]",
        b'{"load1": 1}',  # no time
        b'{"t_s": NaN, "load1": 1}',
        b'{"t_s": "5"}',
        b'{"t_s": true}',
        b"\xff\xfe{}",
        b'{"t_s": 1, "pad": "' + b"x" * (telemetry.MAX_LINE_BYTES + 1) + b'"}',
    ],
)
def test_unusable_lines_are_skipped_and_counted(line: bytes) -> None:
    good = b'{"t_s": 0, "load1": 1, "steal": "lots", "busy": Infinity}\n'
    series = series_of(good + line + b"\n\n")
    assert series is not None and (series.samples, series.skipped) == (1, 1)
    [point] = series.points
    assert point.load1 == 1.0 and point.steal_share is None and point.busy_share is None


def test_samples_beyond_the_cap_are_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "MAX_SAMPLES", 50)
    series = series_of(machines.samples(80))
    assert series is not None and (series.samples, series.skipped) == (50, 30)


def test_samples_out_of_order_are_drawn_in_time_order() -> None:
    data = b'{"t_s": 2, "load1": 3}\n{"t_s": 0, "load1": 1}\n{"t_s": 1, "load1": 2}\n'
    series = series_of(data)
    assert series is not None and [p.load1 for p in series.points] == [1.0, 2.0, 3.0]
