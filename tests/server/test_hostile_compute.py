"""Hostile compute and telemetry parts of signed bundles (issue 17), through the real ingest
path: the runner's own `telemetry.jsonl` is what the server charts; a member built to hurt
(deep nesting, times and loads near the float limit, a flood of lines) is skipped and
counted, never a 500 at ingest nor on the run page, and is read in bounded time; compute
figures near the float limit are left out (a record's mean of them would be infinite), and
no figure a log axis cannot take breaks the track page."""

from __future__ import annotations

import json
import time
from typing import Any

from support import machines
from support.bundles import make_bundle
from support.claims import run_claim

from runner.telemetry import TelemetrySampler
from server.services import telemetry
from server.services.telemetry import series_of

TRACK = "cpu-tiny"
SOURCE = "from speedrun import harness\nprint('hostile compute')\n"


def test_the_runners_own_member_is_what_the_server_charts() -> None:
    sampler = TelemetrySampler(interval_s=0.01)
    for _ in range(4):
        sampler.sample_once()
        time.sleep(0.02)
    log = sampler.stop()
    series = series_of(log.member)
    assert series is not None and (series.samples, series.skipped) == (4, 0)
    assert all(p.load1 is not None for p in series.points)
    assert all(p.busy_share is not None for p in series.points[1:])  # shares: from the 2nd


def _lines(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


HOSTILE = (
    b"[" * 60_000  # nesting deeper than the decoder's recursion limit
    + b"\n"
    + _lines([{"t_s": 1e308, "load1": 1.0} for _ in range(600)])  # bucket sums overflow
    + _lines([{"t_s": float(i), "load1": 1e308 * (-1) ** i, "busy": 1e300} for i in range(600)])
)


def test_a_hostile_member_is_skipped_at_ingest_and_the_run_page_renders(client, runner_key) -> None:
    bundle = make_bundle(
        runner_key,
        telemetry=machines.telemetry(),
        extra_members={machines.TELEMETRY_MEMBER: HOSTILE},
    )
    answer = client.post("/api/v1/runs", content=bundle)
    assert answer.status_code == 201, answer.text
    run_id = answer.json()["run_id"]
    public = client.get(f"/api/v1/runs/{run_id}")
    assert public.status_code == 200, public.text
    series = public.json()["telemetry_series"]
    assert (series["samples"], series["skipped"]) == (600, 601)
    assert all(p["load1"] is None and p["busy_share"] is None for p in series["points"])
    assert client.get(f"/runs/{run_id}").status_code == 200


def test_lines_beyond_the_cap_are_counted_not_read() -> None:
    n = telemetry.MAX_SAMPLES + 1000
    series = series_of(b"x\n" * n)
    assert series is not None and (series.samples, series.skipped) == (0, n)
    flood = b"\n" * (32 * 1024 * 1024)  # 32 MiB of blank lines compress to a few kB
    started = time.perf_counter()
    series = series_of(flood + b'{"t_s": 1, "load1": 2}\n')
    took = time.perf_counter() - started
    assert series is not None and series.samples == 0  # the sample came past the cap
    assert series.skipped == len(flood) + 1 - telemetry.MAX_SAMPLES  # lines from the cap on
    assert took < 1.0, took  # read line by line, 32 million lines took seconds


def test_no_more_than_max_bytes_of_the_member_are_parsed(monkeypatch) -> None:
    monkeypatch.setattr(telemetry, "MAX_BYTES", 1 << 20)  # 16 MiB parse in about 0.6 s
    line = json.dumps({"t_s": 1.0, "load1": 1.0, "pad": [1.5] * 12_000}).encode() + b"\n"
    n = 2 * telemetry.MAX_BYTES // len(line)  # twice the bound in valid samples, 60 kB each
    series = series_of(line * n)
    assert series is not None and series.samples + series.skipped == n
    assert series.samples <= telemetry.MAX_BYTES // len(line) + 1


def _claim(client, key, token, compute: dict[str, Any]) -> Any:
    def make(job: dict[str, Any], i: int) -> bytes:
        return make_bundle(
            key,
            source=SOURCE,
            job=job,
            time_ms=1000.0 + i,
            val_loss=1.5 + i / 1000,
            seed=i,
            hardware=machines.hardware("node-a"),
            compute=compute,
        )

    return run_claim(client, key, token, SOURCE, TRACK, make, runs=3)


def test_compute_figures_near_the_float_limit_are_left_out(client, runner_key, token) -> None:
    huge = {**machines.compute(), "training_flops": 1.5e308, "mfu": 1.7e308}
    done = _claim(client, runner_key, token, huge)
    [record] = done.records
    run = client.get(f"/api/v1/runs/{done.answers[0]['run_id']}").json()
    assert run["compute"]["training_flops"] is None and run["compute"]["mfu"] is None
    assert run["training_flops"] is None  # nor stored for the boards and open data
    board = client.get(f"/api/v1/tracks/{TRACK}/leaderboard")
    assert board.status_code == 200, board.text
    compute = board.json()["entries"][0]["compute"]
    assert compute["training_flops"] is None and compute["mfu"] is None
    assert client.get(f"/api/v1/records/{record}").status_code == 200
    assert client.get(f"/tracks/{TRACK}").status_code == 200
    assert client.get(f"/records/{record}").status_code == 200


def test_a_denormal_training_flops_does_not_break_the_flops_chart(
    client, runner_key, token
) -> None:
    done = _claim(client, runner_key, token, {**machines.compute(), "training_flops": 5e-324})
    assert len(done.records) == 1
    page = client.get(f"/tracks/{TRACK}")
    assert page.status_code == 200
    assert '<svg class="chart scatter"' not in page.text  # no point a log axis can take
