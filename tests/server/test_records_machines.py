"""Statistics that know machines, through the real ingest path: signed bundles from two
fingerprints (hosts node-a and node-b) uploaded as runs of server jobs. A claim whose runs
came from more than one machine is tested over per-machine means (n = machines) and over its
runs, the larger p deciding: a candidate the per-run Welch test would crown is refused, and
noisy runs whose machine means happen to agree do not meet the loss rule the per-run test
misses. Pages and answers carry each run's machine."""

from __future__ import annotations

from typing import Any

import pytest
from support import machines
from support.bundles import make_bundle
from support.claims import run_claim

from speedrun import stats

TRACK = "cpu-tiny"
A = "from speedrun import harness\nprint('A')\n"
B = "from speedrun import harness\nprint('B')\n"


def _claim(client, key, token, source, times, losses, hosts) -> Any:
    def make(job: dict[str, Any], i: int) -> bytes:
        return make_bundle(
            key,
            source=source,
            job=job,
            time_ms=times[i],
            val_loss=losses[i],
            seed=i,
            hardware=machines.hardware(hosts[i]),
        )

    return run_claim(client, key, token, source, TRACK, make, runs=len(times))


def test_a_spread_over_machines_is_tested_per_machine(client, runner_key, token) -> None:
    losses = [1.5, 1.501, 1.502]
    first = _claim(client, runner_key, token, A, [1000.0, 1001.0, 1002.0], losses, ["node-a"] * 3)
    [record] = first.records
    fast = [950.0, 951.0, 975.0]
    hosts = ["node-a", "node-a", "node-b"]
    per_run = stats.p_faster(fast, [1000.0, 1001.0, 1002.0])
    assert per_run < 0.05  # what the test over runs would have said: a new record
    second = _claim(client, runner_key, token, B, fast, losses, hosts)
    assert second.records == []
    attempt = client.get(f"/api/v1/attempts/{second.attempt_id}").json()
    assert attempt["stats"]["machines"] == 2 and attempt["stats"]["test_unit"] == "machine"
    keys = [r["machine"]["key"] for r in attempt["runs"]]
    assert keys[0] == keys[1] != keys[2]
    assert [r["machine"]["label"] for r in attempt["runs"]] == hosts
    board = client.get(f"/api/v1/tracks/{TRACK}/leaderboard").json()
    assert [e["record_id"] for e in board["entries"]] == [record]
    assert board["entries"][0]["machines"] == 1


def test_machine_means_that_agree_do_not_rescue_noisy_runs(client, runner_key, token) -> None:
    losses, hosts = [1.35, 1.85, 1.601], ["node-a", "node-a", "node-b"]
    per_run = stats.p_mean_below(losses, 1.70)
    assert per_run > 0.01  # per run: not significant
    assert stats.p_mean_below([1.6, 1.601], 1.70) < 0.01  # per machine alone it would be
    done = _claim(client, runner_key, token, A, [1000.0, 1001.0, 1002.0], losses, hosts)
    assert done.records == []
    attempt = client.get(f"/api/v1/attempts/{done.attempt_id}").json()
    assert attempt["stats"]["machines"] == 2 and attempt["stats"]["test_unit"] == "machine"
    assert attempt["stats"]["p_value"] == pytest.approx(per_run)
    assert attempt["stats"]["reason"].endswith("(over the runs and over per-machine means)")
    assert {r["machine"]["label"] for r in attempt["runs"]} == {"node-a", "node-b"}


def test_one_machine_keeps_the_per_run_test(client, runner_key, token) -> None:
    losses, hosts = [1.35, 1.85, 1.601], ["node-a"] * 3
    done = _claim(client, runner_key, token, A, [1000.0, 1001.0, 1002.0], losses, hosts)
    assert done.records == []
    attempt = client.get(f"/api/v1/attempts/{done.attempt_id}").json()
    assert attempt["stats"]["test_unit"] == "run" and attempt["stats"]["machines"] == 1
    assert attempt["stats"]["reason"].startswith("mean val loss not below")
