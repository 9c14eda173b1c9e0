"""GPU check: both record variants on one CUDA GPU at record #12's per-GPU batch.

Runs `records/seed-recipe` (torch.compile, FlexAttention, bf16, Muon with bf16 Newton–Schulz)
and `records/llmc-baseline` with the 124M model on one GPU for a few dozen steps, each step
being one GPU's share of the 8xH100 batch (65,536 tokens: one 64K-token row for the seed
recipe, 64 rows of 1024 for the baseline), and reports step time and peak memory next to the
8xH100 figures in the speedrun's logs (record #12: 161.8 ms/step; llm.c: 140 ms/step, C/CUDA).
Caveats, printed with the table: on one GPU there is no gradient all-reduce, and Muon's
Newton–Schulz work is not shared out across 8 ranks, so per-step work is somewhat larger.

The variants get their configuration through the harness contract (a SPEEDRUN_CONFIG file
with the gpt2-124m-1xgpu scale and batch_tokens = 65,536). FineWeb shards are used when
present under --data-dir; otherwise the runs train on uniform random tokens (--random-data),
labelled as such: timing is unaffected, losses are meaningless. No internet is needed.

Usage: python benchmarks/gpu_check.py [--steps 40] [--data-dir data] [--variants ...]
       python benchmarks/gpu_check.py --dry-run   # configs and commands only (no GPU)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

from speedrun import harness
from speedrun.logparse import ParsedRun, parse_log, parse_log_file

ROOT = Path(__file__).resolve().parents[1]
TRACK = "gpt2-124m-1xgpu"
PER_GPU_TOKENS = 65_536  # record #12: 8 GPUs x one 64K-token row per step
RECORD_12_LOG = (
    ROOT.parent
    / "shared/fixtures/modded-nanogpt/records/track_1_short/2024-11-19_FlexAttention"
    / "8384493d-dba9-4991-b16b-8696953f5e6d.txt"
)
RECORD_12_STEP_MS = 161.84  # the log's final step_avg, used when the fixture is not beside us
LLMC_STEP_MS = 140.0  # records/track_1_short/2024-10-13_llmc/README.md: mean step time, 8xH100
SKIP_STEPS = 10  # steady-state step time is measured after the first steps


def reference_step_ms() -> tuple[float, str]:
    """Record #12's step_avg on 8xH100, read from its log when available."""
    if RECORD_12_LOG.exists():
        [run] = parse_log_file(RECORD_12_LOG)
        last = run.train_points[-1]
        if last.step_avg_ms is not None:
            return last.step_avg_ms, "record #12 log"
    return RECORD_12_STEP_MS, "record #12 log (constant)"


def per_gpu_config(data_dir: Path, out: Path, seed: int) -> tuple[harness.HarnessConfig, bool]:
    """The 1xgpu track's configuration with one GPU's share of record #12's batch; whether
    FineWeb training shards were found."""
    cfg = harness.standalone_config(TRACK, data_dir, out, seed)
    scale = replace(cfg.scale, batch_tokens=PER_GPU_TOKENS)
    cfg = replace(cfg, scale=scale, val_file=None, val_tokens=None, dev_file=None)
    return cfg, bool(cfg.train_files)


def command(variant: str, steps: int, random_data: bool) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=1",
        str(ROOT / "records" / variant / "train_gpt.py"),
        "--steps",
        str(steps),
        "--no-export",
    ]
    return [*cmd, "--random-data"] if random_data else cmd


def steady_step_ms(run: ParsedRun) -> float | None:
    """Mean ms per step after the first SKIP_STEPS train steps."""
    points = [p for p in run.train_points if p.train_time_ms is not None]
    if len(points) <= SKIP_STEPS + 1:
        return None
    a, b = points[SKIP_STEPS], points[-1]
    assert a.train_time_ms is not None and b.train_time_ms is not None
    return (b.train_time_ms - a.train_time_ms) / (b.step - a.step)


