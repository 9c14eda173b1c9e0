"""server.services.ingest: `ingest_bundle` called directly (the routes are tested in
test_api_runs.py and test_api_jobs.py). A verified bundle is stored with its source and log
summary, its track's cached answers dropped, and answered; the same bytes again are known;
a direct upload is unsolicited and counts for nothing; a hook that raises rolls everything
back; a bundle from an unknown key or for a track that takes no runs stores nothing."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from srv_helpers import row_counts
from support.bundles import DEFAULT_SOURCE, TRACK, make_bundle

from server.models import Attempt, Blob, Run, RunLogSummary
from server.services.ingest import UNSOLICITED_WARNING, ingest_bundle
from speedrun.errors import BundleInvalid
from speedrun.tracks import get_track


class Cache:
    def __init__(self) -> None:
        self.dropped: list[str | None] = []

    def invalidate(self, track_key: str | None = None) -> None:
        self.dropped.append(track_key)


def test_a_bundle_is_stored_once_and_answered(db, settings, runner_key) -> None:
    cache, data = Cache(), make_bundle(runner_key, time_ms=1500.0)
    answer = ingest_bundle(db, data, settings, cache)
    assert answer.created and answer.records_established == []
    assert answer.run.time_ms == 1500.0 and answer.run.purpose == "unsolicited"
    assert UNSOLICITED_WARNING in answer.warnings
    assert cache.dropped == [get_track(TRACK).key]
    with db.reader() as session:
        run = session.scalar(select(Run).where(Run.run_id == answer.run_id))
        assert run is not None and run.bundle_sha256 is not None
        assert session.get(Blob, run.bundle_sha256) is not None
        attempt = session.get(Attempt, run.attempt_id)
        assert attempt is not None and session.get(Blob, attempt.source_sha256).size_bytes == len(
            DEFAULT_SOURCE
        )
        assert session.get(RunLogSummary, run.id) is not None  # the log parsed once, now
    before = row_counts(db)
    again = ingest_bundle(db, data, settings, cache)
    assert not again.created and again.run_id == answer.run_id and row_counts(db) == before


def test_a_hook_that_refuses_rolls_everything_back(db, settings, runner_key) -> None:
    before = row_counts(db)

    def refuse(session, run, manifest) -> None:
        assert manifest.run_id == run.run_id
        raise BundleInvalid("not this job's run", code="job-mismatch")

    with pytest.raises(BundleInvalid, match="not this job's run"):
        ingest_bundle(db, make_bundle(runner_key), settings, Cache(), hook=refuse)
    assert row_counts(db) == before


@pytest.mark.parametrize(
    ("key", "fields", "code"),
    [
        (Ed25519PrivateKey.generate(), {}, "unknown-key"),
        (None, {"track": "modded-nanogpt-short"}, "track-imported"),
    ],
)
def test_refused_bundles_store_nothing(db, settings, runner_key, key, fields, code) -> None:
    before = row_counts(db)
    with pytest.raises(BundleInvalid) as exc:
        ingest_bundle(db, make_bundle(key or runner_key, **fields), settings, Cache())
    assert exc.value.code == code
    assert row_counts(db) == before
