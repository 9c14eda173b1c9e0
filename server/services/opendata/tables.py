"""The open data's three Parquet files, one row per run, record and attempt, built through
the services the JSON API answers from, so the files hold the API's figures: records are
`leaderboard.track_records` (what `/api/v1/tracks/{track}/records` serves), attempts' statistics
`compute_stats` over their runs (as `/api/v1/attempts/{id}`), runs the stored rows (as
`/api/v1/runs/{id}`).

Memory stays bounded by a batch: runs and attempts are streamed from the database
(`yield_per`) and written a row group at a time; each file is written beside its final name
and renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import Attempt, Record, Run, User
from server.schemas.records import RecordEntry
from server.services import catalog, leaderboard, runners
from server.services.attempts import AttemptStats, RunFigures, compute_stats, figures_of
from server.services.opendata.columns import schema
from speedrun.errors import TrackError

BATCH_ROWS = 1000
Row = dict[str, Any]


def utc(value: datetime | None) -> datetime | None:
    """Stored datetimes are UTC (SQLite keeps them naive)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def write_table(path: Path, name: str, rows: Iterable[Row]) -> int:
    """Write `rows` as the table `name` (its documented schema) to `path`; the row count.
    A file whose bytes would not change is left as it is (its ETag with it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    sch = schema(name)
    try:
        with pq.ParquetWriter(tmp, sch, compression="zstd") as writer:
            for batch in _batches(rows):
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=sch))
                count += len(batch)
        if not _same_file(tmp, path):
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def write_all(session: Session, out: Path) -> dict[str, int]:
    """runs.parquet, records.parquet, attempts.parquet in `out`: their row counts."""
    out.mkdir(parents=True, exist_ok=True)
    return {
        "runs": write_table(out / "runs.parquet", "runs", run_rows(session)),
        "records": write_table(out / "records.parquet", "records", record_rows(session)),
        "attempts": write_table(out / "attempts.parquet", "attempts", attempt_rows(session)),
    }


def _track(track_id: str, version: int) -> dict[str, Any]:
    return {"track_id": track_id, "track_version": version, "track_key": f"{track_id}@v{version}"}


# --- runs ----------------------------------------------------------------------------------


def run_rows(session: Session) -> Iterator[Row]:
    names = runners.runner_names(session)
    record_of = dict(session.execute(select(Record.attempt_id, Record.id)).all())
    variant_of = dict(session.execute(select(Attempt.id, Attempt.variant_sha256)).all())
    query = select(Run).order_by(Run.id).execution_options(yield_per=BATCH_ROWS)
    for run in session.scalars(query):
        yield run_row(run, names, record_of.get(run.attempt_id), variant_of[run.attempt_id])
        session.expunge(run)


def run_evidence(run: Run, figures: dict[str, Any]) -> dict[str, str | None]:
    """The evidence level of each of the run's figures (None where the figure is missing)."""
    imported = run.origin == "imported"
    loss = "imported" if imported else run.val_loss_source
    time = "imported" if imported else str(figures.get("time_source") or "runner-measured")
    return {
        "time_evidence": time if run.time_ms is not None else None,
        "val_loss_evidence": loss if run.val_loss is not None and loss != "none" else None,
        "claimed_time_evidence": None
        if run.claimed_time_ms is None
        else ("imported" if imported else "self-reported"),
    }


def compute(run: Run) -> Row:
    """The compute figures stored at ingest (none for runs that carried no compute block)."""
    forward, training = (
        getattr(run, "forward_flops_per_token", None),
        getattr(run, "training_flops", None),
    )
    return {
        "machine": getattr(run, "machine_key", None),
        "forward_flops_per_token": forward,
        "forward_flops_evidence": None if forward is None else "runner-measured",
        "training_flops": training,
        "training_flops_evidence": None if training is None else "self-reported",
        "mfu": getattr(run, "mfu", None),
        "peak_source": getattr(run, "peak_source", None),
    }


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def run_row(run: Run, names: dict[int, str], record_id: int | None, variant: str) -> Row:
    manifest = json.loads(run.manifest_json or "{}")
    figures = manifest.get("figures") if isinstance(manifest, dict) else None
    figures = figures if isinstance(figures, dict) else {}
    counted = figures_of(run)
    return {
        "run_id": run.run_id,
        "attempt_id": run.attempt_id,
        "record_id": record_id,
        **_track(run.track_id, run.track_version),
        "variant_sha256": variant,
        **{k: getattr(run, k) for k in ("origin", "purpose", "status", "official")},
        "counts": counted.counts_for_record,
        "not_counted": counted.uncounted_reasons(),
        "violations": [str(v) for v in json.loads(run.violations_json or "[]")],
        "time_ms": run.time_ms,
        "val_loss": run.val_loss,
        "claimed_time_ms": run.claimed_time_ms,
        **run_evidence(run, figures),
        **compute(run),
        "steps": _int(figures.get("steps")),
        "train_tokens": _int(figures.get("train_tokens")),
        "runner": names.get(run.runner_id) if run.runner_id else None,
        **{k: getattr(run, k) for k in ("seed", "backend", "hardware_class", "accelerator_count")},
        **{k: getattr(run, k) for k in ("image_digest", "exit_reason", "job_id", "ab_session")},
        "ab_role": run.ab_role,
        "started_at": utc(run.started_at),
        "finished_at": utc(run.finished_at),
        "ingested_at": utc(run.ingested_at),
        "bundle_sha256": run.bundle_sha256,
        "bundle_path": f"bundles/{run.run_id}.tar.gz" if run.bundle_sha256 else None,
    }


