"""When records are re-run, automatically: the re-verification policy.

* A new environment on a track — an image digest or runner software version not seen there
  before, learnt from an official run's bundle or announced by an agent when it claims work —
  re-runs every record of that track (current and superseded) in it.
* The top K records of each track (by rank) are re-run when their last verification (or
  their establishment) is older than D days; `schedule_due` is what the server's periodic
  scan and `speedrun admin reverify-due` call.
* Any record, on demand: `server.services.reverify.jobs.schedule_reverification`.

A record never gets a second open (pending or running) re-verification job.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import Environment, Job, Record, Verification
from server.services import catalog
from server.services.reverify.jobs import schedule_reverification

OPEN_STATES = ("PENDING", "RUNNING")


def _has_open_job(session: Session, record_id: int) -> bool:
    query = select(Job.id).where(
        Job.kind == "reverify", Job.record_id == record_id, Job.state.in_(OPEN_STATES)
    )
    return session.scalar(query.limit(1)) is not None


def _reverify_all(session: Session, track_id: str, version: int, runs: int | None) -> list[int]:
    records = session.scalars(
        select(Record)
        .where(Record.track_id == track_id, Record.track_version == version)
        .where(Record.origin == "verified")
        .order_by(Record.id)
    )
    jobs = []
    for record in list(records):
        if not _has_open_job(session, record.id):
            jobs.append(schedule_reverification(session, record.id, runs).id)
    return jobs


def note_environment(
    session: Session,
    track_id: str,
    version: int,
    image_digest: str | None,
    runner_version: str,
    now: datetime,
    runs: int | None = None,
) -> list[int]:
    """Record an environment seen on a track; if it is new (and not the track's first),
    schedule re-runs of every record there. Returns the ids of the jobs created."""
    digest = image_digest or ""
    known = select(Environment.id).where(
        Environment.track_id == track_id,
        Environment.track_version == version,
        Environment.image_digest == digest,
        Environment.runner_version == runner_version,
    )
    if session.scalar(known) is not None:
        return []
    count = select(func.count()).select_from(Environment)
    seen_before = session.scalar(
        count.where(Environment.track_id == track_id, Environment.track_version == version)
    )
    session.add(
        Environment(
            track_id=track_id,
            track_version=version,
            image_digest=digest,
            runner_version=runner_version,
            first_seen_at=now,
        )
    )
    session.flush()
    if not seen_before:
        return []  # the first environment: what the records were made in
    return _reverify_all(session, track_id, version, runs)


def note_agent_environment(
    session: Session,
    accelerator: str,
    image_digest: str | None,
    runner_version: str,
    now: datetime,
    runs: int | None = None,
) -> list[int]:
    """An agent announced what it runs: apply it to every runner track of that accelerator."""
    jobs: list[int] = []
    for track in catalog.all_runner_tracks():
        if track.hardware.accelerator == accelerator:
            jobs += note_environment(
                session, track.id, track.version, image_digest, runner_version, now, runs
            )
    return jobs


def _last_checked(session: Session, record: Record) -> datetime:
    latest = session.scalar(
        select(func.max(Verification.created_at)).where(Verification.record_id == record.id)
    )
    return latest or record.established_at


def schedule_due(
    session: Session, now: datetime, *, top_k: int, every_days: float, runs: int | None = None
) -> list[int]:
    """Re-run the top K records of each track whose last check is older than D days."""
    from server.services.leaderboard import track_records  # ranking lives there

    jobs: list[int] = []
    horizon = now - timedelta(days=every_days)
    for track in catalog.all_runner_tracks():
        for entry in track_records(session, track)[:top_k]:
            record = session.get_one(Record, entry.record_id)
            if _has_open_job(session, record.id):
                continue
            if _as_naive(_last_checked(session, record)) <= _as_naive(horizon):
                jobs.append(schedule_reverification(session, record.id, runs).id)
    return jobs


def _as_naive(moment: datetime) -> datetime:
    """Compare datetimes from SQLite (naive UTC) and PostgreSQL (aware) alike."""
    return moment.replace(tzinfo=None)
