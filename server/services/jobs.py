"""The job queue agents pull from: PENDING -> RUNNING (leased) -> FINISHED | FAILED.

A claim is an atomic compare-and-set (`UPDATE ... WHERE id = :id AND state = 'PENDING'`),
preceded on PostgreSQL by `SELECT ... FOR UPDATE SKIP LOCKED` so concurrent claimers pass
each other instead of queueing; on SQLite the write transaction (`BEGIN IMMEDIATE`) already
serialises claimers. A job goes only to an agent whose declared hardware fits its track
(`server.services.hardware`). A lease lives `lease_s` past its last heartbeat; expired leases
return their job to the queue (or fail it after `max_lease_expiries`), and any later
heartbeat, upload or completion under the old lease is refused.

Each job has a nonce, issued at creation and handed only to the agent that leases it (in the
claim answer, never in public views). The runner signs `{"id", "nonce"}` into every bundle
of the job; an upload through the job's route must carry exactly that, so a job's runs are
the runs its agent made for it, and nothing uploaded elsewhere can be passed off as one.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from server.config import Settings
from server.db import Database
from server.models import Job, Run, Runner
from server.problems import Conflict, JobMismatch, NotFound
from server.services.hardware import UNDECLARED, AgentHardware, fits_track
from server.services.queue import runs_done
from server.services.reverify import verdict
from speedrun.manifest import JobRef, Manifest

PENDING, RUNNING, FINISHED, FAILED = "PENDING", "RUNNING", "FINISHED", "FAILED"
# The record's side of an A/B job's pairs: stored with the record's attempt, never counted in
# its statistics; it is what the candidate's paired speedup is measured against.
AB_BASELINE = "ab-baseline"


def expire_leases(session: Session, now: datetime, settings: Settings) -> None:
    """Return jobs whose lease ran out to the queue; fail those that ran out too often."""
    stale = Job.state == RUNNING, Job.lease_expires_at < now
    # FOR UPDATE: a concurrent claimer that failed the same job first makes PostgreSQL
    # re-check the row, which then no longer matches (no second verdict for one job).
    worn_out = select(Job).where(*stale, Job.expiries + 1 >= settings.max_lease_expiries)
    for job in session.scalars(worn_out.with_for_update()):
        finish(session, job, FAILED, f"lease expired {job.expiries + 1} times", now, settings)
    session.execute(
        update(Job)
        .where(*stale)
        .values(
            state=PENDING,
            lease_id=None,
            runner_id=None,
            lease_expires_at=None,
            expiries=Job.expiries + 1,
        )
    )


def _runnable(session: Session, hardware: AgentHardware) -> list[tuple[str, int]]:
    """The track versions of pending jobs that this agent's hardware can run."""
    pending = select(Job.track_id, Job.track_version).where(Job.state == PENDING).distinct()
    return [(t, v) for t, v in session.execute(pending) if fits_track(hardware, t, v)]


