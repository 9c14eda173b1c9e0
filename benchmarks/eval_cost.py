"""Benchmark: what the independent evaluation costs, with the old causality probe and the new one.

A cpu-tiny-sized model (the seed recipe's GPT at cpu-tiny scale: vocabulary 256, 4 layers,
width 128, random init with the zero-initialised projections given weights; or, with --model
plain, a plain 4-layer 128-wide GPT) is exported as the harness does, then evaluated on cpu-tiny's shape (T = 256, B = 64, 262,144 tokens = 16
scored batches of 1,024 windows) over uniform random tokens (the cost does not depend on them):

- old: the evaluator before this change, reimplemented inline: torch.export.load, functionalize
  and check the ops, score, then probe the first batch at 3 fixed cuts and once for batch
  independence (4 extra forward passes), logits compared with a tolerance of 1e-4 x max|logit|;
- new: runner.evaluate.evaluate as the runner runs it: the archive checked and copied
  (runner.pt2check), loaded, scored, then 688 secret (window, cut) probes + unchanged rows in
  11 batches and one repeated scored batch (12 extra forward passes), target log-probs compared.

Rounds alternate old and new so other load on the machine hits both alike; medians are printed.

Usage: python benchmarks/eval_cost.py [--rounds 3] [--tokens 262144] [--model seed-recipe|plain]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from runner import evaluate as ev
from speedrun.data.shards import read_shard, write_shard

ROOT = Path(__file__).resolve().parents[1]
V, T, B = 256, 256, 64


def load_seed_recipe() -> ModuleType:
    path = ROOT / "records/seed-recipe/train_gpt.py"
    spec = importlib.util.spec_from_file_location("seed_recipe", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["seed_recipe"] = module
    spec.loader.exec_module(module)
    return module


class PlainGPT(torch.nn.Module):
    """A plain 4-layer, 128-wide pre-norm GPT (learned positions, SDPA is_causal, GELU MLP)."""

    def __init__(self, n_layer: int = 4, d: int = 128, n_head: int = 4) -> None:
        super().__init__()
        self.n_head = n_head
        self.wte, self.wpe = torch.nn.Embedding(V, d), torch.nn.Embedding(T, d)
        self.ln = torch.nn.ModuleList(torch.nn.LayerNorm(d) for _ in range(2 * n_layer + 1))
        self.attn = torch.nn.ModuleList(torch.nn.Linear(d, 3 * d) for _ in range(n_layer))
        self.proj = torch.nn.ModuleList(torch.nn.Linear(d, d) for _ in range(n_layer))
        mlp = (
            torch.nn.Sequential(
                torch.nn.Linear(d, 4 * d), torch.nn.GELU(), torch.nn.Linear(4 * d, d)
            )
            for _ in range(n_layer)
        )
        self.mlp = torch.nn.ModuleList(mlp)
        self.head = torch.nn.Linear(d, V, bias=False)

    def forward(self, idx: Any) -> Any:
        B_, T_ = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T_, device=idx.device))  # (B, T, C)
        for i, (attn, proj, mlp) in enumerate(zip(self.attn, self.proj, self.mlp, strict=True)):
            q, k, v = attn(self.ln[2 * i](x)).view(B_, T_, 3, self.n_head, -1).unbind(2)
            y = torch.nn.functional.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True
            )
            x = x + proj(y.transpose(1, 2).reshape(B_, T_, -1))
            x = x + mlp(self.ln[2 * i + 1](x))
        return self.head(self.ln[-1](x))  # (B, T, V)


def build_model(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "plain":
        return PlainGPT()
    sr = load_seed_recipe()
    cfg = sr.GPTConfig(vocab_size=V, n_layer=4, n_head=4, n_embd=128, eos_token=V - 1, window=T)
    model = sr.GPT(cfg)
    for m in model.modules():  # the zero-initialised projections get weights
        if isinstance(m, sr.CastedLinear):
            torch.nn.init.normal_(m.weight, std=0.02)
    return model


def export_model(path: Path, kind: str) -> None:
    model = build_model(kind).eval()
    with torch.no_grad():
        program = torch.export.export(model, (torch.randint(0, V, (B, T)),))
    torch.export.save(program, str(path))


def old_evaluate(model_path: Path, tokens_path: Path, n_tokens: int) -> dict[str, float]:
    """The evaluator before this change (load, check, score, 4-pass fixed probe), timed."""
    t0, c0 = time.perf_counter(), time.process_time()
    program = torch.export.load(str(model_path)).run_decompositions({})
    ev.check_program(program)
    module = program.module()
    tokens = torch.from_numpy(read_shard(tokens_path)[: n_tokens + 1].astype("int64"))
    t1 = time.perf_counter()
    total, first = 0.0, None
    with torch.no_grad():
        for start in range(0, n_tokens // T, B):
            x = tokens[start * T : (start + B) * T].view(B, T)
            y = tokens[start * T + 1 : (start + B) * T + 1].view(B, T)
            logits = module(x)
            total += float(
                torch.nn.functional.cross_entropy(
                    logits.flatten(0, 1), y.flatten(), reduction="sum"
                )
            )
            first = first or (x, logits)
        t2 = time.perf_counter()
        old_probe(module, *first)
    t3 = time.perf_counter()
    cpu = time.process_time() - c0
    phases = {"load": t1 - t0, "score": t2 - t1, "probe": t3 - t2}
    return {"total": t3 - t0, "cpu": cpu, **phases, "loss": total / n_tokens}


def old_probe(module: Any, x: Any, logits: Any) -> None:
    gen = torch.Generator().manual_seed(1234)
    tol = 1e-4 * max(1.0, float(logits.abs().max()))
    for fraction in (0.25, 0.5, 0.75):
        k = int(T * fraction)
        changed = x.clone()
        changed[:, k + 1 :] = torch.randint(0, V, changed[:, k + 1 :].shape, generator=gen)
        assert float((module(changed)[:, : k + 1] - logits[:, : k + 1]).abs().max()) <= tol
    changed = x.clone()
    changed[1:] = torch.randint(0, V, changed[1:].shape, generator=gen)
    assert float((module(changed)[0] - logits[0]).abs().max()) <= tol


def new_evaluate(model_path: Path, tokens_path: Path, n_tokens: int) -> dict[str, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    result = ev.evaluate(str(model_path), str(tokens_path), T, B, n_tokens, V)
    total = time.perf_counter() - t0
    probe = result["causality"]["seconds"]
    cpu = time.process_time() - c0
    return {
        "total": total,
        "cpu": cpu,
        "probe": probe,
        "load+score": total - probe,
        "loss": result["val_loss"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--tokens", type=int, default=262_144)
    p.add_argument("--model", choices=["seed-recipe", "plain"], default="seed-recipe")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model, tokens = Path(tmp) / "model.pt2", Path(tmp) / "val.bin"
        export_model(model, args.model)
        write_shard(tokens, np.random.default_rng(0).integers(0, V, args.tokens + 1))
        runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
        for _ in range(args.rounds):
            runs["old"].append(old_evaluate(model, tokens, args.tokens))
            runs["new"].append(new_evaluate(model, tokens, args.tokens))
    scored = args.tokens // T // B
    print(
        f"{args.model} model at cpu-tiny shape: T={T} B={B} V={V}, {args.tokens} tokens = {scored} scored batches; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.rounds} rounds"
    )
    forwards = {
        "old": scored + 4,
        "new": scored + math.ceil((ev.PROBES + ev.MIN_UNCHANGED_ROWS) / B) + 1,
    }
    for name, results in runs.items():
        medians = {k: statistics.median(r[k] for r in results) for k in results[0]}
        parts = ", ".join(
            f"{k} {v:.2f} s" for k, v in medians.items() if k not in ("total", "cpu", "loss")
        )
        print(
            f"{name}: {medians['total']:.2f} s wall, {medians['cpu']:.2f} s CPU "
            f"({forwards[name]} forward passes; {parts}); val_loss {medians['loss']:.4f}"
        )
    for unit in ("total", "cpu"):
        old, new = (statistics.median(r[unit] for r in runs[k]) for k in ("old", "new"))
        print(f"new / old ({'wall' if unit == 'total' else 'CPU'}): {new / old:.2f}x")


if __name__ == "__main__":
    main()
