"""Judging a re-verification job's outcome and attaching it to the record.

When the job ends, its runs are compared with the record: `reproduced` (mean val loss below the target and mean time within
`reverify_time_tolerance` of the record's), `drifted` (ran, but outside either), or `failed`
(the job failed or no run completed).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Job, Record, Run, Verification
from server.services import catalog
from server.services.attempts import attempt_figures, record_times
from speedrun import stats


def _verdict(
    times: list[float],
    losses: list[float],
    record_mean_ms: float | None,
    target: float,
    tolerance: float,
) -> tuple[str, str]:
    if not times:
        return "failed", "no re-run completed"
    mean_ms = stats.summarize(times).mean
    mean_loss = stats.summarize(losses).mean
    if mean_loss >= target:
        return "drifted", f"mean val loss {mean_loss:.4f} not below {target}"
    if record_mean_ms and abs(mean_ms / record_mean_ms - 1) > tolerance:
        return "drifted", f"mean time {mean_ms:.0f} ms vs the record's {record_mean_ms:.0f} ms"
    return "reproduced", "loss below target, time within tolerance"


def record_outcome(session: Session, job: Job, tolerance: float) -> Verification:
    """Attach the finished (or failed) re-verification job's result to its record."""
    assert job.record_id is not None
    record = session.get_one(Record, job.record_id)
    track = catalog.track(record.track_id, record.track_version)
    runs = list(session.scalars(select(Run).where(Run.job_id == job.id).order_by(Run.id)))
    done = [
        r
        for r in runs
        if r.status == "completed" and r.time_ms is not None and r.val_loss is not None
    ]
    times = [r.time_ms for r in done if r.time_ms is not None]
    losses = [r.val_loss for r in done if r.val_loss is not None]
    base = record_times(attempt_figures(session, record.attempt_id))
    base_mean = stats.summarize(base).mean if base else None
    status, detail = _verdict(times, losses, base_mean, track.rules.target_val_loss, tolerance)
    if job.state == "FAILED" and not times:
        status, detail = "failed", job.reason or "the job failed"
    summary = stats.summarize(times) if times else None
    p = stats.p_mean_below(losses, track.rules.target_val_loss) if len(losses) > 1 else None
    entry = Verification(
        record_id=record.id,
        job_id=job.id,
        status=status,
        n_runs=len(runs),
        time_ms_mean=summary.mean if summary else None,
        time_ms_std=summary.std if summary else None,
        val_loss_mean=stats.summarize(losses).mean if losses else None,
        p_value=p,
        image_digest=next((r.image_digest for r in runs if r.image_digest), None),
        runner_id=job.runner_id,
        detail=detail,
    )
    session.add(entry)
    session.flush()
    return entry
