"""server.services.queue: a new job is PENDING with a fresh random nonce (its runs must carry
it), and `runs_done` lists the runs stored for a job in the order they came."""

from __future__ import annotations

from server.models import Attempt, Job, Run
from server.services.blobs import put_blob
from server.services.queue import PENDING, create_job, runs_done


def new_job(session, **extra) -> Job:
    sha = put_blob(session, b"print(1)\n", "text/x-python")
    attempt = Attempt(track_id="cpu-tiny", track_version=2, variant_sha256=sha)
    session.add(attempt)
    session.flush()
    return create_job(
        session, kind="submission", track_id="cpu-tiny", track_version=2, variant_sha256=sha,
        attempt_id=attempt.id, runs_total=3, **extra,
    )  # fmt: skip


def test_a_new_job_is_pending_with_its_own_nonce(db) -> None:
    with db.write() as session:
        first = new_job(session)
        second = create_job(
            session, kind="reverify", track_id="cpu-tiny", track_version=2,
            variant_sha256=first.variant_sha256, attempt_id=first.attempt_id, runs_total=2,
        )  # fmt: skip
    assert first.state == second.state == PENDING and first.id != second.id
    assert len(first.nonce) == 32 and int(first.nonce, 16) >= 0
    assert first.nonce != second.nonce
    assert first.record_id is None and first.baseline_sha256 is None


def test_runs_done_lists_a_jobs_runs_in_order(db) -> None:
    with db.write() as session:
        job = new_job(session)
        for run_id in ("r-b", "r-a"):
            session.add(
                Run(
                    run_id=run_id, attempt_id=job.attempt_id, job_id=job.id, track_id="cpu-tiny",
                    track_version=2, official=True, status="completed",
                    val_loss_source="independently-evaluated", manifest_json="{}",
                )
            )  # fmt: skip
        session.flush()
        assert runs_done(session, job.id) == ["r-b", "r-a"]
        assert runs_done(session, job.id + 1) == []
