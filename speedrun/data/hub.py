"""Download a hub dataset's shards (FineWeb GPT-2 tokens) into the data folder, verified.

The files are those of modded-nanogpt's `data/cached_fineweb10B.py`: `fineweb_val_000000.bin`
and `fineweb_train_%06d.bin` for 1..N, from the dataset repo at the track's pinned revision.
`huggingface_hub` does the transfer (it honours `HF_ENDPOINT`, shows the progress bar, and
resumes a dropped connection with a `Range` request), straight into the data folder
(`local_dir`). Every file is then hashed and compared with the sha256 the hub reports for it
(an LFS file's `X-Linked-Etag`) and checked to be a valid shard. A file that fails is deleted,
together with huggingface_hub's record of it and any copy in its cache, so nothing bad is ever
left in place looking good. A file already present that matches its digest in SHA256SUMS.json
is "verified" without touching the network; one present but unrecorded (e.g. fetched by
modded-nanogpt's script) is verified against the hub's sha256 instead of downloaded again.

Resume: within a download, huggingface_hub retries a broken transfer from where it stopped
(`Range: bytes=N-`); across runs, every finished shard is recorded as it lands, so an
interrupted fetch restarts at the first missing shard (huggingface_hub discards the partial
file of the shard it was in).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub import try_to_load_from_cache as find_in_hf_cache
from tqdm import tqdm

from speedrun.data import shards
from speedrun.data.sums import FetchedFile, read_sums, write_sums
from speedrun.errors import DataError, IntegrityError, UsageError
from speedrun.tracks import Dataset

_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")


class _QuietBar(tqdm):  # type: ignore[misc]  # tqdm ships no type information
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


def _network_errors() -> tuple[type[BaseException], ...]:
    """Errors a transfer can end in. huggingface_hub's own are OSErrors (so are `requests`');
    its HTTP client differs between versions (requests, httpx, httpx2), so take whichever."""
    found: list[type[BaseException]] = [OSError, ValueError]
    for module in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(module).HTTPError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def hub_file_names(dataset: Dataset, train_shards: int | None = None) -> list[str]:
    """The val shard, then train shards 1..N (N = train_shards, default all of them)."""
    n = dataset.train_shards if train_shards is None else train_shards
    if not 0 <= n <= dataset.train_shards:
        raise UsageError(
            f"--train-shards must be between 0 and {dataset.train_shards} for {dataset.source}"
        )
    return [dataset.val_file.name] + [dataset.train_name(i) for i in range(1, n + 1)]


class HubDownloader:
    """Fetches and verifies single files of one dataset into one folder."""

    def __init__(
        self,
        dataset: Dataset,
        folder: Path,
        *,
        progress: bool = True,
        endpoint: str | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.dataset, self.folder = dataset, folder
        self.endpoint, self.cache_dir = endpoint, cache_dir
        self.bar_class: type[Any] = tqdm if progress else _QuietBar
        self.pins = {f.name: f.sha256 for f in (dataset.val_file, *dataset.train_files) if f.sha256}

    def fetch(self, name: str) -> FetchedFile:
        path = self.folder / name
        present = shards.sha256_file(path) if path.is_file() else None
        if present is not None and present == read_sums(self.folder).get(name):
            return self._accept(name, present, present, "verified")  # recorded: no network
        expected = self.hub_sha256(name)  # a network failure here deletes nothing
        if present == expected:
            return self._accept(name, expected, present, "verified")
        self.forget_local(name)  # absent, stale or corrupt: never let huggingface_hub reuse it
        try:
            self._download(name)
        except BaseException:  # incl. Ctrl-C; huggingface_hub removes its partial file
            self.forget_local(name)
            raise
        return self._accept(name, expected, shards.sha256_file(path), "downloaded")

    def hub_sha256(self, name: str) -> str:
        """The sha256 the hub reports for an LFS file at the pinned revision (HEAD request)."""
        d = self.dataset
        url = hf_hub_url(
            d.source, name, repo_type=d.repo_type, revision=d.revision, endpoint=self.endpoint
        )
        try:
            meta = get_hf_file_metadata(url, endpoint=self.endpoint)
        except _network_errors() as exc:
            raise DataError(f"{name}: no metadata from {url}: {_one_line(exc)}") from exc
        if _COMMIT.fullmatch(d.revision) and meta.commit_hash != d.revision:
            raise DataError(f"{name}: hub answered for commit {meta.commit_hash}, not {d.revision}")
        sha = (meta.etag or "").lower()
        if not _SHA256.fullmatch(sha):
            raise DataError(f"{name}: the hub reports no LFS sha256 for it (ETag {meta.etag!r})")
        pinned = self.pins.get(name)
        if pinned and pinned != sha:
            raise IntegrityError(url, pinned, sha)
        return sha

    def forget_local(self, name: str) -> None:
        """Remove a file from the data folder, with every record that vouches for it."""
        (self.folder / name).unlink(missing_ok=True)
        # huggingface_hub's record of a local_dir download (see hf_hub_download's docstring):
        # with it, huggingface_hub returns the file without a look at its content.
        (self.folder / ".cache" / "huggingface" / "download" / f"{name}.metadata").unlink(
            missing_ok=True
        )
        sums = read_sums(self.folder)
        if sums.pop(name, None) is not None:
            write_sums(self.folder, sums)

    def discard(self, name: str) -> None:
        """Remove a file that failed verification: here, and in huggingface_hub's cache, from
        which huggingface_hub would otherwise copy the same bad bytes next time."""
        self.forget_local(name)
        d = self.dataset
        cached = find_in_hf_cache(
            d.source, name, cache_dir=self.cache_dir, revision=d.revision, repo_type=d.repo_type
        )
        if isinstance(cached, str):  # snapshot symlink -> blob; both go
            Path(cached).resolve().unlink(missing_ok=True)
            Path(cached).unlink(missing_ok=True)

    def _download(self, name: str) -> None:
        d = self.dataset
        try:
            hf_hub_download(
                d.source,
                name,
                repo_type=d.repo_type,
                revision=d.revision,
                local_dir=self.folder,
                cache_dir=self.cache_dir,
                endpoint=self.endpoint,
                tqdm_class=self.bar_class,
            )
        except _network_errors() as exc:
            raise DataError(
                f"{name}: download from {d.source}@{d.revision} failed: {_one_line(exc)}"
            ) from exc

    def _accept(self, name: str, expected: str, actual: str, action: str) -> FetchedFile:
        """Keep and record a file whose sha256 is `expected` and which is a valid shard;
        remove anything else and raise IntegrityError or ShardError naming the file."""
        path = self.folder / name
        try:
            if actual != expected:
                raise IntegrityError(str(path), expected, actual)
            shards.read_header(path)
        except DataError:
            self.discard(name)
            raise
        sums = read_sums(self.folder)
        if sums.get(name) != actual:  # record each shard as it lands: a rerun starts after it
            write_sums(self.folder, {**sums, name: actual})
        return FetchedFile(name, path, actual, path.stat().st_size, action)


def fetch_hub_dataset(
    dataset: Dataset,
    folder: Path,
    *,
    train_shards: int | None = None,
    progress: bool = True,
    endpoint: str | None = None,
    cache_dir: Path | None = None,
) -> list[FetchedFile]:
    """Download (or verify) the val shard and N train shards into `folder`.

    `endpoint` and `cache_dir` default to huggingface_hub's (`HF_ENDPOINT`, `HF_HOME`).
    Raises IntegrityError or ShardError (naming the file) for a bad file, which is removed.
    """
    names = hub_file_names(dataset, train_shards)
    folder.mkdir(parents=True, exist_ok=True)
    downloader = HubDownloader(
        dataset, folder, progress=progress, endpoint=endpoint, cache_dir=cache_dir
    )
    return [downloader.fetch(name) for name in names]
