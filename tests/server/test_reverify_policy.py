"""The automatic re-verification policy: a new image or runner version on a track re-runs its
records; the top K are re-run when their last check is D days old; never two open jobs."""

from __future__ import annotations

from datetime import timedelta

from support.bundles import LOSS, TRACK, claim_runs, make_bundle, manifest
from support.claims import signed

from server.models import Job, utcnow
from server.services.reverify import policy as reverify_policy
from server.services.reverify.verdict import time_band

A = "from speedrun import harness\nprint('A')\n"
B = "from speedrun import harness\nprint('B, faster')\n"


def _bundle(key, source, time_ms, loss, digest="ab", version="test"):
    m = manifest(source=source, time_ms=time_ms, val_loss=loss)
    m["fingerprint"]["image"]["digest"] = "sha256:" + digest * 32
    m["runner"] = {**m["runner"], "version": version}
    return make_bundle(key, m, source=source)


def _records(client, key, token):
    """Two records on cpu-tiny, through jobs: A, then B beating it, both in image ab / runner
    test (the manifests' defaults)."""
    made = []
    for source, times in ((A, [1000.0, 1004.0, 1002.0]), (B, [500.0, 502.0, 501.0])):
        made += claim_runs(client, key, token, source, times).records
    assert len(made) == 2
    return made


def _reverify_jobs(db):
    with db.reader() as session:
        return [
            (j.record_id, j.state)
            for j in session.query(Job).filter(Job.kind == "reverify").order_by(Job.id)
        ]


def test_a_new_image_digest_reruns_every_record_of_the_track(client, db, runner_key, token):
    records = _records(client, runner_key, token)
    assert _reverify_jobs(db) == []  # the first environment is what records were made in
    r = client.post("/api/v1/runs", content=_bundle(runner_key, B, 501.0, LOSS, digest="cd"))
    assert r.status_code == 201
    assert sorted(rid for rid, _ in _reverify_jobs(db)) == sorted(records)
    # Seeing the same new environment again schedules nothing more.
    client.post("/api/v1/runs", content=_bundle(runner_key, B, 503.0, LOSS, digest="cd"))
    assert len(_reverify_jobs(db)) == 2


def test_a_new_runner_version_announced_by_an_agent_reruns_records(client, db, runner_key, token):
    records = _records(client, runner_key, token)
    env = b'{"accelerator": "cpu", "image_digest": "sha256:' + b"ab" * 32 + b'", '
    same = signed(
        client, runner_key, "POST", "/api/v1/jobs/claim", env + b'"runner_version": "test"}'
    )
    assert same.status_code == 204 and _reverify_jobs(db) == []
    new = signed(
        client, runner_key, "POST", "/api/v1/jobs/claim", env + b'"runner_version": "0.2"}'
    )
    assert new.status_code == 200  # it claims the first of the jobs it just caused
    assert sorted(rid for rid, _ in _reverify_jobs(db)) == sorted(records)
    bad = signed(client, runner_key, "POST", "/api/v1/jobs/claim", b'{"accelerator": "tpu"}')
    assert bad.status_code == 422


def test_top_k_records_are_rerun_when_their_check_is_old(client, db, runner_key, token):
    current, older = _records(client, runner_key, token)[::-1]
    now = utcnow()
    with db.write() as session:
        assert reverify_policy.schedule_due(session, now, top_k=1, every_days=7) == []
    with db.write() as session:
        jobs = reverify_policy.schedule_due(session, now + timedelta(days=8), top_k=1, every_days=7)
    assert len(jobs) == 1
    ranked_first = client.get(f"/api/v1/tracks/{TRACK}/leaderboard").json()["entries"][0]
    assert _reverify_jobs(db) == [(ranked_first["record_id"], "PENDING")]
    with db.write() as session:  # an open job is never doubled
        assert (
            reverify_policy.schedule_due(session, now + timedelta(days=9), top_k=2, every_days=7)
            != []
        )
    assert sorted(rid for rid, _ in _reverify_jobs(db)) == sorted([current, older])


def test_time_band_is_the_t_interval_widened_to_the_tolerance():
    low, high = time_band([1000.0, 1010.0, 990.0], 3, 0.01)
    assert low < 990.0 and high > 1010.0  # 3 runs with std 10: t half-width ~20 ms
    low, high = time_band([1000.0, 1000.0], 2, 0.05)
    assert (low, high) == (950.0, 1050.0)  # no spread: the tolerance alone
    assert time_band([], 3, 0.05) is None


def test_reverify_due_command_queues_the_top_records(
    client, db, settings, runner_key, token, capsys
):
    from speedrun.cli import main as cli

    _records(client, runner_key, token)
    assert (
        cli(["admin", "reverify-due", "--top-k", "1", "--every-days", "0", "--db", settings.db])
        == 0
    )
    assert "1 re-verification jobs queued" in capsys.readouterr().out
    assert (
        cli(["admin", "reverify-due", "--top-k", "1", "--every-days", "0", "--db", settings.db])
        == 0
    )
    assert "0 re-verification jobs queued" in capsys.readouterr().out  # one open job at most
    assert len(_reverify_jobs(db)) == 1


def test_the_server_scans_for_due_records_in_the_background(
    client, db, settings, runner_key, token
):
    import time

    from server.services.reverify.schedule import ReverifyScheduler

    _records(client, runner_key, token)
    fast = settings.model_copy(
        update={"reverify_scan_interval_s": 0.1, "reverify_every_days": 0.0, "reverify_runs": 1}
    )
    scheduler = ReverifyScheduler(db, fast)
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        while len(_reverify_jobs(db)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        scheduler.stop()
    assert len(_reverify_jobs(db)) == 2  # the default top 3 covers both records, once each
    with db.reader() as session:
        assert {j.runs_total for j in session.query(Job).filter(Job.kind == "reverify")} == {1}
