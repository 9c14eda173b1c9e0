"""Trust of official figures: only runs of server-issued jobs count, and the server re-checks
the rules from each manifest instead of trusting its status.

* A job's upload must carry the job's own id and nonce (signed into the manifest): another
  job's bundle, a wrong nonce or none at all is refused 400 `job-mismatch`, storing nothing.
* A manifest that says `completed` while its figures break a rule is stored as
  `rule_violation`, with the reasons, shown on the run's page; such runs, failed runs and
  unsolicited uploads never make a record, and a failed run of a job keeps counting against
  its attempt ("every attempt counted").
* Held-out tracks: official only with the same kind of held-out data and a commitment.
* Retired, imported and hidden tracks take no submissions; retired and imported no bundles.
* Migration 0006 gives existing jobs a nonce and marks direct uploads unsolicited.
"""

from __future__ import annotations

import re

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text
from srv_helpers import assert_problem, row_counts
from support.bundles import LOSSES, RUNS, TRACK, claim_runs, make_bundle, manifest
from support.claims import claim, job_block, run_claim, submit, upload

from server.app import create_app
from server.config import load_settings
from server.db import alembic_config

A = "from speedrun import harness\nprint('A')\n"
B = "from speedrun import harness\nprint('B')\n"


def _broken(change, **fields):
    """A manifest that says `completed`, with one rule broken by `change(manifest)`."""
    m = manifest(**fields)
    change(m)
    return m


def _time_disagrees(m):
    m["figures"]["self_reported_train_time_ms"] = m["figures"]["time_ms"] * 0.5
    m["figures"]["time_disagreement"] = 0.5


def _cap_exceeded(m):
    m["timing"] = {"cap_exceeded": True, "breakdown_ms": {"startup_warmup_ms": 999_000.0}}


def _private_far(m):
    m["figures"]["private_val_loss"] = m["figures"]["val_loss"] + 1.0


def _loss_disagrees(m):
    m["figures"]["self_reported_val_loss"] = m["figures"]["val_loss"] * 0.5


BROKEN = {
    "time disagreement": _time_disagrees,
    "untimed cap": _cap_exceeded,
    "held-out gap": _private_far,
    "loss disagreement": _loss_disagrees,
}


@pytest.mark.parametrize("case", ["another job", "wrong nonce", "no job block"])
def test_a_bundle_that_is_not_the_jobs_own_run_is_refused(client, db, token, runner_key, case):
    submit(client, token, A, TRACK)
    submit(client, token, B, TRACK)
    lease, other = claim(client, runner_key), claim(client, runner_key)
    job = {
        "another job": job_block(other),
        "wrong nonce": {"id": lease["job"]["id"], "nonce": "0" * 32},
        "no job block": None,
    }[case]
    source = B if case == "another job" else A
    before = row_counts(db)
    answer = upload(client, runner_key, lease, make_bundle(runner_key, source=source, job=job))
    body = assert_problem(answer, 400, "job-mismatch")
    expected = {
        "another job": f"for job {other['job']['id']}, not job {lease['job']['id']}",
        "wrong nonce": "nonce",
        "no job block": "names no job",
    }[case]
    assert expected in body["detail"]
    assert row_counts(db) == before
    assert client.get(f"/api/v1/jobs/{lease['job']['id']}").json()["runs_done"] == []


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_a_completed_manifest_that_breaks_a_rule_is_stored_as_a_rule_violation(
    client, token, runner_key, rule
):
    submit(client, token, A, TRACK)
    lease = claim(client, runner_key)
    m = _broken(BROKEN[rule], source=A, job=job_block(lease))
    answer = upload(client, runner_key, lease, make_bundle(runner_key, m, source=A))
    assert answer.status_code == 201, answer.text
    brief = answer.json()["run"]
    assert brief["status"] == "rule_violation" and brief["counts"] is False
    assert any(w.startswith("rule_violation:") for w in answer.json()["warnings"])
    run = client.get(brief["url"]).json()
    assert run["manifest"]["exit"]["status"] == "completed"  # what the bundle said
    assert any(v.startswith(rule) for v in run["violations"]), run["violations"]
    assert rule in run["exit_reason"] and "status rule_violation" in run["not_counted"]
    page = client.get(f"/runs/{brief['run_id']}").text
    assert "Why this run does not count" in page
    listed = re.search(r'<ul class="violations"[^>]*>(.*?)</ul>', page, re.S)
    assert listed and rule in listed.group(1)


