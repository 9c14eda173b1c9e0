"""Benchmark: Muon against AdamW on the seed recipe's model: optimizer state and step time.

1. State bytes, for the model at cpu-tiny size and at record #12's size (built on the meta
   device: shapes only, no memory): the recipe's optimizers (Muon for the blocks' matrices,
   Adam for embedding, head and scalars) against AdamW for every parameter, and the hidden
   matrices alone (Muon keeps one momentum buffer, Adam two moments).
2. Wall-clock per training step on this CPU, one process with one thread (as each torchrun
   process runs), cpu-tiny model and one rank's micro-batch (8 x 256 tokens): the recipe with
   Newton–Schulz in float32 (its CPU setting) and in bfloat16 (its CUDA setting), against the
   same run with Adam on the hidden matrices. Rounds are interleaved and medians reported, so
   other load on the machine hits all configurations alike. One process orthogonalises every
   matrix here; under torchrun at world size 2 each rank does half, so this is an upper bound.

Usage: python benchmarks/optimizer_state.py [--steps 8] [--rounds 5] [--out F.md]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch

from runner.fingerprint import cpu_info, cpuinfo_field

ROOT = Path(__file__).resolve().parents[1]


def load_seed_recipe() -> ModuleType:
    path = ROOT / "records/seed-recipe/train_gpt.py"
    spec = importlib.util.spec_from_file_location("seed_recipe", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["seed_recipe"] = module
    spec.loader.exec_module(module)
    return module


def state_bytes(optimizers: list[torch.optim.Optimizer]) -> int:
    return sum(
        t.nbytes
        for o in optimizers
        for s in o.state.values()
        for t in s.values()
        if torch.is_tensor(t)
    )


def build(sr: ModuleType, size: str) -> torch.nn.Module:
    if size == "cpu-tiny":
        cfg = sr.GPTConfig(
            vocab_size=256, n_layer=4, n_head=4, n_embd=128, eos_token=255, window=256
        )
    else:  # record #12: 12 layers, width 768, 6 heads of 128, padded GPT-2 vocabulary
        cfg = sr.GPTConfig(
            vocab_size=50304, n_layer=12, n_head=6, n_embd=768, eos_token=50256, window=1024
        )
    return sr.GPT(cfg)


def hidden_adam(sr: ModuleType, model: torch.nn.Module) -> list[torch.optim.Optimizer]:
    """The recipe's optimizers with Adam (lr 1e-3) in place of Muon on the hidden matrices."""
    opts = sr.build_optimizers(model, sr.SCHEDULES["cpu-tiny"])[:-1]
    matrices = [p for p in model.blocks.parameters() if p.ndim == 2]
    return [*opts, torch.optim.Adam(matrices, lr=1e-3, betas=(0.9, 0.95))]


def measure_state(sr: ModuleType) -> list[str]:
    rows = [
        "| model | parameters | recipe (Muon + Adam) | AdamW everywhere | hidden matrices: "
        "Muon | hidden matrices: Adam |",
        "|---|---|---|---|---|---|",
    ]
    for size in ("cpu-tiny", "record #12 (124M)"):
        with torch.device("meta"):
            model = build(sr, size)
            for p in model.parameters():
                p.grad = torch.zeros_like(p)
        recipe = sr.build_optimizers(model, sr.SCHEDULES["cpu-tiny"])
        adamw = [torch.optim.AdamW(model.parameters(), lr=1e-3)]
        alt = hidden_adam(sr, model)
        for opt in [*recipe, *adamw, *alt]:
            opt.step()
        n = sum(p.numel() for p in model.parameters())
        rows.append(
            f"| {size} | {n:,} | {mib(state_bytes(recipe))} | {mib(state_bytes(adamw))} "
            f"| {mib(state_bytes(recipe[-1:]))} | {mib(state_bytes(alt[-1:]))} |"
        )
    return rows


def mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.2f} MiB"


def time_config(
    sr: ModuleType, make_opts: Callable[[torch.nn.Module], list[torch.optim.Optimizer]], steps: int
) -> tuple[float, float]:
    """Median ms per full step and per optimizer step over `steps` steps."""
    torch.manual_seed(0)
    model = build(sr, "cpu-tiny")
    opts = make_opts(model)
    x = torch.randint(0, 256, (8, 256))
    y = torch.roll(x, -1, 1)
    full, opt_only = [], []
    for _ in range(steps + 1):  # the first step (allocations, lazy init) is not counted
        t0 = time.perf_counter()
        model(x, y).backward()
        t1 = time.perf_counter()
        for opt in opts:
            opt.step()
        model.zero_grad(set_to_none=True)
        t2 = time.perf_counter()
        full.append(t2 - t0)
        opt_only.append(t2 - t1)
    return 1000 * statistics.median(full[1:]), 1000 * statistics.median(opt_only[1:])


def measure_time(sr: ModuleType, steps: int, rounds: int) -> list[str]:
    configs: dict[str, Callable[[torch.nn.Module], list[torch.optim.Optimizer]]] = {
        "Muon, Newton–Schulz fp32 (CPU default)": lambda m: sr.build_optimizers(
            m, sr.SCHEDULES["cpu-tiny"]
        ),
        "Muon, Newton–Schulz bf16 (CUDA default)": lambda m: [
            *sr.build_optimizers(m, sr.SCHEDULES["cpu-tiny"])[:-1],
            sr.Muon(
                [p for p in m.blocks.parameters() if p.ndim == 2], lr=0.04, ns_dtype=torch.bfloat16
            ),
        ],
        "Adam on the hidden matrices": lambda m: hidden_adam(sr, m),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, make in configs.items():
            results[name].append(time_config(sr, make, steps))
    base = statistics.median(r[0] for r in results["Adam on the hidden matrices"])
    rows = [
        "| optimizer for hidden matrices | step (ms, median) | optimizer step (ms) | "
        "step vs Adam |",
        "|---|---|---|---|",
    ]
    for name, values in results.items():
        step_ms = statistics.median(v[0] for v in values)
        opt_ms = statistics.median(v[1] for v in values)
        rows.append(f"| {name} | {step_ms:.1f} | {opt_ms:.1f} | {step_ms / base:.2f}x |")
    return rows


def bf16_flags() -> str:
    """The CPU's bfloat16 instruction-set flags from /proc/cpuinfo, or "none"."""
    flags = cpuinfo_field("flags")
    if flags is None:
        return "unknown"
    found = [f for f in flags.split() if f in ("avx512_bf16", "amx_bf16", "avx_ne_convert")]
    return ", ".join(found) or "none"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=8, help="timed steps per configuration and round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/optimizer_state.md")
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # as each torchrun process on the CPU tracks
    sr = load_seed_recipe()
    lines = ["## Optimizer state: Muon vs AdamW (seed recipe model)", "", *measure_state(sr), ""]
    lines += ["## Step time on this CPU (cpu-tiny model, 8 x 256 tokens, 1 thread)", ""]
    lines += measure_time(sr, args.steps, args.rounds)
    load = os.getloadavg()
    lines += [
        "",
        f"{os.cpu_count()} cores; load average at the end {load[0]:.1f} / "
        f"{load[1]:.1f} / {load[2]:.1f}; torch {torch.__version__}.",
        f"CPU: {cpu_info()['cpu_model']}; torch CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}; bf16 instructions: {bf16_flags()} "
        "(bf16 matmul speed on a CPU depends on them).",
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
