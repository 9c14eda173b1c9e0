"""Imported history: the speedrun's past records, read from modded-nanogpt logs by an
importer (`speedrun records import`, built elsewhere) and written here.

They are evidence of a different kind, so they are marked and kept apart:
* every row has `origin="imported"`; runs are unofficial, their loss `self-reported`, their
  `time_ms` the logged train_time and `claimed_time_ms` the time the README claimed;
* they live on their own track family (e.g. `modded-nanogpt-short@v1`, defined as a track
  whose `record_backends` is empty), so a verified attempt never has to beat, or is ranked
  with, a self-reported one; a record's `beat.method` is "imported";
* the importer calls `import_record` once per historical record, oldest first, inside one
  write transaction per record; each call supersedes the previous imported record on that
  track. Re-importing the same record (same run ids) is refused by run_id uniqueness.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Record, Run, User
from server.services.attempts import get_or_create_attempt, refresh_stats
from server.services.blobs import put_blob, sha256_hex
from server.services.records import current_record, lock_track
from speedrun.tracks import Track


@dataclass(frozen=True)
class ImportedRun:
    run_id: str  # 32 hex digits, e.g. the first 32 of the log's sha256
    log: bytes
    time_ms: float | None  # the log's final train_time
    val_loss: float | None  # the log's final val loss (self-reported)
    claimed_time_ms: float | None = None  # what the README table claimed
    started_at: datetime | None = None
    hardware_class: str | None = None
    accelerator_count: int | None = None
    source_path: str = ""  # where in the checkout the log came from


@dataclass(frozen=True)
class ImportedRecord:
    name: str
    description: str
    author: str
    date: datetime
    code: str | None  # the train_gpt.py printed at the top of the log, when it was
    runs: list[ImportedRun] = field(default_factory=list)


def _author(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        user = User(name=name)
        session.add(user)
        session.flush()
    return user


def _run(attempt_id: int, track: Track, r: ImportedRun, log_sha256: str) -> Run:
    return Run(
        run_id=r.run_id,
        origin="imported",
        attempt_id=attempt_id,
        track_id=track.id,
        track_version=track.version,
        backend=None,
        official=False,
        status="completed",
        time_ms=r.time_ms,
        val_loss=r.val_loss,
        val_loss_source="self-reported",
        claimed_time_ms=r.claimed_time_ms,
        hardware_class=r.hardware_class,
        accelerator_count=r.accelerator_count,
        log_sha256=log_sha256,
        log_member=None,
        manifest_json=json.dumps({"imported_from": r.source_path}),
        started_at=r.started_at,
    )


def import_record(session: Session, track: Track, rec: ImportedRecord) -> Record:
    """Write one historical record (attempt, runs, record) and supersede the one before it."""
    lock_track(session, track.id, track.version)
    code = (rec.code or rec.name).encode("utf-8")
    variant = sha256_hex(code)
    source = put_blob(session, code, "text/x-python", variant) if rec.code else None
    attempt = get_or_create_attempt(
        session,
        track.id,
        track.version,
        variant,
        origin="imported",
        source_sha256=source,
        name=rec.name,
        description=rec.description,
        submitter_id=_author(session, rec.author).id,
    )
    for r in rec.runs:
        session.add(_run(attempt.id, track, r, put_blob(session, r.log, "text/plain")))
    session.flush()
    refresh_stats(session, attempt, track)
    previous = current_record(session, track.id, track.version)
    record = Record(
        origin="imported",
        track_id=track.id,
        track_version=track.version,
        attempt_id=attempt.id,
        previous_record_id=previous.id if previous else None,
        established_at=rec.date,
        decision_json=json.dumps(
            {
                "beat": {
                    "method": "imported",
                    "p_value": None,
                    "speedup": None,
                    "detail": "imported from the speedrun's history",
                }
            }
        ),
    )
    if previous is not None:
        previous.superseded_at = rec.date
    session.add(record)
    session.flush()
    return record
