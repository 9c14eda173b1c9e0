"""Attempts (one variant on one track version) and the statistics over their runs.

Which runs count: claim runs (not re-verification re-runs) that completed with a time and a
loss. Toward a record, only those that are also official (a record backend on the track's
hardware class) with an independently evaluated loss: self-reported losses never make one.
The numbers come from `speedrun.stats`, the same code the runner's summary uses.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.models import Attempt, Run, utcnow
from speedrun import stats
from speedrun.tracks import Track

INDEPENDENT = "independently-evaluated"


@dataclass(frozen=True)
class RunFigures:
    """What statistics need of a run (a row, or a tuple from a bulk query)."""

    time_ms: float | None
    val_loss: float | None
    status: str
    official: bool
    val_loss_source: str
    purpose: str = "claim"

    @property
    def counts(self) -> bool:
        return (
            self.purpose == "claim"
            and self.status == "completed"
            and self.time_ms is not None
            and self.val_loss is not None
        )

    @property
    def counts_for_record(self) -> bool:
        return self.counts and self.official and self.val_loss_source == INDEPENDENT


@dataclass(frozen=True)
class AttemptStats:
    n_runs: int  # every run kept, whatever its outcome
    n_counted: int  # runs the figures below are over
    official: bool  # figures are over official, independently evaluated runs
    self_reported: bool  # some counted run's loss is self-reported
    time_ms: stats.Summary | None
    val_loss: stats.Summary | None
    p_value: float | None  # one-sided: mean val loss < target
    qualifies: bool  # meets the track's claim rule (runs, target, significance)
    reason: str  # why not, or "meets the rule"


def figures_of(run: Run) -> RunFigures:
    return RunFigures(
        run.time_ms, run.val_loss, run.status, run.official, run.val_loss_source, run.purpose
    )


def record_times(runs: Sequence[RunFigures]) -> list[float]:
    return [r.time_ms for r in runs if r.counts_for_record and r.time_ms is not None]


def compute_stats(runs: Sequence[RunFigures], track: Track) -> AttemptStats:
    claim = [r for r in runs if r.purpose == "claim"]
    eligible = [r for r in claim if r.counts_for_record]
    counted = eligible or [r for r in claim if r.counts]
    times = [r.time_ms for r in counted if r.time_ms is not None]
    losses = [r.val_loss for r in counted if r.val_loss is not None]
    p = stats.p_mean_below(losses, track.rules.target_val_loss) if losses else math.nan
    rules = track.rules
    if not eligible:
        reason = "no official, independently evaluated, completed run"
    elif len(eligible) < rules.runs_required:
        reason = f"{len(eligible)} of {rules.runs_required} required runs"
    elif not p < rules.significance_alpha:
        reason = (
            f"mean val loss not below {rules.target_val_loss} at p < {rules.significance_alpha}"
        )
    else:
        reason = "meets the rule"
    return AttemptStats(
        n_runs=len(claim),
        n_counted=len(counted),
        official=bool(eligible),
        self_reported=any(r.val_loss_source != INDEPENDENT for r in counted),
        time_ms=stats.summarize(times) if times else None,
        val_loss=stats.summarize(losses) if losses else None,
        p_value=None if math.isnan(p) else p,
        qualifies=reason == "meets the rule",
        reason=reason,
    )


def stats_to_json(st: AttemptStats) -> str:
    return json.dumps(asdict(st), allow_nan=False)


def stats_from_json(text: str) -> AttemptStats:
    data = json.loads(text)
    for name in ("time_ms", "val_loss"):
        if data[name] is not None:
            data[name] = stats.Summary(**data[name])
    return AttemptStats(**data)


def refresh_stats(session: Session, attempt: Attempt, track: Track) -> AttemptStats:
    """Recompute the attempt's statistics from its runs and store them on its row."""
    st = compute_stats(attempt_figures(session, attempt.id), track)
    attempt.stats_json = stats_to_json(st)
    attempt.time_ms_mean = st.time_ms.mean if st.time_ms else None
    attempt.updated_at = utcnow()
    return st


_FIGURE_COLUMNS = (
    Run.time_ms,
    Run.val_loss,
    Run.status,
    Run.official,
    Run.val_loss_source,
    Run.purpose,
)


def attempt_figures(session: Session, attempt_id: int) -> list[RunFigures]:
    """The figures of an attempt's runs, as plain tuples (no ORM objects: this runs on every
    ingest, for attempts of any size)."""
    query = select(*_FIGURE_COLUMNS).where(Run.attempt_id == attempt_id).order_by(Run.id)
    return [RunFigures(*row) for row in session.execute(query)]


def attempt_runs(session: Session, attempt_id: int) -> list[Run]:
    return list(session.scalars(select(Run).where(Run.attempt_id == attempt_id).order_by(Run.id)))


def get_or_create_attempt(
    session: Session, track_id: str, track_version: int, variant_sha256: str, **fields: object
) -> Attempt:
    """The attempt for this code on this track version, created on first sight."""
    query = select(Attempt).where(
        Attempt.track_id == track_id,
        Attempt.track_version == track_version,
        Attempt.variant_sha256 == variant_sha256,
    )
    attempt = session.scalar(query)
    if attempt is not None:
        return attempt
    attempt = Attempt(
        track_id=track_id, track_version=track_version, variant_sha256=variant_sha256, **fields
    )
    try:
        with session.begin_nested():
            session.add(attempt)
    except IntegrityError:  # created by a concurrent writer since our read
        found = session.scalar(query)
        assert found is not None
        return found
    return attempt
