"""Benchmark: the project's two record variants on cpu-tiny, several seeds each.

Runs `records/seed-recipe` and `records/llmc-baseline` by hand under torchrun (2 gloo
processes, as the track's launcher does) against the real validation slice, with validation
points spaced densely enough to see when each run crosses the track's target, reads the logs
back with `speedrun.logparse`, and writes a markdown table (also printed):

    tokens to target   step x tokens/step where the validation curve reaches the target
                       (interpolated between the validation points around the crossing)
    time to target     the script's train_time there (validation is untimed)
    final loss         the last validation point (the whole schedule)

Usage: python benchmarks/variants_cpu_tiny.py [--data-dir D] [--seeds 0 1 2] [--out F.md]
Needs only the CPU; the data is built locally when missing (~15 s). A run takes minutes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from speedrun.data.fetch import fetch_track_data
from speedrun.logparse import ParsedRun, parse_log_file
from speedrun.tracks import get_track

ROOT = Path(__file__).resolve().parents[1]
TRACK = "cpu-tiny"
# Validation spacing per variant (steps), about 10% of each schedule; the crossing of the target
# is interpolated linearly between the two validation points around it.
VAL_EVERY = {"seed-recipe": 20, "llmc-baseline": 200}


@dataclass(frozen=True)
class RunResult:
    variant: str
    seed: int
    steps: int
    tokens_to_target: int | None
    time_to_target_ms: float | None
    final_loss: float
    train_time_ms: float
    wall_s: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("SPEEDRUN_DATA_DIR", "data"))
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", default=list(VAL_EVERY))
    p.add_argument("--runs-dir", type=Path, default=None, help="keep run outputs here")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/variants_cpu_tiny.md")
    return p.parse_args(argv)


def run_variant(variant: str, seed: int, data_dir: Path, out: Path) -> tuple[Path, float]:
    """One attempt under torchrun; returns its log file and the wall time in seconds."""
    track = get_track(TRACK)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={track.launcher.nproc_per_node}",
        str(ROOT / "records" / variant / "train_gpt.py"),
        "--track",
        TRACK,
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--seed",
        str(seed),
        "--val-every",
        str(VAL_EVERY[variant]),
        "--val-tokens",
        str(track.dataset.val_tokens),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPEEDRUN_CONFIG")}
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall_s = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{variant} seed {seed} failed:\n{proc.stderr[-3000:]}")
    return out / "log.txt", wall_s


def crossing(run: ParsedRun, target: float) -> tuple[float, float] | None:
    """(step, train_time_ms) where the val curve first reaches target, interpolated linearly
    between the two validation points around the crossing."""
    points = [p for p in run.val_points if p.val_loss is not None and p.train_time_ms is not None]
    for before, after in pairwise(points):
        assert before.val_loss is not None and after.val_loss is not None
        if after.val_loss <= target < before.val_loss:
            f = (before.val_loss - target) / (before.val_loss - after.val_loss)
            assert before.train_time_ms is not None and after.train_time_ms is not None
            step = before.step + f * (after.step - before.step)
            return step, before.train_time_ms + f * (after.train_time_ms - before.train_time_ms)
    return None


def summarize(
    variant: str, seed: int, run: ParsedRun, target: float, batch_tokens: int, wall_s: float
) -> RunResult:
    hit = crossing(run, target)
    assert run.final_val_loss is not None and run.total_steps is not None
    return RunResult(
        variant=variant,
        seed=seed,
        steps=run.total_steps,
        tokens_to_target=round(hit[0] * batch_tokens) if hit else None,
        time_to_target_ms=hit[1] if hit else None,
        final_loss=run.final_val_loss,
        train_time_ms=run.final_train_time_ms or 0.0,
        wall_s=wall_s,
    )


def mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):,.0f} ± {sd:,.0f}"


def render(results: list[RunResult], target: float, batch_tokens: int) -> str:
    load = os.getloadavg()
    lines = [
        f"## Variants on {TRACK} (target val loss {target}, {batch_tokens} tokens/step)",
        "",
        f"2 gloo processes on {os.cpu_count()} CPU cores; load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (times are wall-clock training times "
        "and rise with other load on the machine; tokens do not).",
        "",
        "| variant | seed | steps | tokens to target | time to target | final loss | "
        "train time | wall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        tokens = (
            f"{r.tokens_to_target:,}"
            if r.tokens_to_target
            else f"not reached ({r.steps * batch_tokens:,}+)"
        )
        when = f"{r.time_to_target_ms / 1000:.1f} s" if r.time_to_target_ms else "-"
        lines.append(
            f"| {r.variant} | {r.seed} | {r.steps} | {tokens} | {when} | "
            f"{r.final_loss:.4f} | {r.train_time_ms / 1000:.1f} s | {r.wall_s:.0f} s |"
        )
    lines += [
        "",
        "| variant | runs reaching target | tokens to target (mean ± sd) | "
        "time to target (s, mean ± sd) | final loss (mean) |",
        "|---|---|---|---|---|",
    ]
    means: dict[str, float] = {}
    for variant in dict.fromkeys(r.variant for r in results):
        rs = [r for r in results if r.variant == variant]
        hit = [r for r in rs if r.tokens_to_target]
        tokens = [float(r.tokens_to_target or 0) for r in hit]
        if tokens and len(hit) == len(rs):
            means[variant] = statistics.mean(tokens)
        secs = [(r.time_to_target_ms or 0) / 1000 for r in hit]
        sec_text = (
            f"{statistics.mean(secs):.1f} ± {statistics.stdev(secs) if len(secs) > 1 else 0:.1f}"
            if secs
            else "-"
        )
        lines.append(
            f"| {variant} | {len(hit)}/{len(rs)} | {mean_sd(tokens)} | {sec_text} | "
            f"{statistics.mean(r.final_loss for r in rs):.4f} |"
        )
    if {"seed-recipe", "llmc-baseline"} <= means.keys():
        ratio = means["seed-recipe"] / means["llmc-baseline"]
        lines += ["", f"Seed recipe / baseline tokens to target: {ratio:.2f} (goal <= 0.33)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    track = get_track(TRACK)
    fetch_track_data(track, args.data_dir, progress=False)
    target, batch_tokens = track.rules.target_val_loss, track.scale.batch_tokens
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="variants-cpu-tiny-"))
    results = []
    for variant in args.variants:
        for seed in args.seeds:
            log, wall_s = run_variant(variant, seed, args.data_dir, runs_dir / f"{variant}-{seed}")
            [run] = parse_log_file(log)
            results.append(summarize(variant, seed, run, target, batch_tokens, wall_s))
            print(f"{variant} seed {seed}: {results[-1]}", flush=True)
    table = render(results, target, batch_tokens)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print(table)
    print(f"written to {args.out}; run logs in {runs_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
