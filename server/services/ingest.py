"""Ingest a result bundle: the same checks as `speedrun verify` (shared code, in cost order:
nothing walks the manifest before its signature is checked against the registry), the log
parsed once into what pages show, then one short write transaction that stores the bundle
and variant source by sha256, the run and its log summary, its attempt, and any record it
makes. Idempotent by the bundle's sha256; a run_id may appear only once.

One straight line, the same for both upload routes (`ingest_bundle`): read the bundle,
verify it once (`speedrun.bundle.verify_bundle` answers the typed manifest and the track it
ran on: nothing looks the track up again), walk its values, parse its log, store it, then
drop the track's cached answers and build the answer the routes return.

What a stored run counts for:
* Only runs of server-issued jobs count. A bundle uploaded through its job's route
  (`POST /jobs/{id}/runs`, which checks the lease and the bundle's signed job id and nonce)
  is a `claim` run (a submission job's) or a `reverify` run. Anything uploaded directly
  (`POST /runs`) is `unsolicited`, whatever job block it carries: stored and shown, never
  counted, and it never decides a record.
* The status is re-checked here (`server.services.manifest.judge`): a manifest that says
  `completed` while its figures break a rule is stored as `rule_violation`.
* Bundles for track versions that take no runs (retired, imported history) are refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.config import Settings
from server.db import Database
from server.models import Attempt, Run, utcnow
from server.problems import Conflict
from server.schemas.runs import IngestPublic
from server.services import catalog, read_models, run_logs, runners, telemetry
from server.services.attempts import get_or_create_attempt, refresh_stats
from server.services.blobs import put_blob, sha256_hex
from server.services.manifest import check_values, log_member, run_columns
from server.services.records import decide_record, lock_track
from server.services.reverify import policy as reverify_policy
from speedrun.bundle import Bundle, Verified, read_bundle, verify_bundle
from speedrun.errors import BundleInvalid
from speedrun.manifest import Manifest
from speedrun.tracks import Track

BUNDLE_MEDIA_TYPE = "application/gzip"
SOURCE_MEDIA_TYPE = "text/x-python"

# A hook run inside the write transaction before the run is stored (a job's lease and nonce
# check, which makes the run the job's); it gets the verified manifest; raising there rolls
# everything back.
RunHook = Callable[[Session, Run, Manifest], None]
UNSOLICITED_WARNING = (
    "unsolicited: uploaded outside any server job; stored and shown, never counted toward a "
    "record (only runs of a job count)"
)


class TrackCache(Protocol):
    """What ingest needs of the leaderboard cache: dropping one track's answers."""

    def invalidate(self, track_key: str | None = None) -> None: ...


@dataclass
class _Outcome:
    run_id: str
    created: bool
    records: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    track_key: str | None = None  # set when a run was stored (its track's answers are stale)


def _existing(session: Session, sha256: str) -> str | None:
    return session.scalar(select(Run.run_id).where(Run.bundle_sha256 == sha256))


def _verify(db: Database, bundle: Bundle) -> Verified:
    """The checks in cost order: the signature against the registry first, so an anonymous
    client's manifest is refused before anything walks it; then the schema, members and
    rules (`verify_bundle`), and only then the walk over every value (`check_values`)."""
    with db.reader() as session:
        trusted = runners.trusted_keys(session)
    verified = verify_bundle(bundle, trusted=trusted)
    check_values(bundle.manifest)
    closed = catalog.closed_reason(verified.track, submission=False)
    if closed is not None:
        raise BundleInvalid(closed[1], code=closed[0])
    return verified


def _store(
    session: Session,
    verified: Verified,
    data: bytes,
    settings: Settings,
    hook: RunHook | None,
    summary: run_logs.LogSummary,
) -> Run:
    m, bundle, track = verified.manifest, verified.bundle, verified.track
    runner = runners.active_runner(session, m.signature.key_id)
    if runner is None:  # revoked between the check and this transaction
        raise BundleInvalid("signature: the runner's key has been revoked", code="unknown-key")
    if session.scalar(select(Run.id).where(Run.run_id == m.run_id)) is not None:
        raise Conflict("run-id-conflict", f"run {m.run_id} exists with a different bundle")
    variant = m.variant
    source = put_blob(session, bundle.members[variant.path], SOURCE_MEDIA_TYPE, variant.sha256)
    put_blob(session, data, BUNDLE_MEDIA_TYPE, bundle.sha256)
    attempt = get_or_create_attempt(
        session, track.id, track.version, variant.sha256, source_sha256=source, name=variant.name
    )
    run = Run(
        **run_columns(m, track, settings.extra_record_backends),
        origin="verified",
        purpose="unsolicited",
        attempt_id=attempt.id,
        runner_id=runner.id,
        bundle_sha256=bundle.sha256,
        manifest_json=json.dumps(m.raw, ensure_ascii=False, sort_keys=True),
    )
    if hook is not None:
        hook(session, run, m)
    session.add(run)
    session.flush()
    run_logs.store(session, run, summary)
    return run