def test_rule_breaking_runs_through_a_job_never_make_a_record(client, token, runner_key):
    sub = submit(client, token, A, TRACK, "looks fast")
    lease = claim(client, runner_key)
    for i in range(RUNS):
        m = _broken(_time_disagrees, source=A, time_ms=500.0 + i, val_loss=LOSSES[i], seed=i)
        m["job"] = job_block(lease)
        answer = upload(client, runner_key, lease, make_bundle(runner_key, m, source=A))
        assert answer.status_code == 201 and answer.json()["records_established"] == []
    stats = client.get(f"/api/v1/attempts/{sub['attempt_id']}").json()["stats"]
    assert stats["reason"] == f"{RUNS} of {RUNS} runs failed: rule_violation x{RUNS}"
    assert stats["qualifies"] is False
    assert client.get(f"/api/v1/tracks/{TRACK}/leaderboard").json()["total"] == 0
    page = client.get(f"/submissions/{sub['id']}").text
    assert f"{RUNS} of {RUNS} runs failed: rule_violation" in page


def test_one_failed_run_of_three_never_makes_a_record(client, token, runner_key):
    def run(job, i):
        if i == 1:
            return make_bundle(
                runner_key, source=A, status="failed", time_ms=None, val_loss=None, job=job
            )
        return make_bundle(runner_key, source=A, time_ms=1000.0 + i, val_loss=LOSSES[i], job=job)

    done = run_claim(client, runner_key, token, A, TRACK, run)
    assert done.records == [] and done.job["state"] == "FINISHED"
    stats = client.get(f"/api/v1/attempts/{done.attempt_id}").json()["stats"]
    assert stats["reason"] == f"1 of {RUNS} runs failed: failed"
    # Every attempt counted: more good runs of the same code (a second job) do not wash it out.
    again = claim_runs(client, runner_key, token, A, [1000.0 + i for i in range(RUNS)])
    assert again.records == [] and again.attempt_id == done.attempt_id
    stats = client.get(f"/api/v1/attempts/{done.attempt_id}").json()["stats"]
    assert stats["reason"] == f"1 of {2 * RUNS} runs failed: failed"


def test_unsolicited_uploads_of_good_runs_never_make_a_record(client, token, runner_key):
    made = []
    for i in range(RUNS):
        bundle = make_bundle(runner_key, source=A, time_ms=1000.0 + i, val_loss=LOSSES[i], seed=i)
        answer = client.post("/api/v1/runs", content=bundle)
        assert answer.status_code == 201, answer.text
        assert answer.json()["run"]["purpose"] == "unsolicited"
        made += answer.json()["records_established"]
    # A bundle that names a real job (its nonce included) but comes by the direct route.
    submit(client, token, B, TRACK)
    lease = claim(client, runner_key)
    bundle = make_bundle(runner_key, source=B, job=job_block(lease))
    direct = client.post("/api/v1/runs", content=bundle).json()
    assert direct["run"]["purpose"] == "unsolicited" and direct["records_established"] == []
    assert client.get(f"/api/v1/jobs/{lease['job']['id']}").json()["runs_done"] == []
    assert made == [] and client.get(f"/api/v1/tracks/{TRACK}/leaderboard").json()["total"] == 0
    attempt = client.get(f"/api/v1/attempts/{answer.json()['run']['attempt_id']}").json()
    assert attempt["stats"]["n_unsolicited"] == RUNS and not attempt["stats"]["qualifies"]
    run = client.get(attempt["runs"][0]["url"]).json()
    assert run["unsolicited"] is True and run["not_counted"][0].startswith("unsolicited")
    page = client.get(attempt["runs"][0]["page_url"]).text
    assert 'data-field="unsolicited">unsolicited<' in page and "outside any job" in page


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"track": "cpu-tiny", "version": 1}, "track-retired"),
        ({"track": "gpt2-124m-1xgpu", "version": 1}, "track-retired"),
        ({"track": "modded-nanogpt-short", "version": 1}, "track-imported"),
    ],
)
def test_bundles_for_tracks_that_take_no_runs_are_refused(client, db, runner_key, fields, code):
    before = row_counts(db)
    answer = client.post("/api/v1/runs", content=make_bundle(runner_key, **fields))
    body = assert_problem(answer, 422, code)
    assert fields["track"] in body["detail"]
    assert row_counts(db) == before


