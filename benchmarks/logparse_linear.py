"""Benchmark: `speedrun.logparse` is linear in its input, on hostile lines and on real logs.

Prints, for each shape of hostile line that made the old patterns backtrack, the parse time
of a log holding one such line of 10 KB, 100 KB, 1 MB and 10 MB, and the time per MB, which
should stay flat as the size grows. Each is timed twice: as shipped (lines cut to
MAX_LINE_CHARS before any regex sees them) and with the cut lifted, so that every pattern
reads the whole line. Then the real logs of the shared modded-nanogpt fixtures, in MB/s.

    python benchmarks/logparse_linear.py [--module PATH] [--checkout PATH] [--max-seconds S]

`--module` times another copy of logparse.py instead (e.g. `git show HEAD~1:speedrun/
logparse.py > /tmp/old.py`), to compare; a shape's larger sizes are skipped once one size
took more than --max-seconds. Not a test: it prints what it measured and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from speedrun.errors import LogParseError

DEFAULT_CHECKOUT = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "modded-nanogpt"
)
SIZES_BYTES = (10_000, 100_000, 1_000_000, 10_000_000)
RULER = "=" * 100
STEPS = (
    "step:0/2 val_loss:10.8 train_time:0ms step_avg:nanms\n"
    "step:2/2 val_loss:3.2 train_time:20ms step_avg:10.00ms\n"
)

# shape -> the hostile line, of about n characters
SHAPES: dict[str, Callable[[int], str]] = {
    "nvidia-smi row, spaces": lambda n: "|   0  NVIDIA" + " " * n + "x On |",
    "nvidia-smi row, words": lambda n: "|   0  X" + " a" * (n // 2),
    "world line, ' on'": lambda n: "Running pytorch 2.5" + " on" * (n // 3),
    "'NVIDIA-SMI ' repeated": lambda n: "NVIDIA-SMI " * (n // 11),
    "'step:' repeated": lambda n: "step:" * (n // 5),
    "step line, fields": lambda n: "step:1/2" + " val_loss:1 train_time:1ms" * (n // 26),
    "digits": lambda n: "7" * n,
}


def load(path: Path | None) -> ModuleType:
    if path is None:
        import speedrun.logparse

        return speedrun.logparse
    spec = importlib.util.spec_from_file_location("logparse_under_test", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def seconds_to_parse(module: ModuleType, text: str) -> float:
    start = time.perf_counter()
    with contextlib.suppress(LogParseError):
        module.parse_log(text)
    return time.perf_counter() - start


def time_hostile(module: ModuleType, line: str, uncut: bool) -> tuple[float, int]:
    """(seconds, bytes) to parse a valid log whose header holds `line`; `uncut` lifts the
    line cut so that every pattern reads the whole line."""
    text = f"import os\n{RULER}\n{line}\n{RULER}\n{STEPS}"
    settings = vars(module)
    shipped = settings.get("MAX_LINE_CHARS")
    if uncut:
        settings["MAX_LINE_CHARS"] = len(text)
    try:  # best of 3 below 1 MB, where one run is short enough to be noise
        repeat = 3 if len(text) < 1_000_000 else 1
        return min(seconds_to_parse(module, text) for _ in range(repeat)), len(text)
    finally:
        settings["MAX_LINE_CHARS"] = shipped


def bench_shapes(module: ModuleType, max_seconds: float) -> None:
    modes = ["cut", "uncut"] if hasattr(module, "MAX_LINE_CHARS") else ["as is"]
    print(f"{'hostile line':<26} {'mode':<6}" + "".join(f"{s // 1000:>9} KB" for s in SIZES_BYTES))
    for name, make in SHAPES.items():
        for mode in modes:
            cells: list[tuple[float, int]] = []
            for size in SIZES_BYTES:
                if cells and cells[-1][0] > max_seconds:
                    cells.append((float("inf"), size))
                else:
                    cells.append(time_hostile(module, make(size), mode == "uncut"))
            print(f"{name:<26} {mode:<6}" + "".join(_cell(s, n) for s, n in cells))
    print("(each cell: ms to parse / s per MB; '-': skipped after one took > --max-seconds)")


def _cell(seconds: float, size: int) -> str:
    if seconds == float("inf"):
        return f"{'-':>12}"
    return f"{seconds * 1e3:6.0f}/{seconds / (size / 1e6):5.2f}"


def bench_fixtures(module: ModuleType, checkout: Path, repeat: int = 3) -> None:
    logs = sorted(p for p in (checkout / "records").rglob("*") if p.suffix in (".txt", ".log"))
    total_bytes, total_s = 0, 0.0
    for path in logs:
        text = path.read_bytes().decode("utf-8", errors="replace")
        total_bytes += len(text.encode())
        total_s += min(seconds_to_parse(module, text) for _ in range(repeat))
    print(
        f"\nreal logs: {len(logs)} files, {total_bytes / 1e6:.2f} MB in {total_s:.3f} s = "
        f"{total_bytes / total_s / 1e6:.1f} MB/s (best of {repeat})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--module", type=Path, help="another copy of logparse.py to time")
    parser.add_argument("--checkout", type=Path, default=DEFAULT_CHECKOUT)
    parser.add_argument("--max-seconds", type=float, default=20.0)
    args = parser.parse_args()
    module = load(args.module)
    bench_shapes(module, args.max_seconds)
    if (args.checkout / "records").is_dir():
        bench_fixtures(module, args.checkout.resolve())


if __name__ == "__main__":
    main()
