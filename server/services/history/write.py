"""`speedrun records import PATH`: write a modded-nanogpt checkout's history into the database.

`plan_import` (history_plan.py) parses the checkout; `write_plan` writes the plan in one
transaction (all of it or, on any error, none of it), keyed by natural keys so that a
second import of the same checkout changes nothing and a newer checkout adds only what is
new. Each README record becomes an imported attempt + record on its track, its runs the
logs of its folder (see history_plan for the rules); everything is marked
`origin="imported"`, self-reported, and never mixed with runner-verified results.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import Database
from server.models import Attempt, Blob, Record, Run, TrackState, User
from server.services import run_logs
from server.services.attempts import refresh_stats
from server.services.history.documents import BADGE, StoredRun, decision_json, run_manifest
from server.services.history.plan import ImportPlan, RecordPlan, RunPlan, TrackPlan, plan_import
from speedrun.history import Problem
from speedrun.tracks import Track

__all__ = ["BADGE", "ImportSummary", "TrackCounts", "import_checkout", "write_plan"]


@dataclass
class TrackCounts:
    track: str  # "modded-nanogpt-short@v1"
    rows: int  # README rows, re-timings included
    records: int
    retimings: int
    no_logs: int  # records without a parsed log of their own
    records_added: int = 0
    records_updated: int = 0
    records_unchanged: int = 0
    runs_added: int = 0
    runs_unchanged: int = 0
    not_in_readme: int = 0  # imported before, no longer in the README: kept as they were


@dataclass
class ImportSummary:
    root: str
    tracks: list[TrackCounts] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unlinked_folders: list[str] = field(default_factory=list)
    blobs_added: int = 0
    log_files: int = 0
    log_bytes: int = 0
    parse_s: float = 0.0
    write_s: float = 0.0

    def total(self, name: str) -> int:
        return sum(int(getattr(t, name)) for t in self.tracks)

    @property
    def changed(self) -> bool:
        return any(self.total(n) for n in ("records_added", "records_updated", "runs_added"))

    def lines(self) -> list[str]:
        """The CLI's report: per track, the problems (file: reason), the time taken."""
        mb = self.log_bytes / 1e6
        rate = mb / self.parse_s if self.parse_s > 0 else 0.0
        out = [
            f"imported {self.root}",
            f"{'track':<32} {'rows':>5} {'records':>8} {'added':>6} {'updated':>8} "
            f"{'same':>5} {'no logs':>8} {'runs +':>7} {'runs =':>7}",
        ]
        for t in self.tracks:
            out.append(
                f"{t.track:<32} {t.rows:>5} {t.records:>8} {t.records_added:>6} "
                f"{t.records_updated:>8} {t.records_unchanged:>5} {t.no_logs:>8} "
                f"{t.runs_added:>7} {t.runs_unchanged:>7}"
            )
        for t in self.tracks:
            if t.not_in_readme:
                out.append(f"{t.track}: {t.not_in_readme} records no longer in the README (kept)")
        for folder in self.unlinked_folders:
            out.append(f"not imported (no README row links it): {folder}")
        out.append(f"problems: {len(self.problems)}" + (" (skipped)" if self.problems else ""))
        out.extend(f"  {p.path}: {p.reason}" for p in self.problems)
        out.append(
            f"time: {self.parse_s + self.write_s:.2f} s (parse {self.parse_s:.2f} s, "
            f"{self.log_files} logs, {mb:.1f} MB, {rate:.1f} MB/s; write {self.write_s:.2f} s)"
        )
        verdict = "changed" if self.changed else "nothing new"
        out.append(
            f"done: {self.total('records_added')} records and {self.total('runs_added')} runs "
            f"added, {self.total('records_updated')} records updated ({verdict}); "
            f"{len(self.problems)} problem(s)"
        )
        return out


def import_checkout(db: Database, root: str | Path) -> ImportSummary:
    """Parse the checkout at `root` and write it (see `write_plan`)."""
    return write_plan(db, plan_import(root))


def write_plan(db: Database, plan: ImportPlan) -> ImportSummary:
    """Write every track of the plan in one transaction: all of it, or nothing on error."""
    summary = ImportSummary(
        root=str(plan.root),
        problems=list(plan.problems),
        unlinked_folders=list(plan.unlinked_folders),
        log_files=plan.log_files,
        log_bytes=plan.log_bytes,
        parse_s=plan.parse_s,
    )
    started = time.perf_counter()
    with db.write() as session:
        writer = _Writer(session, plan.root, summary)
        for track_plan in plan.tracks:
            summary.tracks.append(writer.write_track(track_plan))
    summary.write_s = time.perf_counter() - started
    return summary


