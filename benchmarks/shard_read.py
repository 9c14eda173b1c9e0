"""Shard reading throughput: speedrun.data.shards.read_shard (memmap) against numpy.fromfile.

Writes one shard of random tokens (100M tokens = 200 MB, a FineWeb shard's size, by default),
then, alternating the two readers over several repetitions, reads every token of it:

* sum:  read_shard + a uint64 sum over the memmap, vs fromfile + the same sum;
* copy: read_shard + np.array(...) into memory, vs fromfile (which already is a copy).

"warm" runs read from the page cache; "cold" runs first ask the kernel to drop the file's
pages (posix_fadvise DONTNEED), so the disk is in the loop. Reports the median MB/s of each
and the median over repetitions of the ratio read_shard / fromfile speed (goal: >= 0.9).

    python benchmarks/shard_read.py [--tokens N] [--reps R] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from speedrun.data import shards


def drop_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def via_read_shard_sum(path: Path) -> int:
    return int(shards.read_shard(path).sum(dtype=np.uint64))


def via_fromfile_sum(path: Path) -> int:
    tokens = np.fromfile(path, dtype=shards.TOKEN_DTYPE, offset=shards.HEADER_BYTES)
    return int(tokens.sum(dtype=np.uint64))


def via_read_shard_copy(path: Path) -> int:
    return int(np.array(shards.read_shard(path)).size)


def via_fromfile_copy(path: Path) -> int:
    return int(np.fromfile(path, dtype=shards.TOKEN_DTYPE, offset=shards.HEADER_BYTES).size)


def timed(fn: Callable[[Path], int], path: Path, *, cold: bool) -> tuple[float, int]:
    if cold:
        drop_page_cache(path)
    t0 = time.perf_counter()
    result = fn(path)
    return time.perf_counter() - t0, result


def compare(
    path: Path, ours: Callable[[Path], int], numpy_way: Callable[[Path], int], reps: int, cold: bool
) -> tuple[float, float, list[float]]:
    """Median MB/s of both readers and the per-pair ratios; alternating the two readers
    makes drift in machine load hit both alike."""
    size_mb = path.stat().st_size / 1e6
    ours_s: list[float] = []
    theirs_s: list[float] = []
    for _ in range(reps):
        dt_ours, a = timed(ours, path, cold=cold)
        dt_theirs, b = timed(numpy_way, path, cold=cold)
        assert a == b, "the two readers disagree"
        ours_s.append(dt_ours)
        theirs_s.append(dt_theirs)
    ratios = sorted(t / o for o, t in zip(ours_s, theirs_s, strict=True))
    return size_mb / statistics.median(ours_s), size_mb / statistics.median(theirs_s), ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000_000)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the test shard")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench_000001.bin"
        rng = np.random.default_rng(0)
        shards.write_shard(path, rng.integers(0, 50257, args.tokens, dtype=np.uint16))
        size_mb = path.stat().st_size / 1e6
        print(f"shard: {args.tokens:,} tokens, {size_mb:.1f} MB, {args.reps} repetitions each")
        via_fromfile_sum(path)  # warm the page cache
        rows = [
            ("sum ", via_read_shard_sum, via_fromfile_sum),
            ("copy", via_read_shard_copy, via_fromfile_copy),
        ]
        for cold in (False, True):
            for label, ours, numpy_way in rows:
                ours_mb_s, np_mb_s, ratios = compare(path, ours, numpy_way, args.reps, cold)
                print(
                    f"{'cold' if cold else 'warm'} {label}: read_shard {ours_mb_s:6.0f} MB/s  "
                    f"np.fromfile {np_mb_s:6.0f} MB/s  ratio {statistics.median(ratios):.2f}x "
                    f"(pairs {ratios[0]:.2f}-{ratios[-1]:.2f})"
                )


if __name__ == "__main__":
    main()
