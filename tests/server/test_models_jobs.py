"""server.models.jobs: a job starts PENDING with no lease, tied to its variant's stored source
and its attempt (both must exist); a submission ties a user, an attempt and a job."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from server.models import Attempt, Blob, Job, Submission, User

SHA = "ab" * 32


def attempt(db) -> Attempt:
    row = Attempt(track_id="cpu-tiny", track_version=2, variant_sha256=SHA, source_sha256=SHA)
    with db.write() as session:
        session.add(Blob(sha256=SHA, size_bytes=1, media_type="text/x-python", data=b"x"))
        session.add(row)
    return row


def job(*, attempt_id: int, **changes) -> Job:
    fields = {
        "kind": "submission",
        "track_id": "cpu-tiny",
        "track_version": 2,
        "variant_sha256": SHA,
        "attempt_id": attempt_id,
        "runs_total": 3,
        "nonce": "n" * 32,
    }
    return Job(**(fields | changes))


def test_a_new_job_is_pending_without_a_lease(db) -> None:
    a = attempt(db)
    j = job(attempt_id=a.id)
    with db.write() as session:
        session.add(j)
    assert (j.state, j.lease_id, j.lease_seq, j.expiries) == ("PENDING", None, 0, 0)
    assert j.runner_id is None and j.created_at.tzinfo is not None


@pytest.mark.parametrize("changes", [{"variant_sha256": "cd" * 32}, {"attempt_id": 4242}])
def test_a_job_needs_its_source_and_its_attempt(db, changes) -> None:
    a = attempt(db)
    with pytest.raises(IntegrityError), db.write() as session:
        session.add(job(**({"attempt_id": a.id} | changes)))


def test_a_submission_ties_user_attempt_and_job(db) -> None:
    a = attempt(db)
    user, j = User(name="alice"), job(attempt_id=a.id)
    with db.write() as session:
        session.add_all([user, j])
        session.flush()
        session.add(
            Submission(
                user_id=user.id,
                attempt_id=a.id,
                job_id=j.id,
                track_id="cpu-tiny",
                track_version=2,
                variant_sha256=SHA,
                description="faster",
            )
        )
    with pytest.raises(IntegrityError), db.write() as session:
        session.add(
            Submission(
                user_id=user.id,
                attempt_id=a.id,
                job_id=j.id + 99,
                track_id="cpu-tiny",
                track_version=2,
                variant_sha256=SHA,
                description="",
            )
        )
