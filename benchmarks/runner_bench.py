"""Runner benchmarks: clock agreement, overhead against a bare torchrun, A/B of a variant
against itself. Ratios from one run of each; not a timed test.

1. clock: the runner's official time vs the train_time the script itself reports, per
   attempt of `speedrun run VARIANT --runs N` (goal: within 1%);
2. overhead: the wall time of a whole `speedrun run VARIANT` (image already built: data
   check, software probe, training, independent evaluation, signing) vs a bare
   `torchrun --standalone --nproc_per_node=N VARIANT` with the same configuration
   (goal: <= 1.10x);
3. ab: `speedrun run VARIANT --baseline VARIANT --runs P` (goal: no significant difference).

    python benchmarks/runner_bench.py [--backend docker|local] [--track cpu-smoke]
        [--variant records/seed-recipe/train_gpt.py] [--runs 3] [--pairs 3] [--image NAME]
        [--only clock|overhead|ab] [--held-out] [--out results.json]

The docker backend needs DOCKER_HOST (e.g. podman's service, see runner/podman.py) and the
CPU image (`make image-cpu`); `--start-podman` starts a private podman service for the run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from speedrun import harness, signing
from speedrun.bundle import read_bundle
from speedrun.data.fetch import fetch_track_data
from speedrun.data.heldout import init_secret
from speedrun.tracks import get_track

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VARIANT = REPO / "records" / "seed-recipe" / "train_gpt.py"


def speedrun(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "speedrun.cli", *args], capture_output=True, text=True, check=False
    )
    if result.returncode not in (0, 1):
        raise SystemExit(f"speedrun {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return time.monotonic() - started, result


def manifests(out: Path) -> list[dict[str, Any]]:
    return [read_bundle(p.read_bytes()).manifest for p in sorted(out.glob("*.bundle.tar.gz"))]


def clock(common: list[str], variant: Path, work: Path, runs: int) -> dict[str, Any]:
    out = work / "clock"
    speedrun("run", str(variant), "--runs", str(runs), "--out", str(out), *common)
    rows = []
    for m in manifests(out):
        fig = m["figures"]
        script_ms = fig["self_reported_train_time_ms"]
        # The runner's own train time (first warmup_end to done, less pauses) is what the
        # script measures; the official time adds writing the model (the clock stops at export).
        clock_ms = fig.get("runner_train_time_ms")
        excess_ms = max(0.0, (fig["untimed_ms"] or 0) - (fig["untimed_cap_ms"] or 0))
        evaluation = m.get("evaluation") or {}
        rows.append(
            {
                "status": m["exit"]["status"],
                "violations": m.get("violations", []),
                "flags": m.get("flags", []),
                "val_loss": fig["val_loss"],
                "private_val_loss": fig.get("private_val_loss"),
                "evaluation_s": round(evaluation.get("duration_ms", 0) / 1000, 2),
                "probe_s": (evaluation.get("causality") or {}).get("seconds"),
                "probes": (evaluation.get("causality") or {}).get("probes"),
                "runner_ms": fig["time_ms"],
                "script_ms": script_ms,
                "ratio": fig["time_ms"] / script_ms if fig["time_ms"] and script_ms else None,
                "untimed_ms": fig["untimed_ms"],
                "cap_excess_ms": excess_ms,
                "runner_train_ms": clock_ms,
                "clock_ratio": clock_ms / script_ms if clock_ms and script_ms else None,
            }
        )
    ratios = [abs(r["ratio"] - 1) for r in rows if r["ratio"] is not None]
    clocks = [abs(r["clock_ratio"] - 1) for r in rows if r["clock_ratio"] is not None]
    return {
        "attempts": rows,
        "worst_disagreement": max(ratios, default=None),
        "worst_clock_disagreement": max(clocks, default=None),
        "goal": "<= 0.01",
    }


def bare_torchrun(variant: Path, track_id: str, data_dir: Path, work: Path) -> float:
    """The same variant, same configuration, no runner: torchrun from this interpreter."""
    track = get_track(track_id)
    cfg = harness.standalone_config(track_id, data_dir, work / "bare-out", seed=0)
    cfg = replace(cfg, val_file=None, val_tokens=None, dev_file=cfg.val_file)
    config = work / "bare-config.json"
    config.write_text(cfg.to_json())
    env = {k: v for k, v in os.environ.items() if k != harness.EVENTS_ENV}
    env[harness.CONFIG_ENV] = str(config)
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={track.launcher.nproc_per_node}",
            str(variant),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        check=True,
    )
    return time.monotonic() - started


def overhead(
    common: list[str], variant: Path, track_id: str, data: Path, work: Path, repeat: int
) -> dict[str, Any]:
    """Bare and runner runs interleaved (bare, runner, bare, runner...), so a shared
    machine's drifting load hits both alike; the ratio of the medians is reported."""
    bare, full, rows = [], [], []
    for i in range(repeat):
        bare.append(bare_torchrun(variant, track_id, data, work))
        run_s, _ = speedrun("run", str(variant), "--out", str(work / f"overhead{i}"), *common)
        full.append(run_s)
        (m,) = manifests(work / f"overhead{i}")
        rows.append(
            {
                "bare_torchrun_s": round(bare[-1], 2),
                "speedrun_run_s": round(run_s, 2),
                "training_process_wall_s": round(m["figures"]["wall_ms"] / 1000, 2),
                "evaluation_s": round((m["evaluation"] or {}).get("duration_ms", 0) / 1000, 2),
                "load_avg": os.getloadavg()[0],
            }
        )
    ratio = statistics.median(full) / statistics.median(bare)
    return {"runs": rows, "ratio_of_medians": round(ratio, 3), "goal": "<= 1.10"}