def test_hidden_tracks_take_bundles_but_submissions_only_when_allowed(db_url, client, token):
    refused = client.post(
        "/api/v1/submissions",
        json={"track": "cpu-smoke", "source": A},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert "hidden" in assert_problem(refused, 422, "track-hidden")["detail"]
    app = create_app(load_settings(db=db_url, submissions_to_hidden_tracks=True))
    with TestClient(app) as allowed:
        sub = submit(allowed, token, A, "cpu-smoke")
        assert sub["track"] == {"id": "cpu-smoke", "version": 2}
    app.state.speedrun.db.dispose()


@pytest.mark.parametrize(
    ("held_out", "official"),
    [
        ({"kind": "secret-language", "commitment": "c0" * 32}, True),
        (None, False),
        ({"kind": "none"}, False),
        ({"kind": "secret-language"}, False),
        ({"kind": "private-slice", "commitment": "c0" * 32}, False),
    ],
)
def test_official_runs_on_held_out_tracks_carry_the_held_out_data(
    client, runner_key, held_out, official
):
    m = manifest(source=A)
    m["fingerprint"]["data"]["held_out"] = held_out
    if held_out is None or held_out["kind"] == "none":
        m["figures"]["private_val_loss"] = None
    answer = client.post("/api/v1/runs", content=make_bundle(runner_key, m, source=A))
    assert answer.status_code == 201, answer.text
    assert answer.json()["run"]["official"] is official


def test_migration_gives_old_jobs_a_nonce_and_marks_direct_uploads_unsolicited(db):
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    now, sha = "2026-01-01 00:00:00", "ab" * 32
    rows = [
        "INSERT INTO blobs (sha256, size_bytes, media_type, created_at, data) "
        f"VALUES ('{sha}', 1, 'text/x-python', '{now}', :data)",
        "INSERT INTO attempts (id, origin, track_id, track_version, variant_sha256, created_at,"
        f" updated_at) VALUES (1, 'verified', 'cpu-tiny', 1, '{sha}', '{now}', '{now}')",
        "INSERT INTO jobs (id, kind, state, track_id, track_version, variant_sha256, attempt_id,"
        " runs_total, lease_seq, expiries, created_at) VALUES (1, 'submission', 'FINISHED',"
        f" 'cpu-tiny', 1, '{sha}', 1, 1, 1, 0, '{now}')",
    ]
    for run_id, job_id in (("1" * 32, "1"), ("2" * 32, "NULL")):
        rows.append(
            "INSERT INTO runs (run_id, origin, attempt_id, job_id, purpose, track_id,"
            " track_version, official, status, val_loss_source, manifest_json, ingested_at)"
            f" VALUES ('{run_id}', 'verified', 1, {job_id}, 'claim', 'cpu-tiny', 1, TRUE,"
            f" 'completed', 'independently-evaluated', '{{}}', '{now}')"
        )
    with db.engine.begin() as conn:
        for sql in rows:
            conn.execute(text(sql), {"data": b"x"} if ":data" in sql else {})
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with db.engine.connect() as conn:
        [nonce] = conn.execute(text("SELECT nonce FROM jobs")).scalars()
        purposes = {r[0]: r[1] for r in conn.execute(text("SELECT run_id, purpose FROM runs"))}
    assert re.fullmatch(r"[0-9a-f]{32}", nonce)
    assert purposes == {"1" * 32: "claim", "2" * 32: "unsolicited"}