def run_one(variant: str, args: argparse.Namespace, work: Path) -> dict[str, object]:
    out = work / variant
    cfg, have_data = per_gpu_config(args.data_dir, out, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "config.json"
    config_path.write_text(cfg.to_json())
    cmd = command(variant, args.steps, random_data=not have_data)
    row: dict[str, object] = {
        "variant": variant,
        "data": "FineWeb" if have_data else "RANDOM TOKENS (no FineWeb shards found)",
        "command": " ".join(cmd),
    }
    if args.dry_run:
        row["scale"] = asdict(cfg)["scale"]
        return row
    env = {**os.environ, harness.CONFIG_ENV: str(config_path)}
    started = time.monotonic()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=args.timeout_s, check=False
    )
    row["wall_s"] = round(time.monotonic() - started, 1)
    (out / "stdout.txt").write_text(proc.stdout)
    (out / "stderr.txt").write_text(proc.stderr)
    if proc.returncode != 0:
        row["error"] = proc.stderr[-2000:]
        return row
    [run] = parse_log(proc.stdout)
    last = run.train_points[-1]
    row |= {
        "steps": last.step,
        "step_avg_ms": last.step_avg_ms,
        "steady_step_ms": steady_step_ms(run),
        "final_train_loss": last.train_loss,
        "peak_alloc_mib": run.peak_memory_allocated_mib,
        "peak_reserved_mib": run.peak_memory_reserved_mib,
        "gpu": run.gpu_model,
    }
    return row


def render(rows: list[dict[str, object]], ref_ms: float, ref_src: str) -> str:
    refs = {
        "seed-recipe": f"{ref_ms:.1f} ms/step on 8xH100 ({ref_src})",
        "llmc-baseline": f"{LLMC_STEP_MS:.0f} ms/step on 8xH100 (llm.c, C/CUDA)",
    }
    lines = [
        f"## GPU check: 1 GPU, {PER_GPU_TOKENS:,} tokens/step (one GPU's share of record #12)",
        "",
        "| variant | data | steps | step_avg | steady step (after 10) | peak alloc / "
        "reserved | 8xH100 reference | GPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r or "steps" not in r:
            lines.append(
                f"| {r['variant']} | {r['data']} | {r.get('error', 'dry run')!s:.80} | | | | | |"
            )
            continue
        lines.append(
            f"| {r['variant']} | {r['data']} | {r['steps']} | {r['step_avg_ms']:.1f} ms "
            f"| {r['steady_step_ms'] or float('nan'):.1f} ms | {r['peak_alloc_mib']} / "
            f"{r['peak_reserved_mib']} MiB | {refs[str(r['variant'])]} | {r['gpu']} |"
        )
    lines += [
        "",
        "One GPU has no gradient all-reduce and orthogonalises every Muon matrix itself "
        "(8 ranks share that work on 8xH100); the reference is per step with each of 8 GPUs "
        "doing the same 65,536 tokens.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("SPEEDRUN_DATA_DIR", "data"))
    )
    p.add_argument("--variants", nargs="+", default=["seed-recipe", "llmc-baseline"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout-s", type=float, default=420.0, help="per variant run")
    p.add_argument("--out", type=Path, default=None, help="work dir (default: a temp dir)")
    p.add_argument("--dry-run", action="store_true", help="configs and commands, run nothing")
    args = p.parse_args(argv)
    work = args.out or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    if not args.dry_run:
        import torch

        if not torch.cuda.is_available():
            print("no CUDA device: nothing measured (use --dry-run to check the setup)")
            return 2
    rows = [run_one(v, args, work) for v in args.variants]
    ref_ms, ref_src = reference_step_ms()
    text = render(rows, ref_ms, ref_src)
    print(text)
    print(json.dumps(rows, indent=2, default=str))
    work.mkdir(parents=True, exist_ok=True)
    (work / "gpu_check.md").write_text(text)
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
