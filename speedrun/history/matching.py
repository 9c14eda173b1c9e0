"""Match README record rows to the record folders and runs they link to (best effort).

Links rot: folders were renamed, files moved, some rows link only a PR or nothing. Each
row gets the strongest match found, and `how` says which rule found it:

    file          a linked log file exists; `runs` are that file's runs
    folder        a linked folder (or sub-folder) exists; `runs` are the runs under it
    file-missing  the linked file is gone but its folder exists; `runs` are the folder's
    moved         the linked file's name (a run uuid) exists elsewhere in the track
    renamed       the linked folder is gone; one in the same track has its date prefix
    row-date      no usable link; the only folder in the track dated as the row
    no-log        no link to a log, and no folder by date
    missing       links, but nothing they point to exists in this checkout
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

from speedrun.history.readme import RecordRow, TrackTable
from speedrun.history.records import FolderRun, RecordFolder
from speedrun.history.stats import RunStats, summarize

__all__ = ["RowMatch", "match_rows"]

_DATE_PREFIX_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class RowMatch:
    row: RecordRow
    folder: RecordFolder | None
    how: str
    runs: tuple[FolderRun, ...] = ()
    detail: str = ""

    def measured(self, target_val_loss: float) -> RunStats | None:
        """Statistics over the matched runs' final losses and times."""
        if not self.runs:
            return None
        return summarize(
            [r.run.final_val_loss for r in self.runs],
            [r.run.final_train_time_ms for r in self.runs],
            target_val_loss=target_val_loss,
        )

    def at_claimed_steps(self, target_val_loss: float) -> RunStats | None:
        """For step-count claims (optimization track): the val loss of each matched run at
        the claimed step, which may come before the run's last step."""
        if self.row.steps is None or not self.runs:
            return None
        losses = [_val_loss_at(r, self.row.steps) for r in self.runs]
        return summarize(losses, [], target_val_loss=target_val_loss)


def match_rows(tables: Sequence[TrackTable], folders: Sequence[RecordFolder]) -> list[RowMatch]:
    index = _Index(folders)
    return [index.match(row, table.records_dir) for table in tables for row in table.rows]


def _val_loss_at(run: FolderRun, step: int) -> float | None:
    return next((p.val_loss for p in run.run.val_points if p.step == step), None)


class _Index:
    def __init__(self, folders: Sequence[RecordFolder]) -> None:
        self.folders = list(folders)
        self.by_path = {f.path: f for f in folders}
        self.runs_by_file: dict[str, list[FolderRun]] = {}
        self.folder_of_file: dict[str, RecordFolder] = {}
        for folder in folders:
            for run in folder.runs:
                self.runs_by_file.setdefault(run.path, []).append(run)
                self.folder_of_file[run.path] = folder

    def match(self, row: RecordRow, records_dir: str | None) -> RowMatch:
        for path in row.log_paths:
            found = self._by_link(row, path)
            if found is not None:
                return found
        if row.log_paths:
            return RowMatch(row, None, "missing", detail=", ".join(row.log_paths))
        return self._by_row_date(row, records_dir)

    def _by_link(self, row: RecordRow, path: str) -> RowMatch | None:
        if path in self.runs_by_file:
            return RowMatch(row, self.folder_of_file[path], "file", tuple(self.runs_by_file[path]))
        for folder in self.folders:
            if path == folder.path or path.startswith(folder.path + "/"):
                return self._inside(row, folder, path)
        return self._moved(row, path) or self._renamed(row, path)

    def _inside(self, row: RecordRow, folder: RecordFolder, path: str) -> RowMatch:
        under = tuple(r for r in folder.runs if r.path.startswith(path + "/"))
        if path == folder.path or under:
            return RowMatch(row, folder, "folder", under or folder.runs)
        return RowMatch(row, folder, "file-missing", folder.runs, detail=f"{path} not found")

    def _moved(self, row: RecordRow, path: str) -> RowMatch | None:
        name = posixpath.basename(path)
        track = "/".join(path.split("/")[:2])
        hits = [p for p in self.runs_by_file if posixpath.basename(p) == name]
        hits = [p for p in hits if p.startswith(track + "/")] or hits
        if len(hits) != 1 or "." not in name:
            return None
        folder = self.folder_of_file[hits[0]]
        return RowMatch(
            row, folder, "moved", tuple(self.runs_by_file[hits[0]]), f"{path} -> {hits[0]}"
        )

    def _renamed(self, row: RecordRow, path: str) -> RowMatch | None:
        parts = path.split("/")
        if len(parts) < 3 or not (m := _DATE_PREFIX_RE.match(parts[2])):
            return None
        track_dir = "/".join(parts[:2])
        same_day = [
            f for f in self.folders if f.track_dir == track_dir and f.name.startswith(m.group(0))
        ]
        if not same_day:
            return None
        best = max(same_day, key=lambda f: difflib.SequenceMatcher(None, f.name, parts[2]).ratio())
        return RowMatch(row, best, "renamed", best.runs, detail=f"{path} -> {best.path}")

    def _by_row_date(self, row: RecordRow, records_dir: str | None) -> RowMatch:
        dated = [f for f in self.folders if f.track_dir == records_dir and f.date == row.date]
        if row.date is not None and len(dated) == 1:
            return RowMatch(row, dated[0], "row-date", dated[0].runs)
        return RowMatch(row, None, "no-log", detail=row.log_cell)