def ab_self(common: list[str], variant: Path, work: Path, pairs: int) -> dict[str, Any]:
    out = work / "ab"
    speedrun(
        "run",
        str(variant),
        "--baseline",
        str(variant),
        "--runs",
        str(pairs),
        "--out",
        str(out),
        *common,
    )
    (path,) = out.glob("summary-*.json")
    s = json.loads(path.read_text())
    return {"speedup": s["speedup"], "verdict": s["verdict"], "goal": "no significant difference"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="docker", choices=["docker", "local"])
    p.add_argument("--track", default="cpu-smoke")
    p.add_argument("--variant", type=Path, default=DEFAULT_VARIANT)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--repeat", type=int, default=2, help="overhead: bare/runner rounds")
    p.add_argument("--image", default=None)
    p.add_argument("--only", choices=["clock", "overhead", "ab"], default=None)
    p.add_argument("--start-podman", action="store_true", help="run a private podman service")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON results here")
    p.add_argument(
        "--held-out", action="store_true", help="a fresh deployment secret (held-out tracks)"
    )
    args = p.parse_args()
    service = None
    with tempfile.TemporaryDirectory(prefix="runner-bench-") as tmp:
        work = Path(tmp)
        if args.start_podman:
            from runner.podman import start_service

            service = start_service(work / "podman")
            os.environ["DOCKER_HOST"] = service.docker_host
        try:
            key = work / "bench.key"
            signing.init_keypair(key)
            data = work / "data"
            secret = init_secret(work / "held-out.secret") if args.held_out else None
            fetch_track_data(get_track(args.track), data, progress=False, secret=secret)
            common = [
                "--track",
                args.track,
                "--backend",
                args.backend,
                "--key",
                str(key),
                "--data-dir",
                str(data),
                "--quiet",
            ]
            if args.image:
                common += ["--image", args.image]
            if secret is not None and secret.path is not None:
                common += ["--held-out", str(secret.path)]
            results: dict[str, Any] = {
                "backend": args.backend,
                "track": args.track,
                "variant": str(args.variant),
                "cpu_count": os.cpu_count(),
                "load_avg_at_start": os.getloadavg(),
            }
            if args.only in (None, "clock"):
                results["clock"] = clock(common, args.variant, work, args.runs)
            if args.only in (None, "overhead"):
                results["overhead"] = overhead(
                    common, args.variant, args.track, data, work, args.repeat
                )
            if args.only in (None, "ab"):
                results["ab"] = ab_self(common, args.variant, work, args.pairs)
            results["load_avg_at_end"] = os.getloadavg()
            text = json.dumps(results, indent=2, default=lambda o: asdict(o))
            print(text)
            if args.out is not None:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(text + "\n")
        finally:
            if service is not None:
                service.stop()


if __name__ == "__main__":
    main()