def _log_summary(verified: Verified) -> run_logs.LogSummary:
    """The run's log parsed once, here, before the write transaction (pages read this)."""
    m = verified.manifest
    member = log_member(m.members, m.variant.path)
    text = run_logs.bundle_log_text(verified.bundle.members, member)
    summary = run_logs.summarize_text(text, member or m.run_id)
    series = telemetry.bundle_series(m.raw, verified.bundle.members)
    return replace(summary, telemetry=series)


def _affected_attempts(session: Session, run: Run) -> list[Attempt]:
    """The run's attempt, and candidates of its A/B session (a baseline run may complete a pair)."""
    ids = {run.attempt_id}
    if run.ab_session:
        query = select(Run.attempt_id).where(
            Run.ab_session == run.ab_session, Run.ab_role == "candidate"
        )
        ids.update(session.scalars(query))
    return list(session.scalars(select(Attempt).where(Attempt.id.in_(ids)).order_by(Attempt.id)))


def _decide(session: Session, track: Track, run: Run) -> list[int]:
    lock_track(session, track.id, track.version)
    if run.purpose != "claim":  # shown in the attempt's figures, never deciding a record
        refresh_stats(session, session.get_one(Attempt, run.attempt_id), track)
        return []
    made = []
    for attempt in _affected_attempts(session, run):
        record = decide_record(session, track, attempt)
        if record is not None:
            made.append(record.id)
    return made


def _notes(run: Run, warnings: list[str]) -> list[str]:
    """The verifier's warnings, plus why this run will not count, when it will not."""
    notes = list(warnings)
    if run.purpose == "unsolicited":
        notes.append(UNSOLICITED_WARNING)
    if run.status == "rule_violation":
        notes.append(f"rule_violation: {run.exit_reason}")
    return notes


def _ingest(db: Database, data: bytes, settings: Settings, hook: RunHook | None) -> _Outcome:
    """Verify and store one bundle; raises BundleError/BundleInvalid/ServerError on rejection."""
    digest = sha256_hex(data)
    with db.reader() as session:
        existing = _existing(session, digest)
    if existing is not None:
        return _Outcome(existing, created=False)
    bundle = read_bundle(data, max_bytes=settings.max_bundle_expanded_bytes)
    verified = _verify(db, bundle)
    track = verified.track
    summary = _log_summary(verified)
    for _ in range(3):
        try:
            with db.write() as session:
                if (existing := _existing(session, digest)) is not None:
                    return _Outcome(existing, created=False)
                run = _store(session, verified, data, settings, hook, summary)
                records = _decide(session, track, run)
                if run.official:
                    reverify_policy.note_environment(
                        session,
                        track.id,
                        track.version,
                        run.image_digest,
                        str(verified.manifest.runner.version),
                        utcnow(),
                        settings.reverify_runs,
                    )
            return _Outcome(run.run_id, True, records, _notes(run, verified.warnings), track.key)
        except IntegrityError:
            continue  # a concurrent upload of the same bytes or blob won; look again
    raise Conflict("ingest-conflict", "the bundle clashed with concurrent writes; retry")


def ingest_bundle(
    db: Database,
    data: bytes,
    settings: Settings,
    cache: TrackCache,
    *,
    hook: RunHook | None = None,
) -> IngestPublic:
    """Verify and store one bundle, drop its track's cached answers, and answer as both
    upload routes do (`created` false: these bytes were already stored). Raises
    BundleError/BundleInvalid/ServerError on rejection."""
    outcome = _ingest(db, data, settings, hook)
    if outcome.track_key:
        cache.invalidate(outcome.track_key)
    with db.reader() as session:
        run = read_models.run_brief(
            read_models.get_run(session, outcome.run_id), runners.runner_names(session)
        )
    return IngestPublic(
        created=outcome.created,
        run_id=outcome.run_id,
        records_established=outcome.records,
        warnings=outcome.warnings,
        run=run,
    )
