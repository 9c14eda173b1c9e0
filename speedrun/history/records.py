"""Walk a modded-nanogpt checkout's `records/` folder: record folders and the runs they hold.

Layout, as the speedrun grew it: `records/<track>/<record folder>/` holds one or more logs
(`*.txt`, `*.log`), sometimes in sub-folders: `this_pr/` and `baseline/` for records timed
against a baseline on the same machine (each may carry a `statistics.md`), or `runs/`,
`logs/`... The optimization track keeps its entries under `records/track_3_optimization/
results/`, each a folder or a single log file holding many runs. Every log is parsed; one
that cannot be is reported as a `Problem` and skipped, never stopping the walk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path, PurePosixPath

from speedrun.errors import LogParseError
from speedrun.history.stats import RunStats, StatisticsDoc, parse_statistics_md, summarize
from speedrun.logparse import ParsedRun, parse_log_file

__all__ = [
    "DEFAULT_TARGET_VAL_LOSS",
    "FolderRun",
    "Problem",
    "RecordFolder",
    "role_of",
    "scan_records",
]

DEFAULT_TARGET_VAL_LOSS = 3.28
LOG_SUFFIXES = (".txt", ".log")
_CONTAINER_DIRS = ("results",)  # folders of entries rather than entries themselves
_DATE_PREFIX_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


@dataclass(frozen=True)
class Problem:
    path: str  # relative to the checkout root
    reason: str


@dataclass(frozen=True)
class FolderRun:
    path: str  # the log file, relative to the checkout root
    role: str  # "record", "this_pr" or "baseline"
    subfolder: str  # the file's folder relative to the record folder; "" at its top
    run: ParsedRun

    @property
    def hardware(self) -> str:
        """ "8x NVIDIA H100 80GB HBM3", from the log's nvidia-smi table; "unknown" without."""
        if self.run.gpu_model is None:
            return "unknown"
        return f"{self.run.gpu_count or 1}x {self.run.gpu_model}"


@dataclass(frozen=True)
class RecordFolder:
    track_dir: str  # "records/track_1_short"
    name: str  # "2024-10-10_Muon", or the file name of a single-file entry
    path: str  # relative to the checkout root
    date: date | None  # from a YYYY-MM-DD name prefix
    is_file: bool
    target_val_loss: float
    runs: tuple[FolderRun, ...]
    statistics_docs: tuple[StatisticsDoc, ...] = ()
    stats: RunStats | None = None  # over every run in the folder
    stats_by_role: dict[str, RunStats] = field(default_factory=dict)
    # by (role, hardware): a record timed on 8xH100 and re-run on 1xH100 is two samples
    stats_by_setup: dict[tuple[str, str], RunStats] = field(default_factory=dict)

    @property
    def run_count(self) -> int:
        return len(self.runs)

    @property
    def final_val_losses(self) -> tuple[float | None, ...]:
        return tuple(r.run.final_val_loss for r in self.runs)

    @property
    def final_train_times_ms(self) -> tuple[float | None, ...]:
        return tuple(r.run.final_train_time_ms for r in self.runs)

    def runs_with_role(self, role: str) -> tuple[FolderRun, ...]:
        return tuple(r for r in self.runs if r.role == role)


def role_of(relative_path: str) -> str:
    """A file's role from its path inside the record folder: any part naming a baseline
    (`baseline/`, `single_gpu_baseline.txt`) makes it "baseline", a `this_pr*` folder makes
    it "this_pr", anything else is a plain "record" run."""
    parts = [p.lower() for p in PurePosixPath(relative_path).parts]
    if any("baseline" in p for p in parts):
        return "baseline"
    if any(p.startswith("this_pr") for p in parts[:-1]):
        return "this_pr"
    return "record"


