"""Re-verification: `speedrun admin reverify RECORD_ID` queues re-runs of a record; an agent
runs them; the outcome attaches to the record as reproduced / drifted / failed, with numbers,
and the re-runs do not change the record's own statistics."""

from __future__ import annotations

import json

import pytest
from support.bundles import LOSS, TRACK, claim_runs, make_bundle
from support.claims import claim, job_block, signed

from speedrun.cli import main as cli

A = "from speedrun import harness\nprint('A')\n"


def _record(client, key, token):
    [record] = claim_runs(client, key, token, A, [1000.0, 1004.0, 1002.0]).records
    return record


def _run_job(client, key, times, outcome="finished"):
    lease = claim(client, key)
    assert lease["job"]["kind"] == "reverify"
    for t in times:
        r = signed(
            client,
            key,
            "POST",
            lease["upload_url"],
            make_bundle(key, source=A, time_ms=t, val_loss=LOSS, job=job_block(lease)),
        )
        assert r.status_code == 201, r.text
    body = json.dumps({"lease_id": lease["lease_id"], "outcome": outcome, "reason": "GPU fell off"})
    done = signed(client, key, "POST", f"/api/v1/jobs/{lease['job']['id']}/complete", body.encode())
    assert done.status_code == 200, done.text
    return done.json()


@pytest.mark.parametrize(
    ("times", "outcome", "status"),
    [
        ([1001.0, 1003.0, 1002.0], "finished", "reproduced"),
        ([1300.0, 1310.0, 1305.0], "finished", "drifted"),
        ([], "failed", "failed"),
    ],
)
def test_reverification_attaches_its_outcome(
    client, settings, runner_key, token, capsys, times, outcome, status
):
    record_id = _record(client, runner_key, token)
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
    board = client.get(f"/api/v1/tracks/{TRACK}/leaderboard").json()
    assert board["entries"][0]["evidence"]["verification"]["status"] == status


def test_reverify_unknown_record_is_an_error(settings, capsys):
    assert cli(["admin", "reverify", "999", "--db", settings.db]) == 1
    assert "no record 999" in capsys.readouterr().err


def test_records_of_a_retired_track_are_not_rerun(db, settings, capsys):
    """Its runs could never be uploaded: the track version takes no runs."""
    from server.models import Attempt, Record

    with db.write() as s:
        attempt = Attempt(track_id="cpu-tiny", track_version=1, variant_sha256="0" * 64)
        s.add(attempt)
        s.flush()
        record = Record(track_id="cpu-tiny", track_version=1, attempt_id=attempt.id)
        s.add(record)
        s.flush()
        record_id = record.id
    assert cli(["admin", "reverify", str(record_id), "--db", settings.db]) == 1
    assert "retired" in capsys.readouterr().err
