"""A track's data made ready for a session: present, hashed, and split for the sandbox.

`fetch_track_data` builds (synthetic) or downloads and verifies (hub) the shards; every file
a run can see is hashed there, and the digests go into each bundle's fingerprint. The
validation shard is split once per session into the evaluator's slice and the variant's dev
tail (runner.workspace.derive_val_files).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner.workspace import DerivedData, derive_val_files
from speedrun.datafetch import fetch_track_data
from speedrun.errors import DataError
from speedrun.tracks import Track


@dataclass(frozen=True)
class TrackData:
    folder: Path  # <data_dir>/<dataset.name>: every file, for legacy variants
    train_files: tuple[Path, ...]
    val_file: Path
    sha256: dict[str, str]  # file name -> digest, for the fingerprint
    derived: DerivedData


def prepare_track_data(
    track: Track,
    data_dir: Path,
    session_dir: Path,
    *,
    progress: bool,
    train_shards: int | None = None,
) -> TrackData:
    """`train_shards` limits a hub dataset to its first N train shards (default: all)."""
    # Absolute paths: the variant's process (a local subprocess, or the engine's bind mounts)
    # does not start in this process's working directory, so a relative `data` would miss.
    data_dir = data_dir.resolve()
    fetched = fetch_track_data(track, data_dir, train_shards=train_shards, progress=progress)
    by_name = {f.name: f for f in fetched}
    dataset = track.dataset
    if dataset.val_file.name not in by_name:
        raise DataError(f"{dataset.name}: validation shard {dataset.val_file.name} missing")
    train = sorted((f for f in fetched if f.name != dataset.val_file.name), key=lambda f: f.name)
    if not train:
        raise DataError(f"{dataset.name}: no training shards in {data_dir}")
    val_path = by_name[dataset.val_file.name].path
    return TrackData(
        folder=val_path.parent,
        train_files=tuple(f.path for f in train),
        val_file=val_path,
        sha256={f.name: f.sha256 for f in fetched},
        derived=derive_val_files(track, val_path, session_dir / "derived"),
    )
