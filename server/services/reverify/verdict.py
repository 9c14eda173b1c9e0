"""Judging a re-verification job's outcome and attaching it to the record.

When the job ends, its runs are compared with the record: `reproduced` (the track's loss rule
met and the mean time inside the record's confidence band, `time_band`), `drifted` (ran, but
outside either), or `failed` (the job failed or no run completed).
"""

from __future__ import annotations

import math

from scipy import stats as sps
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Job, Record, Run, Verification
from server.services import catalog
from server.services.attempts import attempt_figures, record_times
from speedrun import stats
from speedrun.tracks import Track


def time_band(record_ms: list[float], m: int, tolerance: float) -> tuple[float, float] | None:
    """Where the mean of m re-runs should fall if nothing changed: the record's mean ± the
    95% t half-width for the difference of two means (record's spread, n and m runs),
    widened to at least ± `tolerance` of the mean (machines of one class differ a little)."""
    if not record_ms:
        return None
    s = stats.summarize(record_ms)
    half = s.mean * tolerance
    if s.n > 1:
        t = float(sps.t.ppf(0.975, s.n - 1))
        half = max(half, t * s.std * math.sqrt(1 / s.n + 1 / max(m, 1)))
    return s.mean - half, s.mean + half


def _verdict(
    times: list[float],
    losses: list[float],
    record_ms: list[float],
    track: Track,
    tolerance: float,
) -> tuple[str, str]:
    if not times:
        return "failed", "no re-run completed"
    mean_ms = stats.summarize(times).mean
    mean_loss = stats.summarize(losses).mean
    target, alpha = track.rules.target_val_loss, track.rules.significance_alpha
    if len(losses) >= track.rules.runs_required:
        p = stats.p_mean_below(losses, target)
        if not p < alpha:
            return "drifted", f"loss rule not met: mean {mean_loss:.4f}, p={p:.3g} vs {target}"
    elif mean_loss >= target:
        return "drifted", f"mean val loss {mean_loss:.4f} not below {target}"
    band = time_band(record_ms, len(times), tolerance)
    if band is not None and not band[0] <= mean_ms <= band[1]:
        return "drifted", (
            f"mean time {mean_ms:.0f} ms outside the record's band {band[0]:.0f}-{band[1]:.0f} ms"
        )
    return "reproduced", "loss rule met, mean time inside the record's confidence band"


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
    status, detail = _verdict(times, losses, base, track, tolerance)
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
