"""Hand-made bundle archives for hostile-input tests and the soak benchmark: a gzip'd tar of
chosen members, the members of a real bundle (to tamper with), and a GNU sparse-file bomb."""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
from pathlib import Path


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A gzip'd PAX tar holding `files` (name -> bytes), in order, byte for byte repeatable."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def members(data: bytes) -> dict[str, bytes]:
    """The members of a (trusted, test-made) bundle."""
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)), mode="r:") as tar:
        return {i.name: tar.extractfile(i).read() for i in tar}  # type: ignore[union-attr]


def sparse_bomb(folder: Path) -> bytes:
    """GNU tar's sparse format: a 4 GiB manifest.json of holes in about 100 bytes, which
    `tarfile` would fill out when reading it."""
    big = folder / "manifest.json"
    with open(big, "wb") as f:
        f.truncate(4 * 1024**3)
    archive = folder / "bomb.tar.gz"
    subprocess.run(["tar", "-S", "-czf", str(archive), "-C", str(folder), big.name], check=True)
    big.unlink()
    return archive.read_bytes()
