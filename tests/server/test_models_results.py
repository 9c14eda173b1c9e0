"""server.models.results: one attempt per (track version, variant); a run id and a bundle are
stored once; a record per attempt, chained to the record it beat; a run's log summary and a
record's verifications hang off rows that exist. Defaults mark rows as verified."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.models import Attempt, Record, Run, RunLogSummary, TrackState, Verification

SHA = "ab" * 32


def add(db, *rows) -> None:
    with db.write() as session:
        session.add_all(rows)


def attempt(variant: str = SHA) -> Attempt:
    return Attempt(track_id="cpu-tiny", track_version=2, variant_sha256=variant)


def run(attempt_id: int, run_id: str = "r1") -> Run:
    return Run(
        run_id=run_id,
        attempt_id=attempt_id,
        track_id="cpu-tiny",
        track_version=2,
        official=True,
        status="completed",
        val_loss_source="independently-evaluated",
        manifest_json="{}",
    )


def test_one_attempt_per_variant_and_track_version(db) -> None:
    a = attempt()
    add(db, a, Attempt(track_id="cpu-tiny", track_version=1, variant_sha256=SHA))
    assert a.origin == "verified" and a.stats_json is None
    with pytest.raises(IntegrityError):
        add(db, attempt())


def test_a_run_id_is_stored_once_and_runs_default_to_claims(db) -> None:
    a = attempt()
    add(db, a)
    r = run(a.id)
    add(db, r)
    assert (r.purpose, r.origin, r.job_id) == ("claim", "verified", None)
    with pytest.raises(IntegrityError):
        add(db, run(a.id))


def test_records_chain_and_one_per_attempt(db) -> None:
    a, b = attempt(), attempt("cd" * 32)
    add(db, a, b)
    first = Record(track_id="cpu-tiny", track_version=2, attempt_id=a.id)
    add(db, first)
    second = Record(
        track_id="cpu-tiny", track_version=2, attempt_id=b.id, previous_record_id=first.id
    )
    add(db, second)
    assert second.decision_json == "{}" and second.superseded_at is None
    with pytest.raises(IntegrityError):
        add(db, Record(track_id="cpu-tiny", track_version=2, attempt_id=a.id))


def test_summaries_and_verifications_need_their_rows(db) -> None:
    a = attempt()
    add(db, a)
    r = run(a.id)
    add(db, r)
    add(db, RunLogSummary(run_pk=r.id, curve_error="no steps"))
    with pytest.raises(IntegrityError):
        add(db, RunLogSummary(run_pk=r.id + 50))
    with pytest.raises(IntegrityError):
        add(db, Verification(record_id=4242, status="reproduced"))


def test_track_states_count_revisions_from_zero(db) -> None:
    add(db, TrackState(track_id="cpu-tiny", track_version=2))
    with db.reader() as session:
        assert session.scalar(select(TrackState.revision)) == 0
    with pytest.raises(IntegrityError):
        add(db, TrackState(track_id="cpu-tiny", track_version=2))
