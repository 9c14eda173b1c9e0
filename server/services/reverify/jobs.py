"""Scheduling re-runs of records as jobs: the hook a re-verification policy calls (later: on
an image or driver change), and what `speedrun admin reverify RECORD_ID` calls today."""

from __future__ import annotations

from sqlalchemy.orm import Session

from server.models import Attempt, Job, Record
from server.problems import BadRequest, NotFound
from server.services import catalog
from server.services.queue import create_job


def schedule_reverification(session: Session, record_id: int, runs: int | None = None) -> Job:
    """Queue `runs` re-runs (default: the track's runs_required) of a record's code."""
    record = session.get(Record, record_id)
    if record is None:
        raise NotFound("unknown-record", f"no record {record_id}")
    track = catalog.track(record.track_id, record.track_version)
    closed = catalog.closed_reason(track, submission=False)
    if closed is not None:  # its runs could never be uploaded
        raise BadRequest(*closed)
    attempt = session.get_one(Attempt, record.attempt_id)
    if attempt.source_sha256 is None:
        raise NotFound("no-source", f"record {record_id} has no stored variant source")
    return create_job(
        session,
        kind="reverify",
        track_id=record.track_id,
        track_version=record.track_version,
        variant_sha256=attempt.source_sha256,
        attempt_id=attempt.id,
        runs_total=runs or track.rules.runs_required,
        record_id=record.id,
    )