def claim_job(
    db: Database,
    runner: Runner,
    settings: Settings,
    now: datetime,
    *,
    hardware: AgentHardware = UNDECLARED,
) -> Job | None:
    """Lease the oldest pending job the agent's hardware can run; other jobs stay pending
    for an agent that can."""
    with db.write() as session:
        expire_leases(session, now, settings)
        tracks = _runnable(session, hardware)
        if not tracks:
            return None
        fit = or_(*(and_(Job.track_id == t, Job.track_version == v) for t, v in tracks))
        query = select(Job.id).where(Job.state == PENDING, fit).order_by(Job.id).limit(8)
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        for job_id in list(session.scalars(query)):
            lease = secrets.token_hex(16)
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == PENDING)
                .values(
                    state=RUNNING,
                    lease_id=lease,
                    lease_seq=Job.lease_seq + 1,
                    runner_id=runner.id,
                    leased_at=now,
                    heartbeat_at=now,
                    lease_expires_at=now + timedelta(seconds=settings.lease_s),
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return session.get_one(Job, job_id, populate_existing=True)
    return None


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound("unknown-job", f"no job {job_id}")
    return job


def held_job(session: Session, job_id: int, lease_id: str, runner: Runner, now: datetime) -> Job:
    """The job, if `lease_id` is its live lease held by `runner`; else a 409 saying why."""
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
    if job is None:
        raise NotFound("unknown-job", f"no job {job_id}")
    if job.state != RUNNING or job.lease_id != lease_id or job.runner_id != runner.id:
        raise Conflict("lease-lost", f"job {job_id} is not leased under this lease")
    if job.lease_expires_at is None or job.lease_expires_at < now:
        raise Conflict("lease-expired", f"the lease on job {job_id} has expired")
    return job


def heartbeat(
    db: Database, job_id: int, lease_id: str, runner: Runner, settings: Settings, now: datetime
) -> Job:
    with db.write() as session:
        job = held_job(session, job_id, lease_id, runner, now)
        job.heartbeat_at = now
        job.lease_expires_at = now + timedelta(seconds=settings.lease_s)
        return job


def _check_job_block(job: Job, claimed: JobRef | None) -> None:
    """The bundle's signed `job` block must name this job and carry its nonce."""
    if claimed is None:
        raise JobMismatch(
            "job-mismatch",
            f"the bundle names no job (an unsolicited run); runs of job {job.id} must carry "
            "its id and nonce",
        )
    if claimed.id != job.id:
        raise JobMismatch("job-mismatch", f"the bundle is for job {claimed.id}, not job {job.id}")
    if not secrets.compare_digest(claimed.nonce, job.nonce):
        raise JobMismatch("job-mismatch", f"the bundle's job nonce is not job {job.id}'s")


def attach_run(
    session: Session,
    job_id: int,
    lease_id: str,
    runner: Runner,
    run: Run,
    manifest: Manifest,
    now: datetime,
) -> None:
    """Ingest hook for a job's upload: the lease is live and the run is what the job asked,
    made for this job (its signed id and nonce)."""
    job = held_job(session, job_id, lease_id, runner, now)
    _check_job_block(job, manifest.job)
    if run.runner_id != runner.id:
        raise JobMismatch("job-mismatch", "the bundle is signed by another runner than the lease's")
    if (run.track_id, run.track_version) != (job.track_id, job.track_version):
        raise JobMismatch("job-mismatch", "the bundle is for another track than the job's")
    baseline = _check_variant(job, run, manifest)
    done = session.scalar(select(func.count()).select_from(Run).where(Run.job_id == job_id)) or 0
    if done >= job.runs_total:
        raise Conflict("job-full", f"job {job_id} already has its {job.runs_total} runs")
    run.job_id = job.id
    run.purpose = "reverify" if job.kind == "reverify" else "claim"
    if baseline:
        run.purpose = AB_BASELINE


def _check_variant(job: Job, run: Run, manifest: Manifest) -> bool:
    """The run is of the job's variant (or, in an A/B job, a pair's side of it); True for the
    baseline side of a pair."""
    if job.baseline_sha256 is None:
        if run.attempt_id != job.attempt_id:
            raise JobMismatch("job-mismatch", "the bundle ran another variant than the job's")
        return False
    ab = manifest.ab
    pair = (ab.baseline_sha256, ab.candidate_sha256) if ab is not None else (None, None)
    if ab is None or pair != (job.baseline_sha256, job.variant_sha256):
        raise JobMismatch("job-mismatch", "an A/B job's runs are pairs of its two variants")
    role, variant = ab.role, manifest.variant.sha256
    expected = job.baseline_sha256 if role == "baseline" else job.variant_sha256
    if variant != expected or (role == "candidate" and run.attempt_id != job.attempt_id):
        raise JobMismatch("job-mismatch", f"the {role} side ran another variant than the job's")
    return role == "baseline"


def finish(
    session: Session, job: Job, state: str, reason: str | None, now: datetime, settings: Settings
) -> None:
    job.state, job.reason, job.finished_at = state, reason, now
    job.lease_id, job.lease_expires_at = None, None
    if job.kind == "reverify" and job.record_id is not None:
        verdict.record_outcome(session, job, settings.reverify_time_tolerance)


def complete(
    db: Database,
    job_id: int,
    lease_id: str,
    runner: Runner,
    settings: Settings,
    *,
    failed: bool,
    reason: str | None,
    now: datetime,
) -> Job:
    with db.write() as session:
        job = held_job(session, job_id, lease_id, runner, now)
        done = len(runs_done(session, job_id))
        if not failed and done < job.runs_total:
            raise Conflict(
                "runs-missing", f"{done} of {job.runs_total} runs uploaded; report failure instead"
            )
        finish(session, job, FAILED if failed else FINISHED, reason, now, settings)
        return job
