"""View models of the detail pages: a record (runs, loss curves, statistics, code and its
diff against the record it beat, log, verification history, how to reproduce it), a run, and
a submission. Curves and log excerpts are the runs' stored log summaries (`run_logs`): a
page view parses no log and reads no bundle.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.config import Settings
from server.models import Attempt, Record, Run
from server.schemas.jobs import SubmissionPublic
from server.schemas.records import RecordPublic, StatsPublic
from server.schemas.runs import RunBrief, RunPublic
from server.services import (
    catalog,
    leaderboard,
    read_models,
    records,
    run_logs,
    runners,
    submissions,
)
from server.services.attempts import attempt_runs, compute_stats, figures_of
from server.services.run_logs import LogExcerpt
from speedrun.tracks import Track
from web.charts import Series, lines_svg
from web.format import fmt_duration_s, fmt_tokens
from web.pages import budget
from web.pages.board import MAIN_TRACK, Badge, Price, badges, price_for
from web.pages.compute import RunMachine, run_machine
from web.text import Diff, highlight_python, unified_diff


@dataclass(frozen=True)
class Final:
    """A run's last val point: the legend and the chart's data table."""

    run: RunBrief
    label: str
    time_s: float | None
    val_loss: float
    step: int
    points: int


@dataclass(frozen=True)
class Curves:
    """Val-loss curves of some runs against training time and against tokens."""

    time_chart: Markup
    tokens_chart: Markup
    finals: list[Final]  # in the order of the charts' series (colours s0..s7)
    errors: list[tuple[RunBrief, str]]
    drawn: int = 0  # lines in each chart: every run with a curve
    points_per_line: int = 0  # at most, after thinning (budget.thin); the JSON has them all
    thinned: bool = False  # some line lost points to the thinning


def _tokens_per_step(run: Run, track: Track) -> float:
    figures = json.loads(run.manifest_json).get("figures", {})
    tokens, steps = figures.get("train_tokens"), figures.get("steps")
    if isinstance(tokens, int | float) and isinstance(steps, int) and steps > 0:
        return float(tokens) / steps
    return float(track.scale.batch_tokens)


def run_label(b: RunBrief) -> str:
    seed = f"seed {b.seed}" if b.seed is not None else b.run_id[:8]
    notes = {"reverify": " (re-verification)", "unsolicited": " (unsolicited)"}
    return seed + notes.get(b.purpose, "")


def build_curves(
    session: Session,
    runs: list[Run],
    track: Track,
    chart_id: str,
    curves: dict[int, run_logs.ChartCurve],
) -> Curves:
    names = runners.runner_names(session)
    by_time: list[Series] = []
    by_tokens: list[Series] = []
    finals: list[Final] = []
    errors: list[tuple[RunBrief, str]] = []
    k = budget.points_per_curve(sum(1 for r in runs if curves[r.id][0]))
    for run in runs:
        brief = read_models.run_brief(run, names)
        all_val, error = curves[run.id]
        if not all_val:
            errors.append((brief, error or "no val points in the log"))
            continue
        label, per_step = run_label(brief), _tokens_per_step(run, track)
        val = budget.thin_val(all_val, k)
        by_time.append(Series(label, tuple((t / 1000, v) for _, v, t in val if t is not None)))
        by_tokens.append(Series(label, tuple((s * per_step, v) for s, v, _ in val)))
        step, loss, ms = val[-1]
        secs = None if ms is None else ms / 1000
        finals.append(Final(brief, label, secs, loss, step, len(all_val)))
    n = len(by_time)
    return Curves(
        *_charts(by_time, by_tokens, track.rules.target_val_loss, chart_id),
        finals=finals[: budget.RUNS_LISTED],
        errors=errors[: budget.RUNS_LISTED],
        drawn=n,
        points_per_line=k,
        thinned=any(f.points > k for f in finals),
    )


def _charts(
    by_time: list[Series], by_tokens: list[Series], target: float, chart_id: str
) -> tuple[Markup, Markup]:
    """The two charts of the same runs: against training time, and against tokens."""
    n, desc = len(by_time), f"One line per run; the dashed line is the target {target}."
    common: dict[str, Any] = {"y_label": "val loss", "target": target, "desc": desc}
    return (
        lines_svg(
            by_time,
            chart_id=f"{chart_id}-time",
            title=f"Val loss against training time, {n} runs",
            x_label="training time",
            x_format=fmt_duration_s,
            **common,
        ),
        lines_svg(
            by_tokens,
            chart_id=f"{chart_id}-tokens",
            title=f"Val loss against training tokens, {n} runs",
            x_label="training tokens",
            x_format=fmt_tokens,
            **common,
        ),
    )


@dataclass(frozen=True)
class RecordView:
    record: RecordPublic
    track: Track
    badges: list[Badge]
    price: Price
    cost: float | None
    previous: RecordPublic | None
    curves: Curves
    code: Markup | None
    code_lines: int
    code_shown: int  # the lines shown (budget.CODE_BYTES); the rest is in the raw source
    diff: Diff | None
    diff_cut: bool
    log: LogExcerpt | None
    log_run: RunBrief | None
    reproduce: list[str]
    runs_listed: int = budget.RUNS_LISTED  # rows of the runs table (the charts draw every run)
    verifications_total: int = 0  # the record's re-runs; the page lists the latest few


def _source(session: Session, attempt_id: int) -> str | None:
    return read_models.attempt_source(session, session.get_one(Attempt, attempt_id))


def _diff(previous: RecordPublic | None, prev_src: str | None, src: str | None) -> Diff | None:
    if previous is None or prev_src is None or src is None:
        return None
    label = previous.name or previous.variant_sha256[:12]
    return unified_diff(
        prev_src, src, f"record {previous.record_id} ({label})", "this record", context=3
    )


def _first_log(session: Session, runs: list[Run]) -> tuple[LogExcerpt | None, Run | None]:
    for run in sorted(runs, key=lambda r: r.purpose != "claim"):
        excerpt = run_logs.excerpt(session, run)
        if excerpt is not None:
            return excerpt, run
    return None, None


def reproduce_commands(rec: RecordPublic, track: Track, runs: list[Run], base: str) -> list[str]:
    """The exact commands: fetch this code (checked by sha256), the data, run it as it ran
    (the image its runs used, by digest). Imported history runs on the main runner track."""
    lines = []
    if track.family == "imported":
        lines.append(f"# {track.key} is imported history: run the code on a runner track")
        track = catalog.track(MAIN_TRACK)
    images = Counter(r.image_digest for r in runs if r.image_digest)
    image = images.most_common(1)[0][0] if images else None
    backend = "local" if runs and not image and runs[0].backend == "local" else "docker"
    run = (
        f"speedrun run train_gpt.py --track {track.key} --runs {track.rules.runs_required} "
        f"--backend {backend}" + (f" --image {image}" if image else "")
    )
    if backend == "local":
        lines.append("# these runs used the local backend (no container, no image digest)")
    return [
        *lines,
        f"curl -fsSL {base.rstrip('/')}/api/v1/attempts/{rec.attempt_id}/source -o train_gpt.py",
        f"echo '{rec.variant_sha256}  train_gpt.py' | sha256sum -c -",
        f"speedrun data fetch --track {track.key}",
        run,
    ]


def record_view(session: Session, record_id: int, settings: Settings, base: str) -> RecordView:
    rec = leaderboard.record_public(session, record_id)
    track = catalog.track(rec.track.id, rec.track.version)
    runs = [read_models.get_run(session, b.run_id) for b in rec.runs]
    previous = None
    if rec.previous_record_id is not None:
        previous = leaderboard.record_public(session, rec.previous_record_id)
    src = _source(session, rec.attempt_id)
    diff = _diff(previous, _source(session, previous.attempt_id) if previous else None, src)
    cut = False
    if diff is not None:
        diff, cut = budget.cut_diff(diff, budget.DIFF_BYTES)
    log, log_run = _first_log(session, runs)
    if log is not None:  # the run's page has the longer excerpt, log.txt the whole log
        log = budget.shorter_excerpt(log, budget.LOG_HEAD_BYTES, budget.LOG_TAIL_BYTES)
    code, code_shown = (
        (None, 0) if src is None else budget.cut_lines(highlight_python(src), budget.CODE_BYTES)
    )
    price = price_for(track, settings)
    names = runners.runner_names(session)
    shown = rec.verifications[-budget.VERIFICATIONS_LISTED :]
    return RecordView(
        record=rec.model_copy(update={"verifications": shown}),
        track=track,
        badges=badges(rec),
        price=price,
        cost=price.cost(rec.cost.accelerator_hours),
        previous=previous,
        curves=build_curves(session, runs, track, "curves", run_logs.chart_curves(session, runs)),
        code=code,
        code_lines=src.count("\n") + 1 if src else 0,
        code_shown=code_shown,
        diff=diff,
        diff_cut=cut,
        log=log,
        log_run=read_models.run_brief(log_run, names) if log_run else None,
        reproduce=reproduce_commands(rec, track, runs, base),
        verifications_total=len(rec.verifications),
    )


@dataclass(frozen=True)
class RunView:
    run: RunPublic
    track: Track
    curves: Curves
    log: LogExcerpt | None
    fingerprint: list[tuple[str, list[tuple[str, str]]]]
    machine: RunMachine  # compute, calibration, conditions and the telemetry chart


def _fingerprint(manifest: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The manifest's fingerprint as (section, [(key, value)]) for a definition list."""
    out = []
    for section, values in (manifest.get("fingerprint") or {}).items():
        if isinstance(values, dict):
            items = [(str(k), _plain(v)) for k, v in values.items()]
            out.append((str(section), items))
        elif values is not None:
            out.append((str(section), [("value", _plain(values))]))
    return out


