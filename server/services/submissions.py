"""Submissions: a submitter's variant source for a track becomes (or joins) an attempt and a
job asking agents for the track's runs_required runs. Rate-limited per user.

Only live runner tracks take submissions: a retired version, imported history or a hidden
(test) track is refused with a problem naming why, storing nothing. A track named without a
version means its latest live version. Every run of the job counts toward the attempt, the
failed ones included (see `server.services.attempts`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.config import Settings
from server.db import Database
from server.models import Attempt, Job, Submission, User
from server.problems import BadRequest, NotFound, RateLimited, TooLarge
from server.services import catalog
from server.services.attempts import get_or_create_attempt
from server.services.blobs import put_blob, sha256_hex
from server.services.ingest import SOURCE_MEDIA_TYPE
from server.services.manifest import check_values
from server.services.queue import create_job
from server.services.records import current_record
from speedrun.errors import BundleInvalid, TrackError
from speedrun.tracks import Track


def resolve_track(ref: str, version: int | None, settings: Settings) -> Track:
    """The track version a submission goes to, or a 422 naming why it takes none."""
    try:
        track = catalog.live_track(ref) if version is None else catalog.track(ref, version)
    except TrackError as exc:
        raise BadRequest("unknown-track", str(exc)) from None
    closed = catalog.closed_reason(
        track, submission=True, hidden_ok=settings.submissions_to_hidden_tracks
    )
    if closed is not None:
        raise BadRequest(*closed)
    return track


def _check_rate(session: Session, user: User, settings: Settings, now: datetime) -> None:
    session.scalar(select(User.id).where(User.id == user.id).with_for_update())
    since = now - timedelta(seconds=settings.submission_window_s)
    query = select(func.count(), func.min(Submission.created_at)).where(
        Submission.user_id == user.id, Submission.created_at > since
    )
    count, oldest = session.execute(query).one()
    if count >= settings.submissions_per_window:
        wait = settings.submission_window_s
        if oldest is not None:
            wait = max(1, int((oldest - since).total_seconds()) + 1)
        raise RateLimited(
            "rate-limited",
            f"{count} submissions in the last {settings.submission_window_s} s; try later",
            headers={"Retry-After": str(wait)},
        )


def _check_source(source: str, description: str, settings: Settings) -> bytes:
    try:
        check_values([source, description], "submission")
    except BundleInvalid as exc:
        raise BadRequest("bad-text", exc.reason) from None
    data = source.encode("utf-8")
    if not data.strip():
        raise BadRequest("empty-source", "the variant source is empty")
    if len(data) > settings.max_variant_bytes:
        raise TooLarge("too-large", f"variant source over {settings.max_variant_bytes} bytes")
    return data


def _open_job(session: Session, attempt_id: int) -> Job | None:
    query = select(Job).where(
        Job.attempt_id == attempt_id,
        Job.kind == "submission",
        Job.state.in_(("PENDING", "RUNNING")),
    )
    return session.scalar(query.order_by(Job.id).limit(1))


def _new_job(session: Session, track: Track, attempt_id: int, digest: str) -> Job:
    """The job asking for the track's runs; on a track that demands paired runs against the
    record (and has one), an A/B job: each of its pairs is the record's variant and this one,
    interleaved on one machine (runs_total counts both sides)."""
    baseline = None
    if track.rules.paired_ab:
        record = current_record(session, track.id, track.version)
        if record is not None:
            baseline = session.get_one(Attempt, record.attempt_id).variant_sha256
    pairs = 2 if baseline is not None and baseline != digest else 1
    return create_job(
        session,
        kind="submission",
        track_id=track.id,
        track_version=track.version,
        variant_sha256=digest,
        attempt_id=attempt_id,
        runs_total=track.rules.runs_required * pairs,
        baseline_sha256=baseline if pairs == 2 else None,
    )


def create_submission(
    db: Database,
    user: User,
    track_ref: str,
    version: int | None,
    source: str,
    description: str,
    settings: Settings,
    now: datetime,
    name: str | None = None,
) -> Submission:
    """A resubmission of the same code on the same track joins the existing attempt and job.
    `name` (already `speedrun.names.clean_name`d) names the attempt, and so its record, when
    the attempt is this submitter's (or no one's yet: an unsolicited upload made it)."""
    track = resolve_track(track_ref, version, settings)
    data = _check_source(source, description, settings)
    digest = sha256_hex(data)
    with db.write() as session:
        _check_rate(session, user, settings, now)
        put_blob(session, data, SOURCE_MEDIA_TYPE, digest)
        attempt = get_or_create_attempt(
            session,
            track.id,
            track.version,
            digest,
            source_sha256=digest,
            description=description,
            submitter_id=user.id,
            name=name,
        )
        if attempt.submitter_id is None:
            attempt.submitter_id, attempt.description = user.id, description
        if name is not None and attempt.submitter_id == user.id:
            attempt.name = name
        job = _open_job(session, attempt.id) or _new_job(session, track, attempt.id, digest)
        submission = Submission(
            user_id=user.id,
            attempt_id=attempt.id,
            job_id=job.id,
            track_id=track.id,
            track_version=track.version,
            variant_sha256=digest,
            description=description,
            name=name,
            created_at=now,
        )
        session.add(submission)
        session.flush()
        return submission


def get_submission(session: Session, submission_id: int) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("unknown-submission", f"no submission {submission_id}")
    return submission
