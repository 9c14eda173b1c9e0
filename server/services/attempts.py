"""Attempts (one variant on one track version) and the statistics over their runs.

Which runs count ("every attempt counted"):
* Only `claim` runs: the runs of the attempt's submission jobs, uploaded by the leasing agent
  with the job's signed id and nonce. `unsolicited` runs (uploaded outside any job) are
  shown, with their number in the statistics, and never counted; `reverify` runs feed the
  record's verification, never its statistics.
* Every claim run counts, whatever became of it: an attempt qualifies only if all of its
  claim runs completed (as the server re-checked them: a run that failed, timed out or broke
  a rule counts against it, and the reason says so, e.g. "1 of 3 runs failed:
  rule_violation") and all are official (a record backend on the track's hardware class and
  held-out data) with an independently evaluated loss: self-reported losses never make one.
* Then the track's rule: at least `runs_required` such runs, mean val loss below the target
  at p < significance_alpha; when the runs came from more than one machine (by the
  fingerprint, `speedrun.machine_id`), the test is over one mean per machine
  (`speedrun.stats.by_machine`) and over the runs, the larger p deciding
  (`speedrun.stats.p_mean_below_sample`: never easier than the runs alone).
The numbers come from `speedrun.stats`, the same code the runner's summary uses.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.models import Attempt, Run, utcnow
from speedrun import stats
from speedrun.tracks import Track

INDEPENDENT = "independently-evaluated"
CLAIM, REVERIFY, UNSOLICITED = "claim", "reverify", "unsolicited"


@dataclass(frozen=True)
class RunFigures:
    """What statistics need of a run (a row, or a tuple from a bulk query)."""

    time_ms: float | None
    val_loss: float | None
    status: str
    official: bool
    val_loss_source: str
    purpose: str = "claim"
    machine: str | None = None  # `speedrun.machine_id` key; None for imported history

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
        return self.counts and self.valid_for_record

    @property
    def valid_for_record(self) -> bool:
        """Completed, official, independently evaluated: whatever its purpose (the record's
        side of an A/B pair is such a run without counting in the record's statistics)."""
        return (
            self.status == "completed"
            and self.time_ms is not None
            and self.val_loss is not None
            and self.official
            and self.val_loss_source == INDEPENDENT
        )

    def uncounted_reasons(self) -> list[str]:
        """Why this run does not count toward a record (empty: it does)."""
        why = {
            UNSOLICITED: "unsolicited: uploaded outside any server job",
            REVERIFY: "a re-verification run: it checks the record, not its statistics",
            "ab-baseline": "the record's side of an A/B pair: it times a claim against it",
        }
        out = [why.get(self.purpose, f"purpose {self.purpose}")] if self.purpose != CLAIM else []
        if self.status != "completed":
            out.append(f"status {self.status}")
        if not self.official:
            out.append("unofficial: not a record backend on the track's hardware and data")
        if self.val_loss_source != INDEPENDENT:
            out.append(f"val loss {self.val_loss_source}, not independently evaluated")
        return out


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
    n_unsolicited: int = 0  # runs uploaded outside any job: shown, never counted
    machines: int = 1  # distinct machines the counted runs came from
    test_unit: str = "run"  # "machine": the p-value is the larger over runs and machine means


def figures_of(run: Run) -> RunFigures:
    return RunFigures(
        run.time_ms,
        run.val_loss,
        run.status,
        run.official,
        run.val_loss_source,
        run.purpose,
        run.machine_key,
    )


def record_times(runs: Sequence[RunFigures]) -> list[float]:
    return [r.time_ms for r in runs if r.counts_for_record and r.time_ms is not None]


def record_sample(runs: Sequence[RunFigures]) -> stats.Sample:
    """The record-counting runs' times as the significance tests take them: per machine
    when they came from more than one."""
    pairs = [(r.time_ms, r.machine) for r in runs if r.counts_for_record and r.time_ms is not None]
    return stats.by_machine([t for t, _ in pairs if t is not None], [m for _, m in pairs])


def _failures(claim: Sequence[RunFigures]) -> str | None:
    """The "k of n runs failed: status, ..." reason, when any claim run did not complete."""
    failed = Counter(r.status for r in claim if r.status != "completed")
    if not failed:
        return None
    kinds = ", ".join(f"{status}" + (f" x{n}" if n > 1 else "") for status, n in failed.items())
    return f"{failed.total()} of {len(claim)} runs failed: {kinds}"


def _reason(
    claim: Sequence[RunFigures], eligible: Sequence[RunFigures], p: float, track: Track, unit: str
) -> str:
    rules = track.rules
    failed = _failures(claim)
    if failed:
        return failed
    if not eligible:
        return "no official, independently evaluated, completed run"
    if len(eligible) < len(claim):
        n = len(claim) - len(eligible)
        return f"{n} of {len(claim)} runs do not count (unofficial or self-reported)"
    if len(eligible) < rules.runs_required:
        return f"{len(eligible)} of {rules.runs_required} required runs"
    if not p < rules.significance_alpha:
        return (
            f"mean val loss not below {rules.target_val_loss} at p < {rules.significance_alpha}"
            + (" (over the runs and over per-machine means)" if unit == "machine" else "")
        )
    return "meets the rule"


def compute_stats(runs: Sequence[RunFigures], track: Track) -> AttemptStats:
    claim = [r for r in runs if r.purpose == CLAIM]
    eligible = [r for r in claim if r.counts_for_record]
    counted = eligible or [r for r in claim if r.counts]
    times = [r.time_ms for r in counted if r.time_ms is not None]
    with_loss = [r for r in counted if r.val_loss is not None]
    losses = [r.val_loss for r in with_loss if r.val_loss is not None]
    sample = stats.by_machine(losses, [r.machine for r in with_loss])
    target = track.rules.target_val_loss
    p = stats.p_mean_below_sample(sample, target) if losses else math.nan
    reason = _reason(claim, eligible, p, track, sample.unit)
    if not claim and any(r.purpose == UNSOLICITED for r in runs):
        reason = "no run of a server job (unsolicited runs are shown, never counted)"
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
        n_unsolicited=sum(r.purpose == UNSOLICITED for r in runs),
        machines=max(sample.machines, 1),
        test_unit=sample.unit,
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
    Run.machine_key,
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
