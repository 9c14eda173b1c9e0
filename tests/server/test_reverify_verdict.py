"""Re-verification verdicts with causes (server.services.reverify.verdict), through the
real path: a record made of signed bundles, a re-verification job leased by the runner,
re-runs uploaded as signed bundles carrying calibration and telemetry, the job completed.

A re-run slower than the record's band on a machine whose conditions the server finds in
the manifest's figures is "drifted: machine conditions", with the conditions and their
numbers; the same drift on a healthy machine is a plain "drifted"; the runner's own list of
conditions, unsupported by its figures, is not taken on trust."""

from __future__ import annotations

from typing import Any

import pytest
from support import machines
from support.bundles import claim_runs, make_bundle
from support.claims import claim, complete, job_block, upload

from server.services.reverify.jobs import schedule_reverification
from server.services.reverify.verdict import Outcome, with_cause

A = "from speedrun import harness\nprint('A')\n"
SLOW = [1300.0, 1310.0, 1305.0]


def _record(client, key, token) -> int:
    done = claim_runs(
        client, key, token, A, [1000.0, 1004.0, 1002.0], hardware=machines.hardware("node-a")
    )
    [record] = done.records
    return record


def _reverify(client, db, key, record: int, times: list[float], **machine: Any) -> dict:
    """Queue a re-verification, run it with `times` on a machine built from `machine`
    (hardware=, telemetry=, losses=), and answer the record's latest verification."""
    with db.write() as session:
        schedule_reverification(session, record)
    lease = claim(client, key)
    assert lease["job"]["kind"] == "reverify"
    losses = machine.pop("losses", [1.5] * len(times))
    for t, loss in zip(times, losses, strict=True):
        bundle = make_bundle(
            key,
            source=A,
            job=job_block(lease),
            time_ms=t,
            val_loss=loss,
            extra_members=machines.telemetry_members(30),
            **machine,
        )
        answer = upload(client, key, lease, bundle)
        assert answer.status_code == 201, answer.text
    complete(client, key, lease)
    verifications = client.get(f"/api/v1/records/{record}").json()["verifications"]
    latest: dict = verifications[-1]
    return latest


def test_a_slow_rerun_on_a_stolen_machine_is_put_down_to_its_conditions(
    client, db, runner_key, token
) -> None:
    record = _record(client, runner_key, token)
    stolen = machines.telemetry(steal=0.31, conditions=["cpu_steal"])
    v = _reverify(
        client, db, runner_key, record, SLOW, hardware=machines.hardware("node-b"), telemetry=stolen
    )
    assert v["status"] == "drifted" and v["cause"] == "machine conditions"
    assert v["verdict"] == "drifted: machine conditions"
    assert {c["name"] for c in v["conditions"]} == {"cpu_steal"} and len(v["conditions"]) == 3
    assert v["conditions"][0]["figures"]["mean_steal_share"] == pytest.approx(0.31)
    assert "outside the record's band" in v["detail"]
    assert "mean steal 31% of CPU time" in v["detail"]
    board = client.get("/api/v1/tracks/cpu-tiny/leaderboard").json()
    assert board["entries"][0]["evidence"]["verification"]["verdict"] == v["verdict"]
    page = client.get(f"/records/{record}").text
    assert "drifted: machine conditions" in page and "mean steal 31% of CPU time" in page
    assert "drifted: machine conditions 20" in client.get("/tracks/cpu-tiny").text  # the badge


def test_the_same_drift_on_a_healthy_machine_is_plain_drifted(
    client, db, runner_key, token
) -> None:
    record = _record(client, runner_key, token)
    v = _reverify(
        client,
        db,
        runner_key,
        record,
        SLOW,
        hardware=machines.hardware("node-b"),
        telemetry=machines.telemetry(),
    )
    assert (v["status"], v["cause"], v["verdict"], v["conditions"]) == (
        "drifted",
        None,
        "drifted",
        [],
    )


def test_the_runners_list_alone_is_not_taken_on_trust(client, db, runner_key, token) -> None:
    """The runner says "cpu_steal, cpu_throttled"; its figures say a healthy machine."""
    record = _record(client, runner_key, token)
    claimed = machines.telemetry(conditions=["cpu_steal", "cpu_throttled"])
    v = _reverify(
        client, db, runner_key, record, SLOW, hardware=machines.hardware(), telemetry=claimed
    )
    assert v["verdict"] == "drifted" and v["conditions"] == []


def test_below_calibration_names_the_probe_against_the_tracks_reference(
    client, db, runner_key, token
) -> None:
    record = _record(client, runner_key, token)
    weak = machines.hardware("node-c", cal=machines.calibration(matmul=1.0e10, below=True))
    v = _reverify(client, db, runner_key, record, SLOW, hardware=weak)
    assert v["verdict"] == "drifted: machine conditions"
    [found] = {c["name"]: c for c in v["conditions"]}.values()
    assert found["name"] == "below_calibration"
    assert found["figures"]["reference_matmul_flops_per_s"] == 4.0e10
    assert "matmul 10 GFLOP/s vs reference 40 GFLOP/s (25%)" in found["detail"]


def test_a_loss_drift_is_not_blamed_on_the_machine(client, db, runner_key, token) -> None:
    """Conditions slow a run down; they do not raise its loss. Nor do they explain a re-run
    inside the band (reproduced, conditions noted)."""
    record = _record(client, runner_key, token)
    stolen = machines.telemetry(steal=0.4)
    v = _reverify(
        client,
        db,
        runner_key,
        record,
        SLOW,
        hardware=machines.hardware(),
        telemetry=stolen,
        losses=[1.9, 1.9, 1.9],
    )
    assert v["verdict"] == "drifted" and v["detail"].startswith("loss rule not met")
    assert {c["name"] for c in v["conditions"]} == {"cpu_steal"}
    ok = _reverify(
        client,
        db,
        runner_key,
        record,
        [1001.0, 1003.0, 1002.0],
        hardware=machines.hardware(),
        telemetry=stolen,
    )
    assert ok["verdict"] == "reproduced" and ok["conditions"]


def test_with_cause_only_for_a_slow_drift() -> None:
    from server.schemas.compute import ConditionPublic

    found = [ConditionPublic(name="cpu_load", detail="host CPUs overloaded: x", figures={})]
    fast = with_cause(Outcome("drifted", "mean time 900 ms outside", slow=False), found)
    assert fast.cause is None and fast.conditions == found
    slow = with_cause(Outcome("drifted", "mean time 1300 ms outside", slow=True), found)
    assert slow.cause == "machine conditions"
    assert slow.detail.endswith("on a machine with machine conditions: host CPUs overloaded: x")
    healthy = with_cause(Outcome("drifted", "d", slow=True), [])
    assert healthy.cause is None
