"""What `speedrun records import` will write, worked out from a modded-nanogpt checkout
before the database is touched: one `RecordPlan` per README record, each with its runs.

Pure (reads only the checkout), and deterministic: natural keys make a plan built twice
from the same checkout the same plan, so a re-import finds everything it wrote before.

    record  (track, number, date of its first README row)          -> Record.import_key
    run     (record, file path, run index, sha256 of the log file)  -> Run.run_id

README rows: each row is a record on its track (main -> modded-nanogpt-short@v1, medium ->
modded-nanogpt-medium@v1, optimization -> modded-nanogpt-optimization@v1); a row that
repeats a record number re-times that record and is folded into it. On the optimization
track only rows marked "(!)" held the record; the others are notable results.

Runs: every parsed log of the folder a row links to, except files another row links by
name (two rows sharing a folder each keep their own log). Purposes, as `Run.purpose`:
    claim           the record's own runs, on the record's hardware
    baseline        a `baseline/` folder or `*baseline*` file: the comparison, not the record
    other-hardware  the record's runs on other hardware (say a 1x H100 re-run of an 8x record)
    retiming        logs of a re-timing row
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from speedrun.errors import TrackError, UsageError
from speedrun.history import (
    FolderRun,
    Problem,
    RecordFolder,
    RecordRow,
    RowMatch,
    TrackTable,
    scan_checkout,
)
from speedrun.tracks import Track, get_track

__all__ = [
    "TRACK_IDS",
    "CheckoutInvalid",
    "ImportPlan",
    "RecordPlan",
    "RunPlan",
    "TrackPlan",
    "check_checkout",
    "plan_import",
]

TRACK_IDS = {
    "main": "modded-nanogpt-short",
    "medium": "modded-nanogpt-medium",
    "optimization": "modded-nanogpt-optimization",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CheckoutInvalid(UsageError):
    """PATH is not a modded-nanogpt checkout (no README.md, or no records/ folder)."""


@dataclass(frozen=True)
class RunPlan:
    path: str  # the log file, relative to the checkout
    index: int  # 1-based position of the run in its file
    runs_in_file: int
    log_sha256: str  # of the whole file: part of the run's natural key
    log_bytes: int
    purpose: str  # claim | baseline | other-hardware | retiming
    folder_run: FolderRun
    claimed_time_ms: float | None  # the README figure of the row the run came with
    val_loss: float | None  # final val loss; on a steps track, the loss at the claimed step
    hardware_class: str | None  # the track's class when it fits, else "<n>x<GPU name>"
    accelerator_count: int | None
    row_key: str  # import key of that row (the record's, or a re-timing's)


@dataclass(frozen=True)
class RecordPlan:
    track: Track
    key: str  # "<number>@<YYYY-MM-DD>" ("@undated" without a date)
    row: RecordRow
    match: RowMatch
    retimings: tuple[tuple[RecordRow, RowMatch], ...]
    runs: tuple[RunPlan, ...]
    is_record: bool  # False: a notable result that never held the record
    established_at: datetime  # the row's date (an undated row: the record before it's)
    superseded_at: datetime | None  # the next record's date; a notable result: its own
    previous_key: str | None  # the record it followed (or, a notable result, failed to beat)
    folder: RecordFolder | None


@dataclass(frozen=True)
class TrackPlan:
    track: Track
    table: TrackTable
    records: tuple[RecordPlan, ...]


@dataclass(frozen=True)
class ImportPlan:
    root: Path
    tracks: tuple[TrackPlan, ...]
    problems: tuple[Problem, ...]  # files skipped (unreadable, unparseable), tables not imported
    unlinked_folders: tuple[str, ...]  # record folders with logs that no README row links
    log_files: int  # logs parsed
    log_bytes: int
    parse_s: float


def check_checkout(root: Path) -> None:
    """Raise CheckoutInvalid unless `root` looks like a modded-nanogpt checkout."""
    if not root.is_dir():
        raise CheckoutInvalid(f"{root}: not a directory (expected a modded-nanogpt checkout)")
    missing = [name for name in ("README.md", "records") if not (root / name).exists()]
    if missing or not (root / "records").is_dir():
        what = " and ".join(f"no {name}" for name in missing) or "records is not a folder"
        raise CheckoutInvalid(f"{root}: not a modded-nanogpt checkout ({what})")


def plan_import(root: str | Path) -> ImportPlan:
    """Parse the checkout (README tables, every log) and decide what each row becomes."""
    path = Path(root)
    check_checkout(path)
    started = time.perf_counter()
    scan = scan_checkout(path)
    parse_s = time.perf_counter() - started
    problems = list(scan.problems)
    digests = _digest_logs(path, scan.folders, problems)
    owners = _file_owners(scan.matches)
    tracks: list[TrackPlan] = []
    for table in scan.tracks:
        track = _track_for(table, problems)
        if track is not None:
            matches = [m for m in scan.matches if m.row.track == table.track]
            tracks.append(_plan_track(track, table, matches, owners, digests))
    linked = {run.folder_run.path for t in tracks for r in t.records for run in r.runs}
    unlinked = tuple(
        f.path for f in scan.folders if f.runs and not any(r.path in linked for r in f.runs)
    )
    files = {r.path for f in scan.folders for r in f.runs}
    return ImportPlan(
        root=path,
        tracks=tuple(tracks),
        problems=tuple(problems),
        unlinked_folders=unlinked,
        log_files=len(files),
        log_bytes=sum(digests[p][1] for p in files if p in digests),
        parse_s=parse_s,
    )


def _track_for(table: TrackTable, problems: list[Problem]) -> Track | None:
    track_id = TRACK_IDS.get(table.track)
    if track_id is None:
        problems.append(Problem("README.md", f"table {table.heading!r}: no track to import into"))
        return None
    try:
        return get_track(track_id, 1)
    except TrackError as exc:
        problems.append(Problem("README.md", f"table {table.heading!r}: {exc}"))
        return None


def _digest_logs(
    root: Path, folders: Sequence[RecordFolder], problems: list[Problem]
) -> dict[str, tuple[str, int]]:
    """sha256 and size of every parsed log file (read once; the bytes are not kept)."""
    digests: dict[str, tuple[str, int]] = {}
    for run in (r for f in folders for r in f.runs):
        if run.path in digests:
            continue
        try:
            data = (root / run.path).read_bytes()
        except OSError as exc:
            problems.append(Problem(run.path, f"cannot read: {exc.strerror or exc}"))
            continue
        digests[run.path] = (hashlib.sha256(data).hexdigest(), len(data))
    return digests


def _row_id(row: RecordRow) -> tuple[str, int]:
    return row.track, row.line_no


def _file_owners(matches: Sequence[RowMatch]) -> dict[str, set[tuple[str, int]]]:
    """Log files that rows link by name, and which rows: such a file belongs to them only."""
    owners: dict[str, set[tuple[str, int]]] = {}
    for m in matches:
        if m.how in ("file", "moved"):
            for run in m.runs:
                owners.setdefault(run.path, set()).add(_row_id(m.row))
    return owners


def _row_runs(match: RowMatch, owners: dict[str, set[tuple[str, int]]]) -> list[FolderRun]:
    if match.folder is None:
        return []
    me = _row_id(match.row)
    return [r for r in match.folder.runs if me in owners.get(r.path, {me})]


def import_key(row: RecordRow) -> str:
    return f"{row.number}@{row.date.isoformat() if row.date else 'undated'}"


def _plan_track(
    track: Track,
    table: TrackTable,
    matches: list[RowMatch],
    owners: dict[str, set[tuple[str, int]]],
    digests: dict[str, tuple[str, int]],
) -> TrackPlan:
    groups: dict[int, list[RowMatch]] = {}
    for m in matches:  # README order; a repeated number re-times the first row's record
        groups.setdefault(m.row.number, []).append(m)
    firsts = [group[0] for group in groups.values()]
    dates: list[datetime] = []
    for m in firsts:  # an undated row takes the date of the row before it
        dates.append(_midnight(m.row.date) if m.row.date else (dates[-1] if dates else _EPOCH))
    record_at = [at for m, at in zip(firsts, dates, strict=True) if _is_record(m.row)]
    plans: list[RecordPlan] = []
    previous: str | None = None
    for (first, *retimes), at in zip(groups.values(), dates, strict=True):
        is_record = _is_record(first.row)
        if is_record:
            record_at.pop(0)
        plans.append(
            RecordPlan(
                track=track,
                key=import_key(first.row),
                row=first.row,
                match=first,
                retimings=tuple((m.row, m) for m in retimes),
                runs=_runs(track, first, retimes, owners, digests),
                is_record=is_record,
                established_at=at,
                superseded_at=(record_at[0] if record_at else None) if is_record else at,
                previous_key=previous,
                folder=first.folder,
            )
        )
        previous = plans[-1].key if is_record else previous
    return TrackPlan(track=track, table=table, records=tuple(plans))


def _is_record(row: RecordRow) -> bool:
    return row.is_world_record is not False  # only the optimization table marks "(!)"


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _runs(
    track: Track,
    first: RowMatch,
    retimes: list[RowMatch],
    owners: dict[str, set[tuple[str, int]]],
    digests: dict[str, tuple[str, int]],
) -> tuple[RunPlan, ...]:
    own = [r for r in _row_runs(first, owners) if r.path in digests]
    main_hw = _main_hardware(track, [r for r in own if r.role != "baseline"])
    plans = [_run_plan(track, r, first, digests, _purpose(track, r, main_hw)) for r in own]
    taken = {(p.path, p.index) for p in plans}
    for m in retimes:
        for r in _row_runs(m, owners):
            if r.path in digests:
                plan = _run_plan(track, r, m, digests, "retiming")
                if (plan.path, plan.index) not in taken:
                    taken.add((plan.path, plan.index))
                    plans.append(plan)
    return tuple(plans)


def _purpose(track: Track, run: FolderRun, main_hw: str | None) -> str:
    if run.role == "baseline":
        return "baseline"
    hw_class = hardware_of(run, track)[0]
    if hw_class is not None and main_hw is not None and hw_class != main_hw:
        return "other-hardware"
    return "claim"


def hardware_of(run: FolderRun, track: Track) -> tuple[str | None, int | None]:
    """(hardware class, GPU count) the way verified runs name it: the track's class when the
    log shows the track's GPUs, else "<n>x<GPU name>" (e.g. "1xNVIDIA H100 80GB HBM3")."""
    model, count = run.run.gpu_model, run.run.gpu_count
    if model is None:
        return None, None
    count = count or 1
    fits = count == track.hardware.count and track.hardware.gpu_model_pattern in model
    return (track.hardware.klass if fits else f"{count}x{model}"), count


