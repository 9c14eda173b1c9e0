"""Get a track's data into a directory: build synthetic shards, or download hub shards.

The directory layout is `<data_dir>/<dataset.name>/<file>`, plus `SHA256SUMS.json` recording
the digest of every file fetched or built, which runs copy into their fingerprint. A file is
only ever moved into place after its digest checked out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from speedrun import corpus, shards
from speedrun.errors import DataError, IntegrityError
from speedrun.tracks import Dataset, Track

SUMS_FILE = "SHA256SUMS.json"
DATA_DIR_ENV = "SPEEDRUN_DATA_DIR"


def default_data_dir() -> Path:
    """`$SPEEDRUN_DATA_DIR`, else `./data`."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


@dataclass(frozen=True)
class FetchedFile:
    name: str
    path: Path
    sha256: str
    size_bytes: int
    action: str  # "built", "downloaded", "verified"


def dataset_dir(dataset: Dataset, data_dir: Path) -> Path:
    return data_dir / dataset.name


def read_sums(folder: Path) -> dict[str, str]:
    path = folder / SUMS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable checksum file ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DataError(f"{path}: checksum file must map file names to sha256 strings")
    return {str(k): v for k, v in data.items()}


def write_sums(folder: Path, sums: dict[str, str]) -> None:
    tmp = folder / f"{SUMS_FILE}.{os.getpid()}.partial"
    tmp.write_text(json.dumps(dict(sorted(sums.items())), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / SUMS_FILE)


def synth_spec(dataset: Dataset) -> dict[str, int]:
    if not dataset.synth:
        raise DataError(f"dataset {dataset.name} has no [dataset.synth] settings")
    return dataset.synth


def build_synthetic(dataset: Dataset, folder: Path) -> list[FetchedFile]:
    """Build (or verify) the pinned shards of a synthetic dataset."""
    spec = synth_spec(dataset)
    language = corpus.LanguageSpec()
    plan = [(dataset.val_file, spec["val_seed"], spec["val_shard_tokens"])]
    plan += [
        (f, spec["train_seed"] + 1000 * i, spec["train_shard_tokens"])
        for i, f in enumerate(dataset.train_files)
    ]
    out = []
    for pinned, seed, n_tokens in plan:
        path = folder / pinned.name
        if path.exists() and pinned.sha256 and shards.sha256_file(path) == pinned.sha256:
            out.append(
                FetchedFile(pinned.name, path, pinned.sha256, path.stat().st_size, "verified")
            )
            continue
        built = corpus.generate(language, n_tokens, seed=seed)
        # Per-process names: agents on one host may build the same data dir at once (each
        # build is deterministic, so whichever replace lands last puts the same bytes).
        tmp = folder / f"{pinned.name}.{os.getpid()}.building"
        digest = shards.write_shard(tmp, built.tokens)
        if pinned.sha256 and digest != pinned.sha256:
            tmp.unlink()
            raise IntegrityError(str(path), pinned.sha256, digest)
        os.replace(tmp, path)
        out.append(FetchedFile(pinned.name, path, digest, path.stat().st_size, "built"))
    return out


def fetch_track_data(
    track: Track, data_dir: Path, *, train_shards: int | None = None, progress: bool = True
) -> list[FetchedFile]:
    """Make the track's data present and verified under `data_dir`; record digests."""
    dataset = track.dataset
    folder = dataset_dir(dataset, data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if dataset.kind == "synthetic":
        fetched = build_synthetic(dataset, folder)
    else:
        from speedrun import hubdata  # huggingface_hub is imported only for hub tracks

        fetched = hubdata.fetch_hub_dataset(
            dataset, folder, train_shards=train_shards, progress=progress
        )
    sums = read_sums(folder)
    sums.update({f.name: f.sha256 for f in fetched})
    write_sums(folder, sums)
    return fetched
