"""Read models: ORM rows turned into the API's shapes (runs with their step curve, stored at
ingest, attempts, jobs, submissions, tracks). Record and leaderboard views live in `leaderboard`."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Attempt, Job, Record, Run, Submission, User
from server.problems import NotFound
from server.schemas.common import SummaryPublic, TrackRef
from server.schemas.compute import MachinePublic
from server.schemas.jobs import JobPublic, SubmissionPublic
from server.schemas.records import AttemptPublic, StatsPublic
from server.schemas.runs import AbPublic, RunBrief, RunPublic
from server.schemas.tracks import HardwarePublic, RulesPublic, TrackPublic
from server.services import catalog, compute, run_logs, runners
from server.services.attempts import AttemptStats, attempt_runs, compute_stats, figures_of
from server.services.blobs import get_blob
from server.services.conditions import run_conditions
from server.services.queue import runs_done
from speedrun import stats
from speedrun.bundle import read_bundle
from speedrun.machine_id import machine_of
from speedrun.tracks import Track

API = "/api/v1"


def track_public(t: Track) -> TrackPublic:
    r = t.rules
    return TrackPublic(
        id=t.id,
        version=t.version,
        key=t.key,
        title=t.title,
        description=t.description,
        hidden=t.hidden,
        time_limit_s=t.limits.wall_clock_s,
        hardware=HardwarePublic(
            hardware_class=t.hardware.klass,
            accelerator=t.hardware.accelerator,
            count=t.hardware.count,
        ),
        rules=RulesPublic(
            target_val_loss=r.target_val_loss,
            runs_required=r.runs_required,
            significance_alpha=r.significance_alpha,
            beat_alpha=r.beat_alpha,
            min_speedup=r.min_speedup,
            paired_ab=r.paired_ab,
            record_backends=list(r.record_backends),
        ),
        leaderboard_url=f"{API}/tracks/{t.id}/leaderboard?version={t.version}",
        family=t.family,
        ranked_by=t.ranked_by,
        page_url=f"/tracks/{t.id}?version={t.version}",
    )


def summary_public(s: stats.Summary | None) -> SummaryPublic | None:
    return None if s is None else SummaryPublic(n=s.n, mean=s.mean, std=s.std)


def stats_public(st: AttemptStats) -> StatsPublic:
    return StatsPublic(
        n_runs=st.n_runs,
        n_counted=st.n_counted,
        n_unsolicited=st.n_unsolicited,
        official=st.official,
        self_reported=st.self_reported,
        time_ms=summary_public(st.time_ms),
        val_loss=summary_public(st.val_loss),
        p_value=st.p_value,
        qualifies=st.qualifies,
        reason=st.reason,
        machines=st.machines,
        test_unit=st.test_unit,
    )


def machine_public(run: Run) -> MachinePublic | None:
    """The machine a verified run ran on (imported history has no fingerprint to tell)."""
    if run.origin != "verified":
        return None
    machine = machine_of(json.loads(run.manifest_json))
    return MachinePublic(key=run.machine_key or machine.key, label=machine.label)


def run_brief(run: Run, runner_names: dict[int, str]) -> RunBrief:
    ab = None
    if run.ab_session:
        ab = AbPublic(
            session_id=run.ab_session, role=run.ab_role or "", pair_index=run.ab_pair_index
        )
    return RunBrief(
        run_id=run.run_id,
        attempt_id=run.attempt_id,
        origin=run.origin,
        purpose=run.purpose,
        status=run.status,
        official=run.official,
        counts=figures_of(run).counts_for_record,
        backend=run.backend,
        time_ms=run.time_ms,
        val_loss=run.val_loss,
        val_loss_source=run.val_loss_source,
        claimed_time_ms=run.claimed_time_ms,
        seed=run.seed,
        runner=runner_names.get(run.runner_id) if run.runner_id else None,
        hardware_class=run.hardware_class,
        accelerator_count=run.accelerator_count,
        image_digest=run.image_digest,
        machine=machine_public(run),
        training_flops=run.training_flops,
        mfu=run.mfu,
        ab=ab,
        started_at=run.started_at,
        finished_at=run.finished_at,
        ingested_at=run.ingested_at,
        url=f"{API}/runs/{run.run_id}",
    )


def run_log_text(session: Session, run: Run) -> str | None:
    """The run's full log (from its bundle, or its own blob for imported runs), if stored:
    for the log download alone; pages show the stored summary (`run_logs`)."""
    return _log_text(session, run)


def attempt_source(session: Session, attempt: Attempt) -> str | None:
    """The variant's source code as stored, or None."""
    blob = get_blob(session, attempt.source_sha256) if attempt.source_sha256 else None
    return None if blob is None else blob.data.decode("utf-8", errors="replace")


def _log_text(session: Session, run: Run) -> str | None:
    if run.log_sha256 is not None:
        blob = get_blob(session, run.log_sha256)
        return None if blob is None else blob.data.decode("utf-8", errors="replace")
    if run.bundle_sha256 is None or run.log_member is None:
        return None
    bundle = get_blob(session, run.bundle_sha256)
    if bundle is None:
        return None
    return read_bundle(bundle.data, max_bytes=1 << 31).text(run.log_member)


