"""Get a track's data into a directory: build synthetic shards, or download hub shards.

The directory layout is `<data_dir>/<dataset.name>/<file>`, plus `SHA256SUMS.json` recording
the digest of every file fetched or built, which runs copy into their fingerprint. A file is
only ever moved into place after its digest checked out.

With a held-out secret (speedrun.data.heldout), a synthetic track is built from the secret instead
of its public seeds, into `<data_dir>/<dataset.name>-<secret id>/`, with a private slice
beside the validation shard; such files have no public pins, so the digests recorded when
they were built are what a later fetch checks them against.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from speedrun.data import shards, synth
from speedrun.data.heldout import HeldOutSecret
from speedrun.data.sums import FetchedFile, read_sums, write_sums
from speedrun.errors import DataError, IntegrityError
from speedrun.tracks import DataFile, Dataset, Track

PRIVATE_FILE = "private_slice.bin"  # the held-out slice of a secret-language build
DATA_DIR_ENV = "SPEEDRUN_DATA_DIR"


def default_data_dir() -> Path:
    """`$SPEEDRUN_DATA_DIR`, else `./data`."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


def dataset_dir(dataset: Dataset, data_dir: Path) -> Path:
    return data_dir / dataset.name


def synth_spec(dataset: Dataset) -> dict[str, int]:
    if not dataset.synth:
        raise DataError(f"dataset {dataset.name} has no [dataset.synth] settings")
    return dataset.synth


@dataclass(frozen=True)
class _Planned:
    file: DataFile
    seed: int
    n_tokens: int


def _synthetic_plan(
    dataset: Dataset, secret: HeldOutSecret | None, private_tokens: int
) -> tuple[synth.LanguageSpec, list[_Planned]]:
    """The language and the (file, seed, size) of every shard; from the secret when given."""
    spec = synth_spec(dataset)
    files = [dataset.val_file, *dataset.train_files]
    sizes = [spec["val_shard_tokens"]] + [spec["train_shard_tokens"]] * len(dataset.train_files)
    if secret is None:
        seeds = [spec["val_seed"]] + [spec["train_seed"] + 1000 * i for i in range(len(sizes) - 1)]
        plan = [_Planned(f, seed, n) for f, seed, n in zip(files, seeds, sizes, strict=True)]
        return synth.LanguageSpec(), plan
    label = f"{dataset.name}/{dataset.revision}"
    language = replace(synth.LanguageSpec(), grammar_seed=secret.seed(f"{label}/grammar"))
    plan = [
        _Planned(DataFile(f.name, f.tokens), secret.seed(f"{label}/{f.name}"), n)
        for f, n in zip(files, sizes, strict=True)
    ]
    if private_tokens:
        private = DataFile(PRIVATE_FILE, private_tokens + 1)
        plan.append(_Planned(private, secret.seed(f"{label}/{PRIVATE_FILE}"), private_tokens + 1))
    return language, plan


def build_synthetic(
    dataset: Dataset,
    folder: Path,
    *,
    secret: HeldOutSecret | None = None,
    private_tokens: int = 0,
) -> list[FetchedFile]:
    """Build (or verify) the shards of a synthetic dataset: the pinned public build, or the
    secret's own (checked against the digests recorded when it was built)."""
    language, plan = _synthetic_plan(dataset, secret, private_tokens)
    recorded = read_sums(folder) if secret is not None else {}
    out = []
    for item in plan:
        name, path = item.file.name, folder / item.file.name
        expected = item.file.sha256 or recorded.get(name)
        if path.exists() and expected and shards.sha256_file(path) == expected:
            out.append(FetchedFile(name, path, expected, path.stat().st_size, "verified"))
            continue
        built = synth.generate(language, item.n_tokens, seed=item.seed)
        # Per-process names: agents on one host may build the same data dir at once (each
        # build is deterministic, so whichever replace lands last puts the same bytes).
        tmp = folder / f"{name}.{os.getpid()}.building"
        digest = shards.write_shard(tmp, built.tokens)
        if item.file.sha256 and digest != item.file.sha256:
            tmp.unlink()
            raise IntegrityError(str(path), item.file.sha256, digest)
        os.replace(tmp, path)
        out.append(FetchedFile(name, path, digest, path.stat().st_size, "built"))
    return out


def dataset_folder(track: Track, data_dir: Path, secret: HeldOutSecret | None) -> Path:
    """Where a track's files live: a secret-language build has a folder of its own."""
    folder = dataset_dir(track.dataset, data_dir)
    if secret is not None and track.evaluation.held_out == "secret-language":
        return folder.with_name(f"{folder.name}-{secret.short_id}")
    return folder


def fetch_track_data(
    track: Track,
    data_dir: Path,
    *,
    train_shards: int | None = None,
    progress: bool = True,
    secret: HeldOutSecret | None = None,
) -> list[FetchedFile]:
    """Make the track's data present and verified under `data_dir`; record digests. With a
    held-out secret, a secret-language track is built from it (private slice included)."""
    dataset = track.dataset
    folder = dataset_folder(track, data_dir, secret)
    folder.mkdir(parents=True, exist_ok=True)
    if dataset.kind == "synthetic":
        use_secret = secret if track.evaluation.held_out == "secret-language" else None
        fetched = build_synthetic(
            dataset,
            folder,
            secret=use_secret,
            private_tokens=track.evaluation.private_slice_tokens if use_secret else 0,
        )
    else:
        from speedrun.data import hub  # huggingface_hub is imported only for hub tracks

        fetched = hub.fetch_hub_dataset(
            dataset, folder, train_shards=train_shards, progress=progress
        )
    sums = read_sums(folder)
    sums.update({f.name: f.sha256 for f in fetched})
    write_sums(folder, sums)
    return fetched
