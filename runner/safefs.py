"""Reading what a sandboxed process wrote, without following its symlinks.

The training process owns its output directory. A file there may be a symlink planted to
make the runner (which runs on the host, with the host's permissions) read or copy a host
file: say, the signing key. Every component is opened with O_NOFOLLOW, and only regular
files are read, up to a size bound.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO


class UnsafeFileError(Exception):
    pass


def open_regular_file(root: Path, relative: str, *, max_bytes: int) -> BinaryIO:
    """`root/relative` opened for reading; UnsafeFileError for links, non-regular or big files."""
    parts = [p for p in relative.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise UnsafeFileError(f"bad relative path {relative!r}")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            except OSError as exc:
                raise UnsafeFileError(f"{relative}: {exc.strerror}") from None
            os.close(fd)
            fd = nxt
        try:  # O_NONBLOCK: a planted FIFO must not hang the runner
            file_fd = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
        except OSError as exc:
            raise UnsafeFileError(f"{relative}: {exc.strerror}") from None
    finally:
        os.close(fd)
    # Checked on the raw descriptor: fdopen refuses a directory with IsADirectoryError (a
    # variant can plant one where its model file should be) and would leak the descriptor.
    info = os.fstat(file_fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
        os.close(file_fd)
        what = "not a regular file" if not stat.S_ISREG(info.st_mode) else "too large"
        raise UnsafeFileError(f"{relative}: {what}")
    return os.fdopen(file_fd, "rb")


def read_regular_file(root: Path, relative: str, *, max_bytes: int) -> bytes:
    with open_regular_file(root, relative, max_bytes=max_bytes) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeFileError(f"{relative}: over the {max_bytes} byte limit")
    return data


def copy_regular_file(root: Path, relative: str, dest: Path, *, max_bytes: int) -> int:
    """Copy to `dest` (created fresh); return the bytes copied."""
    copied = 0
    with open_regular_file(root, relative, max_bytes=max_bytes) as f, open(dest, "xb") as out:
        while chunk := f.read(1 << 20):
            copied += len(chunk)
            if copied > max_bytes:
                raise UnsafeFileError(f"{relative}: over the {max_bytes} byte limit")
            out.write(chunk)
    return copied


def hash_regular_file(root: Path, relative: str, *, max_bytes: int) -> str:
    """sha256 of `root/relative`, read the safe way (a link or a FIFO is UnsafeFileError)."""
    digest = hashlib.sha256()
    read = 0
    with open_regular_file(root, relative, max_bytes=max_bytes) as f:
        while chunk := f.read(1 << 20):
            read += len(chunk)
            if read > max_bytes:
                raise UnsafeFileError(f"{relative}: over the {max_bytes} byte limit")
            digest.update(chunk)
    return digest.hexdigest()


def list_regular_files(root: Path, relative_dir: str, suffix: str) -> list[str]:
    """Names of regular files (not links) in `root/relative_dir` ending in `suffix`."""
    folder = root / relative_dir
    if folder.is_symlink() or not folder.is_dir():
        return []
    return sorted(
        f"{relative_dir}/{e.name}"
        for e in os.scandir(folder)
        if e.name.endswith(suffix) and e.is_file(follow_symlinks=False)
    )
