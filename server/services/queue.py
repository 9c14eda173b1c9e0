"""Putting work on the queue: a new job row, PENDING, with the random nonce its runs must
carry (server.services.jobs leases and completes jobs; submissions and re-verification make
them here, so neither needs the leasing code), and the runs a job holds so far."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Job, Run

PENDING = "PENDING"


def create_job(
    session: Session,
    *,
    kind: str,
    track_id: str,
    track_version: int,
    variant_sha256: str,
    attempt_id: int,
    runs_total: int,
    record_id: int | None = None,
    baseline_sha256: str | None = None,
) -> Job:
    job = Job(
        kind=kind,
        state=PENDING,
        track_id=track_id,
        track_version=track_version,
        variant_sha256=variant_sha256,
        attempt_id=attempt_id,
        runs_total=runs_total,
        record_id=record_id,
        baseline_sha256=baseline_sha256,
        nonce=secrets.token_hex(16),
    )
    session.add(job)
    session.flush()
    return job


def runs_done(session: Session, job_id: int) -> list[str]:
    return list(session.scalars(select(Run.run_id).where(Run.job_id == job_id).order_by(Run.id)))
