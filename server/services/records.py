"""Deciding records: an attempt that meets its track's rule becomes the record when it beats
the current one by the margin rule; the record it beats stays, marked superseded.

Margin rule (from the track's `rules`): with paired A/B runs against the record (runs whose
`ab` block names a session holding both), the paired result: one-sided p on the per-pair log
time ratios < beat_alpha and a geometric-mean speedup of at least 1 / (1 - min_speedup).
Without pairs (and only where the track does not demand them), a one-sided Welch t-test on
times p < beat_alpha and a mean time at least `min_speedup` below the record's. A side whose
runs came from more than one machine enters the test as one mean per machine
(`speedrun.stats.by_machine`; pairs of an A/B session ran on one machine by design), and the
test over the runs must pass as well (`speedrun.stats.p_faster_samples`: the larger p).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Attempt, Record, Run, TrackState, utcnow
from server.services.attempts import (
    AttemptStats,
    attempt_figures,
    attempt_runs,
    figures_of,
    record_sample,
    refresh_stats,
)
from speedrun import stats
from speedrun.tracks import Track


@dataclass(frozen=True)
class Beat:
    beats: bool
    method: str  # "first" | "welch" | "paired"
    p_value: float | None
    speedup: float | None  # record time / candidate time
    detail: str


def lock_track(session: Session, track_id: str, version: int) -> TrackState:
    """Take the track version's row lock (serialises record decisions) and bump its revision."""
    query = select(TrackState).where(
        TrackState.track_id == track_id, TrackState.track_version == version
    )
    state = session.scalar(query.with_for_update())
    if state is None:
        state = TrackState(track_id=track_id, track_version=version, revision=0)
        session.add(state)
        session.flush()
    state.revision += 1
    return state


def current_record(session: Session, track_id: str, version: int) -> Record | None:
    query = select(Record).where(
        Record.track_id == track_id,
        Record.track_version == version,
        Record.superseded_at.is_(None),
    )
    return session.scalar(query.order_by(Record.id.desc()).limit(1))


def _one_sided(p_two: float, speedup: float) -> float:
    return p_two / 2 if speedup > 1 else 1 - p_two / 2


def _paired(
    session: Session, candidate: list[Run], record_attempt_id: int
) -> list[tuple[float, float]]:
    """(baseline, candidate) times of A/B pairs between the candidate and the record."""
    sessions = {r.ab_session for r in candidate if r.ab_session and r.ab_role == "candidate"}
    if not sessions:
        return []
    query = select(Run).where(
        Run.ab_session.in_(sessions), Run.attempt_id == record_attempt_id, Run.ab_role == "baseline"
    )
    base = {(r.ab_session, r.ab_pair_index): r for r in session.scalars(query)}
    pairs = []
    for run in candidate:
        other = base.get((run.ab_session, run.ab_pair_index))
        if run.ab_role != "candidate" or other is None:
            continue
        if figures_of(run).counts_for_record and figures_of(other).valid_for_record:
            assert run.time_ms is not None and other.time_ms is not None
            pairs.append((other.time_ms, run.time_ms))
    return pairs


def compare_to_record(session: Session, track: Track, candidate: list[Run], record: Record) -> Beat:
    rules = track.rules
    pairs = _paired(session, candidate, record.attempt_id)
    if len(pairs) >= 2:
        ps = stats.paired_speedup([b for b, _ in pairs], [c for _, c in pairs])
        p = _one_sided(ps.p_two_sided, ps.speedup)
        need = 1 / (1 - rules.min_speedup)
        ok = p < rules.beat_alpha and ps.speedup >= need
        return Beat(ok, "paired", p, ps.speedup, f"{ps.pairs} pairs, speedup {ps.speedup:.4f}")
    if rules.paired_ab:
        return Beat(False, "paired", None, None, "this track needs paired A/B runs vs the record")
    mine = record_sample([figures_of(r) for r in candidate])
    theirs = record_sample(attempt_figures(session, record.attempt_id))
    over = f"{mine.describe()} vs {theirs.describe()}"
    p = stats.p_faster_samples(mine, theirs)
    if math.isnan(p):
        return Beat(False, "welch", None, None, f"too few runs to compare ({over})")
    mean_mine, mean_theirs = stats.summarize(mine.values).mean, stats.summarize(theirs.values).mean
    speedup = mean_theirs / mean_mine if mean_mine > 0 else math.inf
    ok = p < rules.beat_alpha and mean_mine <= mean_theirs * (1 - rules.min_speedup)
    return Beat(ok, "welch", p, speedup, f"Welch p={p:.3g}, speedup {speedup:.4f} ({over})")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _decision_json(st: AttemptStats, beat: Beat) -> str:
    beat = Beat(beat.beats, beat.method, _finite(beat.p_value), _finite(beat.speedup), beat.detail)
    data = {
        "n": st.n_counted,
        "time_ms_mean": st.time_ms.mean if st.time_ms else None,
        "val_loss_mean": st.val_loss.mean if st.val_loss else None,
        "p_value": _finite(st.p_value),
        "beat": asdict(beat),
    }
    return json.dumps(data, allow_nan=False, default=str)


def decide_record(session: Session, track: Track, attempt: Attempt) -> Record | None:
    """Make `attempt` the record if it qualifies and beats the current one (caller holds the
    track lock). Returns the new record, or None."""
    st = refresh_stats(session, attempt, track)
    if attempt.origin != "verified" or not st.qualifies:
        return None
    if session.scalar(select(Record.id).where(Record.attempt_id == attempt.id)) is not None:
        return None
    runs = attempt_runs(session, attempt.id)
    previous = current_record(session, track.id, track.version)
    if previous is None:
        beat = Beat(True, "first", None, None, "first record on this track version")
    else:
        beat = compare_to_record(session, track, runs, previous)
        if not beat.beats:
            return None
    now = utcnow()
    record = Record(
        origin="verified",
        track_id=track.id,
        track_version=track.version,
        attempt_id=attempt.id,
        previous_record_id=previous.id if previous else None,
        established_at=now,
        decision_json=_decision_json(st, beat),
    )
    if previous is not None:
        previous.superseded_at = now
    session.add(record)
    session.flush()
    return record