def variant_of(track: Track, key: str) -> str:
    """An imported record's attempt id: one per README record (two records may share code;
    the code itself is the attempt's source blob and each run's `code_sha256`)."""
    return hashlib.sha256(f"modded-nanogpt-import\0{track.key}\0{key}".encode()).hexdigest()


def run_id_of(track: Track, key: str, run: RunPlan) -> str:
    parts = (track.key, key, run.path, str(run.index), run.log_sha256)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _own_runs(plan: RecordPlan) -> list[RunPlan]:
    return [r for r in plan.runs if r.purpose != "retiming"]


def _assign(obj: Any, values: dict[str, Any]) -> bool:
    """Set the attributes that differ; True when any did."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


class _Writer:
    """One import transaction: blobs and users seen so far, so each is looked up once."""

    def __init__(self, session: Session, root: Path, summary: ImportSummary) -> None:
        self.session = session
        self.root = root
        self.summary = summary
        self.blobs: set[str] = set()
        self.users: dict[str, int] = {}
        self._file: tuple[str, bytes] | None = None

    def write_track(self, plan: TrackPlan) -> TrackCounts:
        track = plan.track
        counts = TrackCounts(
            track=track.key,
            rows=len(plan.table.rows),
            records=len(plan.records),
            retimings=sum(len(r.retimings) for r in plan.records),
            no_logs=sum(1 for r in plan.records if not _own_runs(r)),
        )
        state = self._lock(track)
        query = select(Record).where(
            Record.track_id == track.id,
            Record.track_version == track.version,
            Record.import_key.is_not(None),
        )
        existing = {r.import_key: r for r in self.session.scalars(query)}
        counts.not_in_readme = len(set(existing) - {r.key for r in plan.records})
        ids: dict[str, int] = {}
        for record_plan in plan.records:
            previous = ids.get(record_plan.previous_key) if record_plan.previous_key else None
            record = self._upsert(record_plan, existing.get(record_plan.key), previous, counts)
            ids[record_plan.key] = record.id
        if counts.records_added or counts.records_updated or counts.runs_added:
            state.revision += 1
        return counts

    def _lock(self, track: Track) -> TrackState:
        """The track's row lock (as record decisions take it), without bumping its revision
        unless something is written: a no-op import changes no row."""
        query = select(TrackState).where(
            TrackState.track_id == track.id, TrackState.track_version == track.version
        )
        state = self.session.scalar(query.with_for_update())
        if state is None:
            state = TrackState(track_id=track.id, track_version=track.version, revision=0)
            self.session.add(state)
            self.session.flush()
        return state

    def _upsert(
        self, plan: RecordPlan, record: Record | None, previous_id: int | None, counts: TrackCounts
    ) -> Record:
        attempt, changed = self._attempt(plan, record)
        added = self._runs(plan, attempt.id, counts)
        if added or record is None:
            refresh_stats(self.session, attempt, plan.track)
            self.session.flush()
        fields = {
            "number": plan.row.number,
            "claimed_time_ms": plan.row.time_ms,
            "claimed_steps": plan.row.steps,
            "established_at": plan.established_at,
            "superseded_at": plan.superseded_at,
            "previous_record_id": previous_id,
            "decision_json": decision_json(plan, self._stored_runs(attempt.id)),
        }
        if record is None:
            counts.records_added += 1
            return self._new_record(plan, attempt.id, fields)
        if plan.superseded_at is None and counts.not_in_readme:
            del fields["superseded_at"]  # an older checkout never revives a superseded record
        changed |= _assign(record, fields)
        if changed or added:
            counts.records_updated += 1
        else:
            counts.records_unchanged += 1
        return record

    def _attempt(self, plan: RecordPlan, record: Record | None) -> tuple[Attempt, bool]:
        """The record's attempt (made for a new record), and whether its fields changed."""
        track = plan.track
        attempt_fields = {
            "name": f"#{plan.row.number} {plan.row.description}"[:200],
            "description": plan.row.description,
            "submitter_id": self._user(plan.row.contributors),
            "source_sha256": self._source(plan),
        }
        if record is not None:
            attempt = self.session.get_one(Attempt, record.attempt_id)
            return attempt, _assign(attempt, attempt_fields)
        attempt = Attempt(
            origin="imported",
            track_id=track.id,
            track_version=track.version,
            variant_sha256=variant_of(track, plan.key),
            **attempt_fields,
        )
        self.session.add(attempt)
        self.session.flush()
        return attempt, False

    def _new_record(self, plan: RecordPlan, attempt_id: int, fields: dict[str, Any]) -> Record:
        track = plan.track
        record = Record(
            origin="imported",
            track_id=track.id,
            track_version=track.version,
            attempt_id=attempt_id,
            import_key=plan.key,
            **fields,
        )
        self.session.add(record)
        self.session.flush()
        return record

    def _stored_runs(self, attempt_id: int) -> list[StoredRun]:
        columns = (Run.purpose, Run.hardware_class, Run.time_ms, Run.val_loss, Run.log_sha256)
        query = select(*columns).where(Run.attempt_id == attempt_id).order_by(Run.id)
        return [StoredRun(*row) for row in self.session.execute(query)]

    def _runs(self, plan: RecordPlan, attempt_id: int, counts: TrackCounts) -> int:
        wanted = {run_id_of(plan.track, plan.key, r): r for r in plan.runs}
        query = select(Run.run_id).where(Run.run_id.in_(list(wanted)))
        have = set(self.session.scalars(query)) if wanted else set()
        counts.runs_unchanged += len(have)
        added = 0
        for run_id, run in wanted.items():
            if run_id in have:
                continue
            row = self._run_row(plan.track, attempt_id, run_id, run)
            if row is not None:
                self.session.add(row)
                self.session.flush()  # the summary row needs the run's id
                self._summary(row, run)
                added += 1
        counts.runs_added += added
        return added

    def _run_row(self, track: Track, attempt_id: int, run_id: str, run: RunPlan) -> Run | None:
        data = self._read(run)
        if data is None:
            return None
        log_sha = self._blob(data, "text/plain", run.log_sha256)
        parsed = run.folder_run.run
        if parsed.code is not None and parsed.code_sha256 is not None:
            self._blob(parsed.code.encode(), "text/x-python", parsed.code_sha256)
        return Run(
            run_id=run_id,
            origin="imported",
            attempt_id=attempt_id,
            purpose=run.purpose,
            track_id=track.id,
            track_version=track.version,
            backend=None,
            official=False,
            status="completed" if parsed.completed or parsed.total_steps is None else "incomplete",
            time_ms=parsed.final_train_time_ms,
            val_loss=run.val_loss,
            val_loss_source="self-reported",
            claimed_time_ms=run.claimed_time_ms,
            hardware_class=run.hardware_class,
            accelerator_count=run.accelerator_count,
            log_sha256=log_sha,
            log_member=None,
            manifest_json=run_manifest(run),
        )

    def _summary(self, row: Run, run: RunPlan) -> None:
        """What the pages show of the log, from the parse the plan already made."""
        data = self._read(run)
        assert data is not None  # read just now for the row, and kept
        text = data.decode("utf-8", errors="replace")
        run_logs.store(self.session, row, run_logs.summarize_parsed(run.folder_run.run, text))

    def _read(self, run: RunPlan) -> bytes | None:
        """The log's bytes, as they were when planned; a file changed or gone since is a
        problem (the run is skipped), not a failure."""
        if self._file is not None and self._file[0] == run.path:
            return self._file[1]
        try:
            data = (self.root / run.path).read_bytes()
        except OSError as exc:
            self.summary.problems.append(Problem(run.path, f"cannot read: {exc.strerror}"))
            return None
        if hashlib.sha256(data).hexdigest() != run.log_sha256:
            self.summary.problems.append(Problem(run.path, "changed while importing; skipped"))
            return None
        self._file = (run.path, data)
        return data

    def _blob(self, data: bytes, media_type: str, sha256: str) -> str:
        if sha256 in self.blobs:
            return sha256
        self.blobs.add(sha256)
        if self.session.scalar(select(Blob.sha256).where(Blob.sha256 == sha256)) is None:
            self.session.add(
                Blob(sha256=sha256, size_bytes=len(data), media_type=media_type, data=data)
            )
            self.summary.blobs_added += 1
        return sha256

    def _source(self, plan: RecordPlan) -> str | None:
        """The record's code: that of its first claim run whose log holds code."""
        for run in plan.runs:
            parsed = run.folder_run.run
            if run.purpose == "claim" and parsed.code is not None and parsed.code_sha256:
                return self._blob(parsed.code.encode(), "text/x-python", parsed.code_sha256)
        return None

    def _user(self, handles: tuple[str, ...]) -> int | None:
        """The README's first contributor handle as the record's submitter."""
        if not handles:
            return None
        name = handles[0].lstrip("@")[:100]
        if name not in self.users:
            user = self.session.scalar(select(User).where(User.name == name))
            if user is None:
                user = User(name=name)
                self.session.add(user)
                self.session.flush()
            self.users[name] = user.id
        return self.users[name]
