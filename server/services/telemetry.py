"""The runner's telemetry samples (`telemetry.jsonl` in the bundle: one JSON object a line,
about one a second) thinned, once at ingest, to the series the run page charts: load,
busy, steal and iowait over the run's time.

A sample is what runner.telemetry writes: `t_s` (seconds since the sampler started),
`load1`, and the CPU time shares `busy`, `steal` and `iowait` (runner.cpustat.Shares).

The member is read in bounded time and memory: at most `MAX_SAMPLES` lines of at most
`MAX_LINE_BYTES` each, and no more than `MAX_BYTES` in all, are looked at (the rest is
counted, not read: the runner writes at most 1,800 lines); a line that is not a JSON
object with a time in [0, MAX_T_S] is skipped and counted, and a figure outside its range
(a share outside [0, 1], a load above MAX_LOAD) reads as missing, so no bucket sum
overflows and no chart axis spans infinity; the samples kept are averaged into at most
`MAX_POINTS` buckets of consecutive samples (a bucket's mean keeps a short spike visible as
a bump instead of dropping it, which picking every k-th sample would).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from typing import Any

from server.schemas.compute import TelemetryPoint, TelemetrySeries
from speedrun.machine import finite_number

MEMBER = "telemetry.jsonl"
MAX_SAMPLES = 20_000  # lines looked at; the runner keeps at most 1,800 (runner.telemetry)
MAX_LINE_BYTES = 64 * 1024  # a sample with many GPUs is a few kB
MAX_BYTES = 16 * 1024 * 1024  # read of the member: the runner's 1,800 lines of 8 GPUs are ~4 MB
MAX_POINTS = 240
MAX_T_S = 1e7  # about 115 days: longer than any track's wall-clock limit
MAX_LOAD = 1e6
TIME = "t_s"
# (field in the sample, its upper bound): the runner's names (runner.telemetry._read)
FIELDS = (("load1", MAX_LOAD), ("busy", 1.0), ("steal", 1.0), ("iowait", 1.0))


def member_name(manifest: Mapping[str, Any]) -> str:
    block = manifest.get("telemetry")
    named = block.get("member") if isinstance(block, Mapping) else None
    return named if isinstance(named, str) and named else MEMBER


def _sample(line: bytes) -> tuple[float, ...] | None:
    """(t, load1, busy, steal, iowait) with NaN for what the line lacks; None: unusable."""
    if len(line) > MAX_LINE_BYTES:
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # also UnicodeDecodeError; deep nesting
        return None
    if not isinstance(obj, dict) or (t := _within(obj.get(TIME), MAX_T_S)) is None:
        return None
    values = (_within(obj.get(name), high) for name, high in FIELDS)
    return (t, *(math.nan if v is None else v for v in values))


def _lines_from(data: bytes, pos: int) -> int:
    return data.count(b"\n", pos) + (pos < len(data) and not data.endswith(b"\n"))


def _within(value: Any, high: float) -> float | None:
    """A number in [0, high], or None."""
    found = finite_number(value)
    return found if found is not None and 0 <= found <= high else None


def _mean(values: list[float]) -> float | None:
    kept = [v for v in values if not math.isnan(v)]
    return math.fsum(kept) / len(kept) if kept else None


def _thin(samples: list[tuple[float, ...]]) -> list[TelemetryPoint]:
    size = max(1, math.ceil(len(samples) / MAX_POINTS))
    points = []
    for start in range(0, len(samples), size):
        bucket = samples[start : start + size]
        columns = [list(col) for col in zip(*bucket, strict=True)]
        t = _mean(columns[0])
        assert t is not None  # every sample has a finite time
        load, busy, steal, iowait = (_mean(col) for col in columns[1:])
        points.append(
            TelemetryPoint(
                t_s=t, load1=load, busy_share=busy, steal_share=steal, iowait_share=iowait
            )
        )
    return points


def series_of(data: bytes | None) -> TelemetrySeries | None:
    """The thinned series of a telemetry member; None when there is no member."""
    if data is None:
        return None
    samples: list[tuple[float, ...]] = []
    skipped = 0
    stream = io.BytesIO(data)
    for looked, line in enumerate(stream):  # one line at a time: no list of every line
        if looked == MAX_SAMPLES or stream.tell() > MAX_BYTES:  # blank lines count too
            skipped += _lines_from(data, stream.tell() - len(line))  # counted, not read
            break
        if not line.strip():
            continue
        found = _sample(line)
        if found is None:
            skipped += 1
        else:
            samples.append(found)
    samples.sort(key=lambda s: s[0])
    return TelemetrySeries(samples=len(samples), skipped=skipped, points=_thin(samples))


def bundle_series(
    manifest: Mapping[str, Any], members: Mapping[str, bytes]
) -> TelemetrySeries | None:
    return series_of(members.get(member_name(manifest)))