def run_violations(run: Run) -> list[str]:
    """The rules the run broke, as stored at ingest."""
    found = json.loads(run.violations_json) if run.violations_json else []
    return [str(v) for v in found]


def get_run(session: Session, run_id: str) -> Run:
    run = session.scalar(select(Run).where(Run.run_id == run_id))
    if run is None:
        raise NotFound("unknown-run", f"no run {run_id!r}")
    return run


def run_public(session: Session, run: Run, curve: run_logs.Curve | None = None) -> RunPublic:
    """The run with its manifest and stored step curve (`curve`, if already at hand)."""
    attempt = session.get_one(Attempt, run.attempt_id)
    record_id = session.scalar(select(Record.id).where(Record.attempt_id == attempt.id))
    steps, why_not = curve or run_logs.curves(session, [run])[run.id]
    manifest: dict[str, Any] = json.loads(run.manifest_json)
    brief = run_brief(run, runners.runner_names(session))
    return RunPublic(
        **brief.model_dump(exclude={"unsolicited", "page_url"}),
        track=TrackRef(id=run.track_id, version=run.track_version),
        variant_sha256=attempt.variant_sha256,
        name=attempt.name,
        exit_reason=run.exit_reason,
        violations=run_violations(run),
        not_counted=figures_of(run).uncounted_reasons(),
        bundle_sha256=run.bundle_sha256,
        bundle_url=f"{API}/runs/{run.run_id}/bundle" if run.bundle_sha256 else None,
        job_id=run.job_id,
        record_id=record_id,
        manifest=manifest,
        curve=steps,
        curve_error=why_not,
        compute=compute.compute_of(manifest),
        calibration=compute.calibration_of(manifest),
        telemetry=compute.telemetry_of(manifest),
        conditions=run_conditions(manifest, run.run_id) if run.origin == "verified" else [],
        telemetry_series=run_logs.telemetry(session, run),
    )


def get_attempt(session: Session, attempt_id: int) -> Attempt:
    attempt = session.get(Attempt, attempt_id)
    if attempt is None:
        raise NotFound("unknown-attempt", f"no attempt {attempt_id}")
    return attempt


def attempt_public(session: Session, attempt: Attempt) -> AttemptPublic:
    runs = attempt_runs(session, attempt.id)
    track = catalog.track(attempt.track_id, attempt.track_version)
    names = runners.runner_names(session)
    submitter = session.get(User, attempt.submitter_id) if attempt.submitter_id else None
    return AttemptPublic(
        id=attempt.id,
        origin=attempt.origin,
        track=TrackRef(id=attempt.track_id, version=attempt.track_version),
        variant_sha256=attempt.variant_sha256,
        name=attempt.name,
        description=attempt.description,
        submitter=submitter.name if submitter else None,
        created_at=attempt.created_at,
        record_id=session.scalar(select(Record.id).where(Record.attempt_id == attempt.id)),
        stats=stats_public(compute_stats([figures_of(r) for r in runs], track)),
        source_url=f"{API}/attempts/{attempt.id}/source" if attempt.source_sha256 else None,
        runs=[run_brief(r, names) for r in runs],
    )


def list_attempts(session: Session, track: Track, limit: int, offset: int) -> list[AttemptPublic]:
    query = (
        select(Attempt)
        .where(Attempt.track_id == track.id, Attempt.track_version == track.version)
        .order_by(Attempt.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [attempt_public(session, a) for a in session.scalars(query)]


def job_public(session: Session, job: Job) -> JobPublic:
    done = runs_done(session, job.id)
    runner_name = runners.runner_names(session).get(job.runner_id) if job.runner_id else None
    return JobPublic(
        id=job.id,
        kind=job.kind,
        name=session.get_one(Attempt, job.attempt_id).name,
        state=job.state,
        track=TrackRef(id=job.track_id, version=job.track_version),
        attempt_id=job.attempt_id,
        record_id=job.record_id,
        variant_sha256=job.variant_sha256,
        baseline_sha256=job.baseline_sha256,
        runs_total=job.runs_total,
        runs_done=done,
        runs_remaining=max(0, job.runs_total - len(done)),
        runner=runner_name,
        leased_at=job.leased_at,
        heartbeat_at=job.heartbeat_at,
        lease_expires_at=job.lease_expires_at,
        expiries=job.expiries,
        reason=job.reason,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


def submission_public(session: Session, sub: Submission) -> SubmissionPublic:
    return SubmissionPublic(
        id=sub.id,
        user=session.get_one(User, sub.user_id).name,
        track=TrackRef(id=sub.track_id, version=sub.track_version),
        attempt_id=sub.attempt_id,
        variant_sha256=sub.variant_sha256,
        name=sub.name,
        description=sub.description,
        created_at=sub.created_at,
        job=job_public(session, session.get_one(Job, sub.job_id)),
        attempt_url=f"{API}/attempts/{sub.attempt_id}",
    )
