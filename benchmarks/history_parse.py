"""Benchmark: how fast the log parser and the history scan read a modded-nanogpt checkout.

Measures, over the shared fixture sample (or any checkout given with --checkout):
  * parse_log speed per log file and overall, in MB/s of log text (best of --repeat runs,
    decoding excluded: the text is read and decoded once before timing);
  * the wall time of scan_checkout over the whole checkout (README tables, every log,
    statistics, row matching), best of --repeat runs, files read from disk each time.

    python benchmarks/history_parse.py [--checkout PATH] [--repeat N]

Not a test: it prints what it measured and exits 0.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path

from speedrun.history import scan_checkout
from speedrun.logparse import parse_log

DEFAULT_CHECKOUT = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "modded-nanogpt"
)


def best_seconds(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_logs(checkout: Path, repeat: int) -> None:
    logs = sorted(p for p in (checkout / "records").rglob("*") if p.suffix in (".txt", ".log"))
    total_bytes, total_s = 0, 0.0
    print(f"{'log':<72} {'KB':>7} {'runs':>4} {'ms':>8} {'MB/s':>7}")
    for path in logs:
        text = path.read_bytes().decode("utf-8", errors="replace")
        size = len(text.encode())
        runs = parse_log(text, source=str(path))
        seconds = best_seconds(functools.partial(parse_log, text), repeat)
        total_bytes += size
        total_s += seconds
        name = path.relative_to(checkout / "records").as_posix()
        print(
            f"{name[:72]:<72} {size / 1e3:7.0f} {len(runs):4d} "
            f"{seconds * 1e3:8.1f} {size / seconds / 1e6:7.1f}"
        )
    print(
        f"\nparse_log: {len(logs)} files, {total_bytes / 1e6:.2f} MB in {total_s:.3f} s "
        f"= {total_bytes / total_s / 1e6:.1f} MB/s (best of {repeat})"
    )


def bench_scan(checkout: Path, repeat: int) -> None:
    scan = scan_checkout(checkout)
    seconds = best_seconds(lambda: scan_checkout(checkout), repeat)
    runs = sum(f.run_count for f in scan.folders)
    rows = sum(len(t.rows) for t in scan.tracks)
    print(
        f"scan_checkout: {len(scan.folders)} record entries, {runs} runs, {rows} README rows, "
        f"{len(scan.problems)} problems in {seconds:.3f} s (best of {repeat})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--checkout", type=Path, default=DEFAULT_CHECKOUT)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    if not (checkout / "records").is_dir():
        raise SystemExit(f"no modded-nanogpt checkout at {checkout}")
    bench_logs(checkout, args.repeat)
    bench_scan(checkout, args.repeat)


if __name__ == "__main__":
    main()
