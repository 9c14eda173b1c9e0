"""Scan a whole modded-nanogpt checkout: README tables, record folders, and their matches.

`scan_checkout(path)` is pure parsing (no database): it reads `README.md`, every
`records/<track>/README.md` that holds a record table (the optimization track's), and every
log under `records/`. Problems (unreadable files, missing READMEs, unreadable table rows)
are collected in `HistoryScan.problems`; nothing short of a missing checkout raises.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from speedrun.errors import UsageError
from speedrun.history.matching import RowMatch, match_rows
from speedrun.history.readme import TrackTable, parse_readme
from speedrun.history.records import Problem, RecordFolder, scan_records

__all__ = ["HistoryScan", "scan_checkout"]


@dataclass(frozen=True)
class HistoryScan:
    root: str
    tracks: tuple[TrackTable, ...]
    folders: tuple[RecordFolder, ...]
    matches: tuple[RowMatch, ...]
    problems: tuple[Problem, ...]

    def track(self, name: str) -> TrackTable:
        """The table of a track by name ("main", "medium", "optimization")."""
        for table in self.tracks:
            if table.track == name:
                return table
        raise KeyError(name)

    def folder(self, path: str) -> RecordFolder:
        """A record entry by its checkout-relative path."""
        for folder in self.folders:
            if folder.path == path:
                return folder
        raise KeyError(path)

    def matches_for(self, track: str) -> tuple[RowMatch, ...]:
        return tuple(m for m in self.matches if m.row.track == track)


def scan_checkout(path: str | os.PathLike[str]) -> HistoryScan:
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory (expected a modded-nanogpt checkout)")
    tracks, problems = _read_tables(root)
    targets = {
        t.records_dir: t.target_val_loss
        for t in tracks
        if t.records_dir is not None and t.target_val_loss is not None
    }
    folders, folder_problems = scan_records(root, targets)
    return HistoryScan(
        root=str(root),
        tracks=tuple(tracks),
        folders=tuple(folders),
        matches=tuple(match_rows(tracks, folders)),
        problems=tuple(problems + folder_problems),
    )


def _read_tables(root: Path) -> tuple[list[TrackTable], list[Problem]]:
    tables: list[TrackTable] = []
    problems: list[Problem] = []
    readmes = [root / "README.md", *sorted((root / "records").glob("*/README.md"))]
    for readme in readmes:
        rel = readme.relative_to(root).as_posix()
        try:
            text = readme.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            if readme == root / "README.md":
                problems.append(Problem(rel, f"cannot read: {exc.strerror or exc}"))
            continue
        base_dir = readme.parent.relative_to(root).as_posix()
        found = parse_readme(text, base_dir="" if base_dir == "." else base_dir)
        tables.extend(found)
        problems.extend(Problem(rel, p) for t in found for p in t.problems)
    if not any(t.track == "main" for t in tables):
        problems.append(Problem("README.md", "no main-track record table found"))
    return tables, problems
