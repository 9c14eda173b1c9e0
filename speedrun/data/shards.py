"""Reader and writer for the speedrun's `.bin` token shards.

Format (as written by modded-nanogpt's data scripts): a header of 256 little-endian int32 —
magic 20240520, version 1, token count, then zeros — followed by `count` uint16 tokens.
Reading is memory-mapped; every failure names the file and the problem.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from speedrun.errors import ShardError

SHARD_MAGIC = 20240520
SHARD_VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
TOKEN_DTYPE = np.dtype("<u2")
MAX_TOKEN_ID = int(np.iinfo(np.uint16).max)

TokenArray = npt.NDArray[np.uint16]


def read_header(path: str | os.PathLike[str]) -> int:
    """Check a shard's header and size; return its token count."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            raw = f.read(HEADER_BYTES)
            size_bytes = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise ShardError(name, "file not found") from None
    except IsADirectoryError:
        raise ShardError(name, "is a directory, not a shard file") from None
    except OSError as exc:
        raise ShardError(name, f"cannot read: {exc.strerror}") from None
    if len(raw) < HEADER_BYTES:
        raise ShardError(
            name, f"truncated header: {len(raw)} bytes, a shard header has {HEADER_BYTES}"
        )
    header = np.frombuffer(raw, dtype="<i4")
    magic, version, count = int(header[0]), int(header[1]), int(header[2])
    if magic != SHARD_MAGIC:
        raise ShardError(name, f"wrong magic number {magic} (expected {SHARD_MAGIC})")
    if version != SHARD_VERSION:
        raise ShardError(
            name, f"unknown shard version {version} (this reader knows {SHARD_VERSION})"
        )
    if count < 0:
        raise ShardError(name, f"negative token count {count} in header")
    expected = HEADER_BYTES + 2 * count
    if size_bytes < expected:
        raise ShardError(
            name,
            f"truncated: header says {count} tokens ({expected} bytes), file has {size_bytes} bytes",
        )
    if size_bytes > expected:
        raise ShardError(
            name,
            f"length mismatch: header says {count} tokens ({expected} bytes), "
            f"file has {size_bytes} bytes",
        )
    return count


def read_shard(path: str | os.PathLike[str]) -> TokenArray:
    """Memory-map a shard's tokens (read-only) after validating its header and length."""
    count = read_header(path)
    if count == 0:
        return np.zeros(0, dtype=np.uint16)
    tokens: TokenArray = np.memmap(
        os.fspath(path), dtype=TOKEN_DTYPE, mode="r", offset=HEADER_BYTES, shape=(count,)
    )
    return tokens


def write_shard(path: str | os.PathLike[str], tokens: npt.ArrayLike) -> str:
    """Write tokens as a shard atomically (temp file + rename); return the file's sha256."""
    arr = np.asarray(tokens)
    if arr.ndim != 1:
        raise ValueError(f"tokens must be 1-D, got shape {arr.shape}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > MAX_TOKEN_ID):
        raise ValueError("token ids must fit in uint16")
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[0], header[1], header[2] = SHARD_MAGIC, SHARD_VERSION, arr.size
    body = arr.astype(TOKEN_DTYPE, copy=False).tobytes()
    digest = hashlib.sha256()
    digest.update(header.tobytes())
    digest.update(body)
    target = Path(path)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")  # writers may race
    with open(tmp, "wb") as f:
        f.write(header.tobytes())
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike[str], *, chunk_bytes: int = 1 << 20) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