def _main_hardware(track: Track, runs: list[FolderRun]) -> str | None:
    """The hardware a record's runs were timed on: the track's class when any run used it,
    else the class most of its runs used (on a tie, the one with more GPUs)."""
    setups = Counter(hardware_of(r, track) for r in runs)
    setups.pop((None, None), None)
    if not setups:
        return None
    if any(klass == track.hardware.klass for klass, _ in setups):
        return track.hardware.klass
    return max(setups, key=lambda s: (setups[s], s[1] or 0))[0]


def _run_plan(
    track: Track,
    run: FolderRun,
    match: RowMatch,
    digests: dict[str, tuple[str, int]],
    purpose: str,
) -> RunPlan:
    assert match.folder is not None
    in_file = [r for r in match.folder.runs if r.path == run.path]
    hw_class, count = hardware_of(run, track)
    row = match.row
    loss = run.run.final_val_loss
    if track.ranked_by == "steps" and row.steps is not None:
        at_step = [p.val_loss for p in run.run.val_points if p.step == row.steps]
        loss = at_step[0] if at_step and at_step[0] is not None else loss
    sha, size = digests[run.path]
    return RunPlan(
        path=run.path,
        index=next(i for i, r in enumerate(in_file, start=1) if r is run),
        runs_in_file=len(in_file),
        log_sha256=sha,
        log_bytes=size,
        purpose=purpose,
        folder_run=run,
        claimed_time_ms=row.time_ms if purpose in ("claim", "retiming") else None,
        val_loss=loss,
        hardware_class=hw_class,
        accelerator_count=count,
        row_key=import_key(row),
    )
