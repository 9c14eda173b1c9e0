"""A track's data made ready for a session: present, hashed, and split for the sandbox.

`fetch_track_data` builds (synthetic) or downloads and verifies (hub) the shards; every file
a run can see is hashed there, and the digests go into each bundle's fingerprint. The
validation shard is split once per session into the evaluator's slice and the variant's dev
tail (runner.workspace.derive_val_files).

With the deployment's held-out secret (speedrun.data.heldout) a held-out track gets its private
slice too (built from the secret, or the deployment's file for a private-slice track), and
`held_out` is the bundle's commitment to both slices. Without it, a held-out track runs on
public data and its runs are marked so (they never count toward records).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.workspace import DerivedData, derive_val_files
from speedrun.data import shards
from speedrun.data.fetch import PRIVATE_FILE, fetch_track_data
from speedrun.data.heldout import HeldOutSecret
from speedrun.errors import DataError
from speedrun.tracks import Track


@dataclass(frozen=True)
class TrackData:
    folder: Path  # <data_dir>/<dataset.name>: every file, for legacy variants
    train_files: tuple[Path, ...]
    val_file: Path
    sha256: dict[str, str]  # file name -> digest, for the fingerprint
    derived: DerivedData
    private_slice: Path | None = None  # held-out tokens only the evaluator sees
    held_out: dict[str, Any] = field(default_factory=lambda: {"kind": "none"})


def prepare_track_data(
    track: Track,
    data_dir: Path,
    session_dir: Path,
    *,
    progress: bool,
    train_shards: int | None = None,
    secret: HeldOutSecret | None = None,
) -> TrackData:
    """`train_shards` limits a hub dataset to its first N train shards (default: all)."""
    # Absolute paths: the variant's process (a local subprocess, or the engine's bind mounts)
    # does not start in this process's working directory, so a relative `data` would miss.
    data_dir = data_dir.resolve()
    fetched = fetch_track_data(
        track, data_dir, train_shards=train_shards, progress=progress, secret=secret
    )
    by_name = {f.name: f for f in fetched}
    dataset = track.dataset
    if dataset.val_file.name not in by_name:
        raise DataError(f"{dataset.name}: validation shard {dataset.val_file.name} missing")
    held = {dataset.val_file.name, PRIVATE_FILE}  # never handed to training
    train = sorted((f for f in fetched if f.name not in held), key=lambda f: f.name)
    if not train:
        raise DataError(f"{dataset.name}: no training shards in {data_dir}")
    val_path = by_name[dataset.val_file.name].path
    derived = derive_val_files(track, val_path, session_dir / "derived")
    private = _private_slice(track, secret, by_name.get(PRIVATE_FILE))
    return TrackData(
        folder=val_path.parent,
        train_files=tuple(f.path for f in train),
        val_file=val_path,
        sha256={f.name: f.sha256 for f in fetched if f.name != PRIVATE_FILE},
        derived=derived,
        private_slice=private,
        held_out=_held_out_block(track, secret, derived, private),
    )


def _private_slice(track: Track, secret: HeldOutSecret | None, built: Any) -> Path | None:
    kind = track.evaluation.held_out
    if secret is None or kind == "none":
        return None
    if kind == "secret-language":
        if built is None:
            raise DataError(f"{track.key}: the secret build made no private slice")
        return Path(built.path)
    path = secret.private_slice_file(track.dataset.name)
    if path is None or not path.is_file():
        raise DataError(f"{track.key}: this deployment holds no private slice at {path}")
    need = track.evaluation.private_slice_tokens + 1
    if len(shards.read_shard(path)) < need:
        raise DataError(f"{path}: a private slice of at least {need} tokens is needed")
    return path


def _held_out_block(
    track: Track, secret: HeldOutSecret | None, derived: DerivedData, private: Path | None
) -> dict[str, Any]:
    """The bundle's commitment: which secret, and the sha256 of both slices scored."""
    if secret is None or private is None:
        return {"kind": "none"}
    return {
        "kind": track.evaluation.held_out,
        "commitment": secret.commitment,
        "scored_sha256": shards.sha256_file(derived.slice_file),
        "private_sha256": shards.sha256_file(private),
    }