def scan_records(
    root: str | os.PathLike[str], targets: Mapping[str, float] | None = None
) -> tuple[list[RecordFolder], list[Problem]]:
    """Every record entry under `root/records`, with its parsed runs and statistics.
    `targets` maps a track folder ("records/track_2_medium") to its target val loss."""
    root_path = Path(root)
    folders: list[RecordFolder] = []
    problems: list[Problem] = []
    records = root_path / "records"
    if not records.is_dir():
        return [], [Problem("records", "no records/ folder in the checkout")]
    for track in sorted(p for p in records.iterdir() if p.is_dir()):
        track_dir = track.relative_to(root_path).as_posix()
        target = (targets or {}).get(track_dir, DEFAULT_TARGET_VAL_LOSS)
        for entry in _record_entries(track):
            folders.append(_scan_entry(root_path, track_dir, entry, target, problems))
    return folders, problems


def _record_entries(track: Path) -> list[Path]:
    entries: list[Path] = []
    for child in sorted(track.iterdir()):
        if child.is_dir() and child.name in _CONTAINER_DIRS:
            entries.extend(c for c in sorted(child.iterdir()) if c.is_dir() or _is_log(c))
        elif child.is_dir() or _is_log(child):
            entries.append(child)
    return entries


def _is_log(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in LOG_SUFFIXES


def _scan_entry(
    root: Path, track_dir: str, entry: Path, target: float, problems: list[Problem]
) -> RecordFolder:
    runs: list[FolderRun] = []
    docs: list[StatisticsDoc] = []
    for file in _files_under(entry):
        rel = file.relative_to(root).as_posix()
        inside = file.relative_to(entry).as_posix() if entry.is_dir() else file.name
        if file.name.lower() == "statistics.md":
            _read_statistics(file, rel, docs, problems)
        elif file.suffix.lower() in LOG_SUFFIXES:
            runs.extend(_read_runs(file, rel, inside, problems))
    m = _DATE_PREFIX_RE.match(entry.name)
    return RecordFolder(
        track_dir=track_dir,
        name=entry.name,
        path=entry.relative_to(root).as_posix(),
        date=_make_date(m) if m else None,
        is_file=entry.is_file(),
        target_val_loss=target,
        runs=tuple(runs),
        statistics_docs=tuple(docs),
        stats=_stats(runs, target) if runs else None,
        stats_by_role={
            role: _stats([r for r in runs if r.role == role], target)
            for role in sorted({r.role for r in runs})
        },
        stats_by_setup={
            key: _stats([r for r in runs if (r.role, r.hardware) == key], target)
            for key in sorted({(r.role, r.hardware) for r in runs})
        },
    )


def _files_under(entry: Path) -> list[Path]:
    if entry.is_file():
        return [entry]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(entry):
        dirnames.sort()
        found.extend(Path(dirpath) / name for name in sorted(filenames))
    return found


def _read_runs(file: Path, rel: str, inside: str, problems: list[Problem]) -> list[FolderRun]:
    try:
        parsed = parse_log_file(file)
    except LogParseError as exc:
        problems.append(Problem(rel, exc.reason))
        return []
    except OSError as exc:
        problems.append(Problem(rel, f"cannot read: {exc.strerror or exc}"))
        return []
    subfolder = PurePosixPath(inside).parent.as_posix()
    role = role_of(inside)
    return [
        FolderRun(rel, role, "" if subfolder == "." else subfolder, run)
        for run in _relabel(parsed, rel)
    ]


def _relabel(runs: list[ParsedRun], rel: str) -> list[ParsedRun]:
    """Name runs by their checkout-relative path rather than the absolute one."""
    if len(runs) == 1:
        return [replace(runs[0], source=rel)]
    return [replace(run, source=f"{rel}#run{i}") for i, run in enumerate(runs, start=1)]


def _read_statistics(
    file: Path, rel: str, docs: list[StatisticsDoc], problems: list[Problem]
) -> None:
    try:
        text = file.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        problems.append(Problem(rel, f"cannot read: {exc.strerror or exc}"))
        return
    docs.append(parse_statistics_md(text, path=rel))


def _stats(runs: list[FolderRun], target: float) -> RunStats:
    return summarize(
        [r.run.final_val_loss for r in runs],
        [r.run.final_train_time_ms for r in runs],
        target_val_loss=target,
    )


def _make_date(m: re.Match[str]) -> date | None:
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