def _plain(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def run_view(session: Session, run_id: str) -> RunView:
    run = read_models.get_run(session, run_id)
    curves = run_logs.curves(session, [run])
    public = read_models.run_public(session, run, curves[run.id])
    track = catalog.track(run.track_id, run.track_version)
    return RunView(
        run=public,
        track=track,
        curves=build_curves(
            session, [run], track, "run", {run.id: run_logs.chart_curve(curves[run.id])}
        ),
        log=run_logs.excerpt(session, run),
        fingerprint=_fingerprint(public.manifest),
        machine=run_machine(public),
    )


@dataclass(frozen=True)
class Verdict:
    """Where the submission's attempt stands: its statistics under the track's rule, the
    record it made, or why it is not (yet) one."""

    stats: StatsPublic
    record_id: int | None  # the record this attempt became
    current_id: int | None  # the track's current record, when it is another attempt's
    beat: records.Beat | None  # the comparison with that record, once the rule is met


def attempt_verdict(session: Session, attempt: Attempt, track: Track, runs: list[Run]) -> Verdict:
    st = compute_stats([figures_of(r) for r in runs], track)
    record = session.scalar(select(Record).where(Record.attempt_id == attempt.id))
    current = records.current_record(session, track.id, track.version)
    if current is not None and current.attempt_id == attempt.id:
        current = None
    beat = None
    if record is None and current is not None and st.qualifies:
        beat = records.compare_to_record(session, track, runs, current)
    return Verdict(
        stats=read_models.stats_public(st),
        record_id=record.id if record else None,
        current_id=current.id if current else None,
        beat=beat,
    )


@dataclass(frozen=True)
class SubmissionView:
    sub: SubmissionPublic
    track: Track
    runs: list[RunBrief]
    active: bool  # still queued or running: the page refreshes itself
    code: Markup | None
    verdict: Verdict


def submission_view(session: Session, submission_id: int) -> SubmissionView:
    sub = read_models.submission_public(session, submissions.get_submission(session, submission_id))
    attempt = read_models.get_attempt(session, sub.attempt_id)
    track = catalog.track(sub.track.id, sub.track.version)
    names = runners.runner_names(session)
    src = read_models.attempt_source(session, attempt)
    runs = list(attempt_runs(session, attempt.id))
    return SubmissionView(
        sub=sub,
        track=track,
        runs=[read_models.run_brief(r, names) for r in runs],
        active=sub.job.state in ("PENDING", "RUNNING"),
        code=highlight_python(src) if src is not None else None,
        verdict=attempt_verdict(session, attempt, track, runs),
    )
