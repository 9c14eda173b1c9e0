"""Judging a re-verification job's outcome and attaching it to the record.

When the job ends, its runs are compared with the record: `reproduced` (the track's loss rule
met and the mean time inside the record's confidence band, `time_band`), `drifted` (ran, but
outside either), or `failed` (the job failed or no run completed).

A drift gets a cause when the re-runs were slower than the band on a machine the server
found in bad shape (`server.services.conditions`, recomputed from each re-run's manifest:
below its calibration, CPU time stolen, overloaded, throttled): `cause = "machine
conditions"`, with the conditions and their figures, shown as "drifted: machine
conditions". A drift on a healthy machine (or a loss drift, or a re-run faster than the
band, which no bad machine explains) stays a plain "drifted": the code or the environment.
The band comes from the record's times per machine when its runs came from several
(`speedrun.stats.by_machine`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from scipy import stats as sps
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Job, Record, Run, Verification
from server.schemas.compute import ConditionPublic
from server.services import catalog
from server.services.attempts import attempt_figures, record_sample
from server.services.conditions import run_conditions
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


MACHINE_CONDITIONS = "machine conditions"


@dataclass(frozen=True)
class Outcome:
    status: str  # reproduced | drifted | failed
    detail: str
    slow: bool = False  # drifted because the mean time is above the band
    cause: str | None = None
    conditions: list[ConditionPublic] = field(default_factory=list)


def _verdict(
    times: list[float],
    losses: list[float],
    record_ms: list[float],
    track: Track,
    tolerance: float,
) -> Outcome:
    if not times:
        return Outcome("failed", "no re-run completed")
    mean_ms = stats.summarize(times).mean
    mean_loss = stats.summarize(losses).mean
    target, alpha = track.rules.target_val_loss, track.rules.significance_alpha
    if len(losses) >= track.rules.runs_required:
        p = stats.p_mean_below(losses, target)
        if not p < alpha:
            return Outcome(
                "drifted", f"loss rule not met: mean {mean_loss:.4f}, p={p:.3g} vs {target}"
            )
    elif mean_loss >= target:
        return Outcome("drifted", f"mean val loss {mean_loss:.4f} not below {target}")
    band = time_band(record_ms, len(times), tolerance)
    if band is not None and not band[0] <= mean_ms <= band[1]:
        return Outcome(
            "drifted",
            f"mean time {mean_ms:.0f} ms outside the record's band {band[0]:.0f}-{band[1]:.0f} ms",
            slow=mean_ms > band[1],
        )
    return Outcome("reproduced", "loss rule met, mean time inside the record's confidence band")


def with_cause(outcome: Outcome, conditions: list[ConditionPublic]) -> Outcome:
    """The outcome with the machine's conditions attached; a slow drift on a machine with
    any is put down to them, with their figures in the detail."""
    if not (outcome.slow and conditions):
        return Outcome(outcome.status, outcome.detail, outcome.slow, None, conditions)
    found = "; ".join(dict.fromkeys(c.detail for c in conditions))
    detail = f"{outcome.detail}, on a machine with {MACHINE_CONDITIONS}: {found}"
    return Outcome(outcome.status, detail, True, MACHINE_CONDITIONS, conditions)


def _conditions(runs: list[Run]) -> list[ConditionPublic]:
    return [c for r in runs for c in run_conditions(json.loads(r.manifest_json), r.run_id)]


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
    base = record_sample(attempt_figures(session, record.attempt_id))
    outcome = with_cause(
        _verdict(times, losses, list(base.values), track, tolerance), _conditions(done)
    )
    if job.state == "FAILED" and not times:
        outcome = Outcome("failed", job.reason or "the job failed")
    summary = stats.summarize(times) if times else None
    p = stats.p_mean_below(losses, track.rules.target_val_loss) if len(losses) > 1 else None
    entry = Verification(
        record_id=record.id,
        job_id=job.id,
        status=outcome.status,
        n_runs=len(runs),
        time_ms_mean=summary.mean if summary else None,
        time_ms_std=summary.std if summary else None,
        val_loss_mean=stats.summarize(losses).mean if losses else None,
        p_value=p,
        image_digest=next((r.image_digest for r in runs if r.image_digest), None),
        runner_id=job.runner_id,
        detail=outcome.detail,
        cause=outcome.cause,
        conditions_json=json.dumps([c.model_dump() for c in outcome.conditions], ensure_ascii=False)
        if outcome.conditions
        else None,
    )
    session.add(entry)
    session.flush()
    return entry
