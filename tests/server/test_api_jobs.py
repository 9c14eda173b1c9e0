"""Submissions and the job queue: token auth, rate limit, folding resubmissions, tracks that
take no submissions, signed agent calls (claim / heartbeat / upload / complete), leases that
expire, and concurrent claimers that never share a job — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from srv_helpers import assert_problem, row_counts
from support.bundles import LOSSES, RUNS, TRACK, make_bundle
from support.claims import job_block
from support.serving import live_server

from server.app import create_app
from server.config import load_settings
from server.models import Job, utcnow
from server.services import jobs
from server.services.agent_auth import sign_request
from server.services.runners import add_runner
from server.services.tokens import create_token

SOURCE = "from speedrun import harness\nprint('submitted')\n"


def submit(client, token, source=SOURCE, track=TRACK, description="faster"):
    body = {"track": track, "source": source, "description": description}
    return client.post(
        "/api/v1/submissions", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def signed(client, key, method, path, body=b"", **kw):
    headers = {**sign_request(key, method, path, body, **kw), "Content-Type": "application/json"}
    return client.request(method, path, content=body, headers=headers)


def claim(client, key):
    return signed(client, key, "POST", "/api/v1/jobs/claim")


def test_submission_needs_a_valid_token(client, db):
    before = row_counts(db)
    assert_problem(submit(client, None), 401, "bad-token")
    r = client.post("/api/v1/submissions", json={"track": TRACK, "source": SOURCE})
    assert_problem(r, 401, "missing-token")
    assert row_counts(db) == before


def test_submission_creates_a_job_and_resubmission_folds_in(client, token):
    first = submit(client, token)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["job"]["state"] == "PENDING" and body["job"]["runs_total"] == RUNS
    assert body["job"]["runs_remaining"] == RUNS and body["user"] == "alice"
    assert body["track"] == {"id": TRACK, "version": 2}  # no version: the live one
    again = submit(client, token, description="same code again").json()
    assert again["attempt_id"] == body["attempt_id"] and again["job"]["id"] == body["job"]["id"]
    assert client.get(f"/api/v1/submissions/{body['id']}").json()["id"] == body["id"]
    source = client.get(f"/api/v1/attempts/{body['attempt_id']}/source")
    assert source.text == SOURCE


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"track": "nope"}, 422, "unknown-track"),
        ({"track": "cpu-smoke"}, 422, "track-hidden"),
        ({"track": "cpu-tiny@v1"}, 422, "track-retired"),
        ({"track": "gpt2-124m-8xh100@v1"}, 422, "track-retired"),
        ({"track": "modded-nanogpt-short"}, 422, "track-imported"),
        ({"source": "  \n"}, 422, "empty-source"),
        ({"source": "x" * 2_000_000}, 413, "too-large"),
        ({"description": "a\x00b"}, 422, "bad-text"),
    ],
)
def test_bad_submissions_store_nothing(client, db, token, fields, status, code):
    before = row_counts(db)
    assert_problem(submit(client, token, **fields), status, code)
    assert row_counts(db) == before


def test_bad_json_is_a_problem(client, db, token):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    assert_problem(
        client.post("/api/v1/submissions", content=b"{nope", headers=headers), 422, "validation"
    )
    lone = b'{"track": "cpu-tiny", "source": "\\ud800"}'
    assert_problem(
        client.post("/api/v1/submissions", content=lone, headers=headers), 422, "validation"
    )  # pydantic's JSON parser refuses lone surrogates itself


def test_rate_limit_per_user(db_url, db, token):
    app = create_app(load_settings(db=db_url, submissions_per_window=2))
    with TestClient(app) as client:
        assert submit(client, token, source=SOURCE + "#1").status_code == 201
        assert submit(client, token, source=SOURCE + "#2").status_code == 201
        r = submit(client, token, source=SOURCE + "#3")
        assert_problem(r, 429, "rate-limited")
        assert int(r.headers["Retry-After"]) > 0
    app.state.speedrun.db.dispose()


def test_agent_flow_claim_upload_complete(client, db, token, runner_key):
    sub = submit(client, token).json()
    assert claim(client, runner_key).status_code == 200
    job = client.get(f"/api/v1/jobs/{sub['job']['id']}").json()
    assert job["state"] == "RUNNING" and job["runner"] == "ci-runner"


def test_full_job_cycle_makes_a_record(client, db, token, runner_key):
    sub = submit(client, token).json()
    lease = claim(client, runner_key).json()
    assert lease["source"] == SOURCE and lease["job"]["id"] == sub["job"]["id"]
    assert len(lease["nonce"]) == 32 and lease["nonce"] not in json.dumps(sub)
    assert claim(client, runner_key).status_code == 204  # nothing else queued
    hb = signed(
        client,
        runner_key,
        "POST",
        f"/api/v1/jobs/{sub['job']['id']}/heartbeat",
        json.dumps({"lease_id": lease["lease_id"]}).encode(),
    )
    assert hb.status_code == 200, hb.text
    assert lease["nonce"] not in hb.text
    made = []
    for i, loss in enumerate(LOSSES):
        bundle = make_bundle(
            runner_key, source=SOURCE, time_ms=900.0 + i, val_loss=loss, job=job_block(lease)
        )
        r = signed(client, runner_key, "POST", lease["upload_url"], bundle)
        assert r.status_code == 201, r.text
        made += r.json()["records_established"]
    assert len(made) == 1
    done = signed(
        client,
        runner_key,
        "POST",
        f"/api/v1/jobs/{sub['job']['id']}/complete",
        json.dumps({"lease_id": lease["lease_id"], "outcome": "finished"}).encode(),
    )
    assert done.status_code == 200, done.text
    job = done.json()
    assert job["state"] == "FINISHED" and len(job["runs_done"]) == RUNS
    assert job["runs_remaining"] == 0
    record = client.get(f"/api/v1/records/{made[0]}").json()
    assert record["submitter"] == "alice" and record["description"] == "faster"
    public = client.get("/api/v1/jobs").text + client.get(f"/api/v1/jobs/{job['id']}").text
    assert lease["nonce"] not in public and "nonce" not in public


def test_upload_for_another_variant_is_refused(client, db, token, runner_key):
    sub = submit(client, token).json()
    lease = claim(client, runner_key).json()
    before = row_counts(db)
    other = make_bundle(runner_key, source="print('other')\n", job=job_block(lease))
    r = signed(client, runner_key, "POST", lease["upload_url"], other)
    assert_problem(r, 400, "job-mismatch")
    assert row_counts(db) == before
    early = signed(
        client,
        runner_key,
        "POST",
        f"/api/v1/jobs/{sub['job']['id']}/complete",
        json.dumps({"lease_id": lease["lease_id"], "outcome": "finished"}).encode(),
    )
    assert_problem(early, 409, "runs-missing")


@pytest.mark.parametrize(
    "case", ["unsigned", "stale", "unknown key", "bad signature", "replay", "revoked"]
)
def test_agent_signature_is_checked(client, db, runner_key, case):
    path = "/api/v1/jobs/claim"
    if case == "unsigned":
        assert_problem(client.post(path), 401, "missing-signature")
    elif case == "stale":
        assert_problem(
            signed(client, runner_key, "POST", path, timestamp=int(time.time()) - 3600),
            401,
            "stale-signature",
        )
    elif case == "unknown key":
        assert_problem(claim(client, Ed25519PrivateKey.generate()), 401, "unknown-runner")
    elif case == "bad signature":
        headers = sign_request(runner_key, "POST", "/api/v1/jobs/other", b"")
        assert_problem(client.post(path, headers=headers), 401, "bad-signature")
    elif case == "replay":
        headers = sign_request(runner_key, "POST", path, b"")
        assert client.post(path, headers=headers).status_code == 204
        assert_problem(client.post(path, headers=headers), 401, "replayed-signature")
    else:
        from server.services.runners import revoke_runner

        with db.write() as s:
            revoke_runner(s, "ci-runner")
        assert_problem(claim(client, runner_key), 401, "unknown-runner")


def _queue(db, settings, n, token_user="bob"):
    from server.services.submissions import create_submission

    with db.write() as s:
        user = create_token(s, token_user)[0]
    for i in range(n):
        create_submission(db, user, TRACK, None, f"print({i})\n", "", settings, utcnow())


def _runners(db, n):
    keys = [Ed25519PrivateKey.generate() for _ in range(n)]
    with db.write() as s:
        return [add_runner(s, f"agent-{i}", k.public_key()) for i, k in enumerate(keys)]


def test_concurrent_claimers_never_share_a_job(db, settings):
    settings = settings.model_copy(update={"submissions_per_window": 1000})
    _queue(db, settings, 30)
    agents = _runners(db, 6)
    claimed: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(agents))

    def work(runner):
        start.wait()
        try:
            while (job := jobs.claim_job(db, runner, settings, utcnow())) is not None:
                claimed.append(job.id)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(claimed) == 30 and len(set(claimed)) == 30


def test_expired_lease_returns_the_job_and_late_answers_are_refused(db, settings):
    settings = settings.model_copy(update={"lease_s": 60})
    _queue(db, settings, 1)
    first, second = _runners(db, 2)
    t0 = utcnow()
    job = jobs.claim_job(db, first, settings, t0)
    assert job is not None
    assert jobs.claim_job(db, second, settings, t0 + timedelta(seconds=30)) is None
    later = t0 + timedelta(seconds=61)
    again = jobs.claim_job(db, second, settings, later)
    assert again is not None and again.id == job.id and again.lease_id != job.lease_id
    assert again.expiries == 1
    with pytest.raises(Exception) as late:
        jobs.heartbeat(db, job.id, job.lease_id, first, settings, later)
    assert getattr(late.value, "code", None) == "lease-lost"
    with pytest.raises(Exception) as late_complete:
        jobs.complete(db, job.id, job.lease_id, first, settings, failed=True, reason="x", now=later)
    assert getattr(late_complete.value, "code", None) == "lease-lost"
    with pytest.raises(Exception) as own_expired:
        jobs.heartbeat(db, job.id, again.lease_id, second, settings, later + timedelta(seconds=61))
    assert getattr(own_expired.value, "code", None) == "lease-expired"


def test_lease_expiring_too_often_fails_the_job(db, settings):
    settings = settings.model_copy(update={"lease_s": 10, "max_lease_expiries": 2})
    _queue(db, settings, 1)
    [agent] = _runners(db, 1)
    t = utcnow()
    jobs.claim_job(db, agent, settings, t)
    jobs.claim_job(db, agent, settings, t + timedelta(seconds=11))
    assert jobs.claim_job(db, agent, settings, t + timedelta(seconds=22)) is None
    with db.reader() as s:
        [job] = s.query(Job).all()
        assert job.state == "FAILED" and "lease expired 2 times" in (job.reason or "")


def test_late_completion_over_http_is_refused(db_url, db, token, runner_key):
    app = create_app(load_settings(db=db_url, lease_s=1))
    with TestClient(app) as client:
        sub = submit(client, token).json()
        lease = claim(client, runner_key).json()
        time.sleep(1.2)
        late = signed(
            client,
            runner_key,
            "POST",
            f"/api/v1/jobs/{sub['job']['id']}/complete",
            json.dumps({"lease_id": lease["lease_id"], "outcome": "failed"}).encode(),
        )
        assert_problem(late, 409, "lease-expired")
        before = row_counts(app.state.speedrun.db)
        upload = signed(
            client, runner_key, "POST", lease["upload_url"], make_bundle(runner_key, source=SOURCE)
        )
        assert_problem(upload, 409, "lease-expired")
        assert row_counts(app.state.speedrun.db) == before
    app.state.speedrun.db.dispose()


def _claim_in_process(db_url: str, runner_name: str, out) -> None:
    """Child process: its own engine, claims until the queue is empty."""
    from sqlalchemy import select

    from server.config import load_settings
    from server.db import Database
    from server.models import Runner

    db = Database(db_url)
    with db.reader() as s:
        runner = s.scalar(select(Runner).where(Runner.name == runner_name))
    settings = load_settings(db=db_url)
    ids = []
    while (job := jobs.claim_job(db, runner, settings, utcnow())) is not None:
        ids.append(job.id)
    out.put(ids)
    db.dispose()


def test_concurrent_claiming_processes_never_share_a_job(db, settings):
    import multiprocessing

    settings = settings.model_copy(update={"submissions_per_window": 1000})
    _queue(db, settings, 24)
    agents = _runners(db, 3)
    ctx = multiprocessing.get_context("fork")  # children build their own engines
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_in_process, args=(settings.db, a.name, out)) for a in agents]
    for p in procs:
        p.start()
    claimed = [job_id for _ in procs for job_id in out.get(timeout=120)]
    for p in procs:
        p.join(30)
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 24


def test_the_agents_client_reads_the_lease_with_its_nonce(app, client, token, runner_key):
    """`runner.client` (what `speedrun agent` claims with) against this server over HTTP."""
    from runner.client import ServerClient

    sub = submit(client, token).json()
    with live_server(app) as port:
        agent = ServerClient(f"http://127.0.0.1:{port}", key=runner_key)
        lease = agent.claim()
        assert lease is not None and lease.job_id == sub["job"]["id"]
        assert lease.source == SOURCE and lease.job_ref == {
            "id": lease.job_id,
            "nonce": lease.nonce,
        }
        bundle = make_bundle(runner_key, source=SOURCE, job=lease.job_ref)
        answer = agent.upload_job_run(lease.job_id, lease.lease_id, bundle)
        assert answer.run.purpose == "claim"
        assert agent.claim() is None
        agent.close()
