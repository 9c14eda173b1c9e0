"""Re-verification: `speedrun admin reverify RECORD_ID` queues re-runs of a record; an agent
runs them; the outcome attaches to the record as reproduced / drifted / failed, with numbers,
and the re-runs do not change the record's own statistics."""

from __future__ import annotations

import json

import pytest
from srv_bundles import LOSS, LOSS2, make_bundle
from test_server_jobs import claim, signed

from speedrun.cli import main as cli

A = "from speedrun import harness\nprint('A')\n"


def _record(client, key):
    client.post("/api/v1/runs", content=make_bundle(key, source=A, time_ms=1000.0, val_loss=LOSS))
    r = client.post(
        "/api/v1/runs", content=make_bundle(key, source=A, time_ms=1004.0, val_loss=LOSS2)
    )
    return r.json()["records_established"][0]


def _run_job(client, key, times, outcome="finished"):
    lease = claim(client, key).json()
    assert lease["job"]["kind"] == "reverify"
    for t in times:
        r = signed(
            client,
            key,
            "POST",
            lease["upload_url"],
            make_bundle(key, source=A, time_ms=t, val_loss=LOSS),
        )
        assert r.status_code == 201, r.text
    body = json.dumps({"lease_id": lease["lease_id"], "outcome": outcome, "reason": "GPU fell off"})
    done = signed(client, key, "POST", f"/api/v1/jobs/{lease['job']['id']}/complete", body.encode())
    assert done.status_code == 200, done.text
    return done.json()


@pytest.mark.parametrize(
    ("times", "outcome", "status"),
    [
        ([1001.0, 1003.0], "finished", "reproduced"),
        ([1300.0, 1310.0], "finished", "drifted"),
        ([], "failed", "failed"),
    ],
)
def test_reverification_attaches_its_outcome(
    client, settings, runner_key, capsys, times, outcome, status
):
    record_id = _record(client, runner_key)
    before = client.get(f"/api/v1/records/{record_id}").json()
    assert cli(["admin", "reverify", str(record_id), "--db", settings.db]) == 0
    assert "queued" in capsys.readouterr().out
    job = _run_job(client, runner_key, times, outcome)
    assert job["record_id"] == record_id
    after = client.get(f"/api/v1/records/{record_id}").json()
    [entry] = after["verifications"]
    assert entry["status"] == status and entry["n_runs"] == len(times)
    assert after["evidence"]["verification"]["status"] == status
    if times:
        assert entry["time_ms_mean"] == pytest.approx(sum(times) / len(times))
        assert entry["image_digest"] == "sha256:" + "ab" * 32 and entry["runner"] == "ci-runner"
    assert after["time_ms"] == before["time_ms"]  # re-runs do not feed the claim's statistics
    board = client.get("/api/v1/tracks/cpu-smoke/leaderboard").json()
    assert board["entries"][0]["evidence"]["verification"]["status"] == status


def test_reverify_unknown_record_is_an_error(settings, capsys):
    assert cli(["admin", "reverify", "999", "--db", settings.db]) == 1
    assert "no record 999" in capsys.readouterr().err
