"""runner.trackdata: a track's data made ready for a session (shards present and hashed,
validation split, no held-out commitment without a secret), and a tampered shard rebuilt
rather than used."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from runner.trackdata import prepare_track_data
from runner.workspace import SLICE_FILE
from speedrun.data import shards
from speedrun.data.sums import read_sums
from speedrun.tracks import get_track

TRACK = get_track("cpu-smoke")


def test_public_data_is_listed_hashed_and_split(smoke_data_dir: Path, tmp_path: Path) -> None:
    data = prepare_track_data(TRACK, smoke_data_dir, tmp_path / "session", progress=False)
    assert data.train_files and all(p.is_file() for p in data.train_files)
    assert data.val_file not in data.train_files
    assert data.val_file.name == TRACK.dataset.val_file.name
    assert data.sha256 == read_sums(data.folder)
    assert data.sha256[data.val_file.name] == shards.sha256_file(data.val_file)
    assert data.derived.slice_file == tmp_path / "session" / "derived" / SLICE_FILE
    assert len(shards.read_shard(data.derived.slice_file)) == TRACK.dataset.val_tokens + 1
    assert data.private_slice is None and data.held_out == {"kind": "none"}


def test_a_tampered_train_shard_is_rebuilt_not_used(smoke_data_dir: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(smoke_data_dir, data_dir)
    folder = data_dir / TRACK.dataset.name
    pinned = read_sums(folder)
    victim = folder / min(n for n in pinned if n != TRACK.dataset.val_file.name)
    shards.write_shard(victim, np.zeros(100, dtype=np.uint16))
    assert shards.sha256_file(victim) != pinned[victim.name]
    data = prepare_track_data(TRACK, data_dir, tmp_path / "session", progress=False)
    assert data.sha256 == pinned
    assert shards.sha256_file(victim) == pinned[victim.name]
