"""Writing a snapshot's files: atomically (beside the final name, then renamed), only when
the bytes changed (so a host's ETag and Last-Modified stay put for unchanged pages), with
the compressed copies written before the file itself, and every path remembered so that a
build can delete what it no longer produces.

Paths are relative (`web.publish.layout`); anything that would leave the snapshot's folder
is refused. Names starting with a dot are the publisher's own (state, lock, marker) and are
never pruned.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from web.publish.compress import compressed

COPY_SUFFIXES = (".gz", ".br")


class SnapshotWriter:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.kept: set[PurePosixPath] = set()  # produced by this build (written or unchanged)
        self.changed: set[PurePosixPath] = set()  # written because new or different

    def target(self, rel: PurePosixPath) -> Path:
        path = (self.root / rel).resolve()
        if rel.is_absolute() or self.root not in path.parents:
            raise ValueError(f"{rel} lies outside the snapshot")
        return path

    def exists(self, rel: PurePosixPath) -> bool:
        return self.target(rel).is_file()

    def write(self, rel: PurePosixPath, data: bytes, *, compress: bool) -> bool:
        """Put `data` at `rel` (and its compressed copies); True when anything was written."""
        path = self.target(rel)
        self.kept.add(rel)
        if _same(path, data) and _copies_settled(path):
            return False
        copies = compressed(data) if compress else {}
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in COPY_SUFFIXES:
            if suffix in copies:
                _replace(_sibling(path, suffix), copies[suffix])
            else:
                _sibling(path, suffix).unlink(missing_ok=True)
        _replace(path, data)
        self.changed.add(rel)
        return True

    def link(self, rel: PurePosixPath, existing: PurePosixPath) -> None:
        """`rel` as a second name of the file `existing` (a hard link; a copy where links
        cannot be made), e.g. a bundle's live URL and its place among the open data."""
        path, source = self.target(rel), self.target(existing)
        self.kept.add(rel)
        if path.exists() and os.path.samefile(path, source):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp(path)
        try:
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self.changed.add(rel)

    def adopt(self, rel: PurePosixPath) -> None:
        """A file written by someone else (the open data) that this build produced."""
        self.kept.add(rel)

    def remove(self, rel: PurePosixPath) -> None:
        path = self.target(rel)
        for p in (path, *(_sibling(path, s) for s in COPY_SUFFIXES)):
            p.unlink(missing_ok=True)

    def prune(self, keep: Callable[[PurePosixPath], bool] = lambda rel: False) -> int:
        """Delete every file this build did not produce (and its copies), except the
        publisher's own dot-files and what `keep` spares; the number deleted."""
        removed = 0
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                rel = PurePosixPath(Path(folder, name).relative_to(self.root).as_posix())
                if name.startswith(".") or rel in self.kept or keep(rel):
                    continue
                if rel.suffix in COPY_SUFFIXES and rel.with_suffix("") in self.kept:
                    continue
                Path(folder, name).unlink()
                removed += 1
        return removed


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _same(path: Path, data: bytes) -> bool:
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _copies_settled(path: Path) -> bool:
    """The copies beside `path` were written with it: each is written before the file, so
    one newer than the file is left from a write that never finished."""
    written_ns = path.stat().st_mtime_ns
    for suffix in COPY_SUFFIXES:
        try:
            if _sibling(path, suffix).stat().st_mtime_ns > written_ns:
                return False
        except FileNotFoundError:
            continue
    return True


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _replace(path: Path, data: bytes) -> None:
    tmp = _tmp(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