# --- records -------------------------------------------------------------------------------


def record_rows(session: Session) -> Iterator[Row]:
    """Every record on every track version, ranked as its leaderboard ranks them."""
    versions = session.execute(
        select(Record.track_id, Record.track_version).distinct().order_by(Record.track_id)
    )
    counts = _runs_per_attempt(session)
    for track_id, version in list(versions):
        try:
            track = catalog.track(track_id, version)
        except TrackError:
            continue  # a track this code no longer defines: the API cannot show it either
        for entry in leaderboard.track_records(session, track):
            yield record_row(entry, counts.get(entry.attempt_id, 0))


def _runs_per_attempt(session: Session) -> dict[int, int]:
    query = select(Run.attempt_id, func.count()).group_by(Run.attempt_id)
    return dict(session.execute(query).all())


def _stats(time: Any, loss: Any, p: float | None, imported: bool, loss_source: str | None) -> Row:
    return {
        "time_ms_mean": time.mean if time else None,
        "time_ms_std": time.std if time else None,
        "time_ms_n": time.n if time else None,
        "time_evidence": None if not time else ("imported" if imported else "runner-measured"),
        "val_loss_mean": loss.mean if loss else None,
        "val_loss_std": loss.std if loss else None,
        "val_loss_n": loss.n if loss else None,
        "val_loss_evidence": None if not loss else ("imported" if imported else loss_source),
        "p_value": p,
    }


def record_row(e: RecordEntry, n_runs: int) -> Row:
    ev, claim = e.evidence, e.imported
    loss_source = None if ev.val_loss_source == "none" else ev.val_loss_source
    claimed = claim is not None and (claim.claimed_time_ms, claim.claimed_steps) != (None, None)
    return {
        "record_id": e.record_id,
        **_track(e.track.id, e.track.version),
        **{k: getattr(e, k) for k in ("rank", "status", "origin", "attempt_id", "variant_sha256")},
        **{k: getattr(e, k) for k in ("name", "description", "submitter")},
        "established_at": utc(e.established_at),
        "superseded_at": utc(e.superseded_at),
        "previous_record_id": e.previous_record_id,
        **_stats(e.time_ms, e.val_loss, e.p_value, ev.imported, loss_source),
        "beat_method": e.beat.method,
        "beat_p_value": e.beat.p_value,
        "beat_speedup": e.beat.speedup,
        "claimed_time_ms": claim.claimed_time_ms if claim else None,
        "claimed_steps": claim.claimed_steps if claim else None,
        "claimed_evidence": "imported" if claimed else None,
        "readme_number": claim.number if claim else None,
        "hardware_class": e.hardware.hardware_class,
        "accelerator_count": e.hardware.accelerator_count,
        "accelerator_hours": e.cost.accelerator_hours,
        "runners": list(ev.runners),
        "official": ev.official,
        "verification": ev.verification.status if ev.verification else None,
        "verified_at": utc(ev.verification.created_at) if ev.verification else None,
        "n_runs": n_runs,
    }


# --- attempts ------------------------------------------------------------------------------


def attempt_rows(session: Session) -> Iterator[Row]:
    """Every attempt with the statistics `/api/v1/attempts/{id}` shows: `compute_stats` over
    its runs (streamed in attempt order and grouped, so no attempt's runs are read twice)."""
    users = dict(session.execute(select(User.id, User.name)).all())
    record_of = dict(session.execute(select(Record.attempt_id, Record.id)).all())
    query = select(Run).order_by(Run.attempt_id, Run.id).execution_options(yield_per=BATCH_ROWS)
    runs = groupby(session.scalars(query), key=lambda r: r.attempt_id)
    pending = next(runs, None)
    attempts = select(Attempt).order_by(Attempt.id).execution_options(yield_per=BATCH_ROWS)
    for attempt in session.scalars(attempts):
        figures = []
        while pending is not None and pending[0] <= attempt.id:
            if pending[0] == attempt.id:
                figures = [_figures_once(session, r) for r in pending[1]]
            pending = next(runs, None)
        try:
            st = compute_stats(figures, catalog.track(attempt.track_id, attempt.track_version))
        except TrackError:
            continue
        yield attempt_row(attempt, st, users, record_of.get(attempt.id))
        session.expunge(attempt)


def _figures_once(session: Session, run: Run) -> RunFigures:
    """The run's figures, the row itself let go (memory stays at a batch)."""
    figures = figures_of(run)
    session.expunge(run)
    return figures


def attempt_row(a: Attempt, st: AttemptStats, users: dict[int, str], record: int | None) -> Row:
    imported = a.origin == "imported"
    loss_source = "self-reported" if st.self_reported else "independently-evaluated"
    return {
        "attempt_id": a.id,
        **_track(a.track_id, a.track_version),
        **{k: getattr(a, k) for k in ("origin", "variant_sha256", "name", "description")},
        "submitter": users.get(a.submitter_id) if a.submitter_id else None,
        "created_at": utc(a.created_at),
        "record_id": record,
        **{k: getattr(st, k) for k in ("n_runs", "n_counted", "n_unsolicited", "official")},
        **_stats(st.time_ms, st.val_loss, st.p_value, imported, loss_source),
        "qualifies": st.qualifies,
        "reason": st.reason,
    }
