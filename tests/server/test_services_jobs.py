"""server.services.jobs: the queue's leases. An agent leases the oldest pending job its
hardware can run; heartbeats extend a live lease and anything else is refused naming why
(lost, expired); a lease that runs out returns the job to the queue, and too many expiries
fail it; a job finishes only with all its runs, or is reported failed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from server.models import Job, Runner, User, utcnow
from server.problems import Conflict, NotFound
from server.services import jobs
from server.services.hardware import AgentHardware
from server.services.runners import add_runner
from server.services.submissions import create_submission

SOURCE = "from speedrun import harness\nprint('j')\n"


@pytest.fixture
def agent(db) -> Runner:
    with db.write() as session:
        runner = add_runner(session, "agent", Ed25519PrivateKey.generate().public_key())
        session.add(User(name="alice"))
    return runner


def queue(db, settings, track="cpu-tiny", n=1) -> list[int]:
    with db.reader() as session:
        user = session.scalar(select(User).where(User.name == "alice"))
    allowed = settings.model_copy(update={"submissions_to_hidden_tracks": True})
    return [
        create_submission(db, user, track, None, SOURCE + f"#{i}\n", "", allowed, utcnow()).job_id
        for i in range(n)
    ]


def test_the_oldest_job_the_agent_can_run_is_leased(db, settings, agent) -> None:
    first, second = queue(db, settings, n=2)
    now = utcnow()
    job = jobs.claim_job(db, agent, settings, now)
    assert job is not None and job.id == first and job.state == jobs.RUNNING
    assert job.runner_id == agent.id and job.lease_id and job.lease_seq == 1
    assert job.lease_expires_at == now + timedelta(seconds=settings.lease_s)
    gpu = AgentHardware(accelerator="cuda", count=8, gpu_model="NVIDIA H100 80GB HBM3")
    assert jobs.claim_job(db, agent, settings, now, hardware=gpu) is None  # cpu jobs only
    assert jobs.claim_job(db, agent, settings, now).id == second
    assert jobs.claim_job(db, agent, settings, now) is None  # nothing left


def test_heartbeats_extend_only_a_live_lease(db, settings, agent) -> None:
    queue(db, settings)
    now = utcnow()
    job = jobs.claim_job(db, agent, settings, now)
    later = now + timedelta(seconds=60)
    beat = jobs.heartbeat(db, job.id, job.lease_id, agent, settings, later)
    assert beat.lease_expires_at == later + timedelta(seconds=settings.lease_s)
    with pytest.raises(Conflict) as lost:
        jobs.heartbeat(db, job.id, "not-the-lease", agent, settings, later)
    assert lost.value.code == "lease-lost"
    with pytest.raises(Conflict) as expired:
        jobs.heartbeat(db, job.id, job.lease_id, agent, settings, later + timedelta(days=1))
    assert expired.value.code == "lease-expired"
    with pytest.raises(NotFound):
        jobs.heartbeat(db, 4242, job.lease_id, agent, settings, later)


def test_expired_leases_return_the_job_until_it_has_expired_too_often(db, settings, agent) -> None:
    [job_id] = queue(db, settings)
    now = utcnow()
    for expiry in range(1, settings.max_lease_expiries + 1):
        assert jobs.claim_job(db, agent, settings, now) is not None
        now += timedelta(seconds=settings.lease_s + 1)
        with db.write() as session:
            jobs.expire_leases(session, now, settings)
        with db.reader() as session:
            row = jobs.get_job(session, job_id)
        if expiry < settings.max_lease_expiries:
            assert (row.state, row.expiries, row.lease_id) == (jobs.PENDING, expiry, None)
    assert row.state == jobs.FAILED and row.reason == f"lease expired {expiry} times"


def test_a_job_finishes_with_all_its_runs_or_is_reported_failed(db, settings, agent) -> None:
    queue(db, settings)
    now = utcnow()
    job = jobs.claim_job(db, agent, settings, now)
    with pytest.raises(Conflict) as missing:
        jobs.complete(db, job.id, job.lease_id, agent, settings, failed=False, reason=None, now=now)
    assert missing.value.code == "runs-missing"
    done = jobs.complete(
        db, job.id, job.lease_id, agent, settings, failed=True, reason="OOM", now=now
    )
    assert (done.state, done.reason, done.lease_id, done.finished_at) == (
        jobs.FAILED,
        "OOM",
        None,
        now,
    )
    with pytest.raises(Conflict):  # over: its lease is gone
        jobs.complete(db, job.id, job.lease_id, agent, settings, failed=True, reason="x", now=now)
    with db.reader() as session:
        assert session.get(Job, job.id).state == jobs.FAILED
